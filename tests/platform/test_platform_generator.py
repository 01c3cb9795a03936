"""The generated history: deterministic, shaped like the contract, with every bad-row kind."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from reference_platform.database import Database
from reference_platform.generator import generate
from reference_platform.instances import INSTANCES, INVALID_TIME_ZONES
from reference_platform.schema import TABLES
from reference_platform.seeds import Seeds
from reference_platform.timeutil import HISTORY_START, START_CLOCK, as_utc, zone
from reference_platform.truth import latest_rows, stored_rows

SourceFactory = Callable[..., str]
TEXT_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")



def raw_dump(url: str) -> dict[str, list[tuple]]:
    return {t: stored_rows(url, t) for t in TABLES}


def test_same_seed_gives_identical_rows(make_source: SourceFactory) -> None:
    first = make_source("fr", seed=3, name="a")
    second = make_source("fr", seed=3, name="b")
    assert raw_dump(first) == raw_dump(second)


def test_different_seed_or_instance_gives_different_rows(make_source: SourceFactory) -> None:
    base = raw_dump(make_source("fr", seed=3))
    assert raw_dump(make_source("fr", seed=4))["messages"] != base["messages"]
    assert raw_dump(make_source("uk", seed=3))["messages"] != base["messages"]


def test_counts_follow_the_scale(make_source: SourceFactory) -> None:
    url = make_source("au", scale=0.005)
    counts = {t: len(latest_rows(url, t)) for t in TABLES}
    # Scale 1 is ~333k messages, ~100k orders, ~250k items, ~20k contacts per instance.
    assert 1500 <= counts["messages"] <= 1800
    assert 400 <= counts["orders"] <= 560
    assert 2.2 <= counts["order_items"] / counts["orders"] <= 2.8
    assert 90 <= counts["contacts"] <= 115
    assert counts["organizations"] >= 8


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_history_shape(make_source: SourceFactory, instance: str) -> None:
    url = make_source(instance)
    spec = INSTANCES[instance]
    orgs = latest_rows(url, "organizations")
    bad = {(r["table_name"], r["row_id"]): r["reason"] for r in latest_rows(url, "sim_bad_rows")}
    # Every zone of the instance has an organization, whatever the scale.
    zones = {o["time_zone"] for o in orgs}
    assert {z for z, _ in spec.organization_time_zones} <= zones
    # The initial plan of every organization is recorded at its creation.
    history = latest_rows(url, "sim_plan_changes")
    assert {(h["organization_id"], h["plan"], h["changed_at"]) for h in history} == {
        (o["id"], o["plan"], o["created_at"]) for o in orgs}
    state = dict(Database(url).query("SELECT key, value FROM sim_state"))
    assert state["clock"] == START_CLOCK.isoformat() and state["tick"] == "0"
    assert state["seed"] == "1" and float(state["scale"]) == 0.005
    for table in ("organizations", "users", "contacts", "orders", "order_items", "messages"):
        rows = latest_rows(url, table)
        assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
        for row in rows:
            assert HISTORY_START <= row["created_at"] <= row["updated_at"] < START_CLOCK
        if table in ("orders", "messages", "contacts"):
            # Ids grow with creation time, as the database allocated them.
            assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    items = Counter()
    for item in latest_rows(url, "order_items"):
        items[item["order_id"]] += item["quantity"] * item["unit_price_cents"]
    for order in latest_rows(url, "orders"):
        if ("orders", order["id"]) not in bad:
            assert order["total_cents"] == items[order["id"]]
            assert order["state"] in ("cart", "complete", "cancelled", "returned")
            assert (order["completed_at"] is not None) == (order["state"] != "cart")


def test_every_bad_kind_is_generated_and_really_bad(
    make_source: SourceFactory, assert_really_bad: Callable[[str, list[dict]], None]
) -> None:
    url = make_source("uk")
    bad = latest_rows(url, "sim_bad_rows")
    assert {(b["table_name"], b["reason"]) for b in bad} == {
        ("contacts", "missing_tenant"), ("orders", "missing_tenant"), ("messages", "missing_tenant"),
        ("orders", "negative_money"), ("orders", "unknown_state"), ("orders", "impossible_date"),
        ("organizations", "invalid_time_zone"),
    }
    assert_really_bad(url, bad)


def test_month_end_orders_in_history(make_source: SourceFactory) -> None:
    url = make_source("fr")
    orders = {o["id"]: o for o in latest_rows(url, "orders")}
    zones = {o["id"]: o["time_zone"] for o in latest_rows(url, "organizations")}
    events = [e for e in latest_rows(url, "sim_events") if e["kind"] == "month_end_order"]
    seen = set()
    for event in events:
        order = orders[event["row_id"]]
        local = order["completed_at"].astimezone(zone(zones[order["organization_id"]]))
        assert local.time() == time(23, 30) and (local + timedelta(days=1)).day == 1
        assert order["state"] == "complete" and order["updated_at"] == order["completed_at"]
        seen.add((zones[order["organization_id"]], local.month))
    # January to May, in each of the instance's zones.
    assert {m for _, m in seen} == {1, 2, 3, 4, 5}
    assert {z for z, _ in seen} == {z for z, _ in INSTANCES["fr"].organization_time_zones}


def test_sqlite_storage_format(make_source: SourceFactory) -> None:
    url = make_source("uk")
    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stamps = connection.execute(
            "SELECT created_at, updated_at, completed_at FROM orders").fetchall()
        declared = {r[1]: r[2] for r in connection.execute("PRAGMA table_info(orders)")}
    finally:
        connection.close()
    assert all(TEXT_TIMESTAMP.match(s) for row in stamps for s in row if s is not None)
    assert declared["created_at"] == "DATETIME" and declared["total_cents"] == "BIGINT"


def test_refuses_a_database_it_did_not_create(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE organizations (id integer primary key)")
    connection.close()
    with pytest.raises(RuntimeError, match="refusing"):
        generate(f"sqlite:///{path}", "uk", scale=0.005)


def test_regenerating_replaces_the_data(make_source: SourceFactory) -> None:
    url = make_source("uk", seed=1, name="again")
    before = raw_dump(url)
    generate(url, "uk", seed=1, scale=0.005)
    assert raw_dump(url) == before


def test_timestamps_are_utc(make_source: SourceFactory) -> None:
    row = latest_rows(make_source("au"), "orders")[0]
    assert isinstance(row["created_at"], datetime)
    assert row["created_at"].utcoffset() == timedelta(0)
    assert as_utc("2026-01-01 10:00:00.000001").microsecond == 1


def test_instances_agree_with_the_seeds() -> None:
    seeds = Seeds.load()
    for instance_id, spec in INSTANCES.items():
        seed = seeds.instances[instance_id]
        assert (seed.currency, seed.time_zone) == (spec.currency, spec.time_zone)
        assert {z for z, _ in spec.organization_time_zones} <= seeds.time_zones
        for plan in ("free", "basic", "pro"):
            assert seeds.price(plan, spec.currency)
    assert not set(INVALID_TIME_ZONES) & seeds.time_zones
