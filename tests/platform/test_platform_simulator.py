"""The simulator: deterministic ticks in which every ugly case of the brief shows up."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from reference_platform.database import Database, Session
from reference_platform.instances import INSTANCES
from reference_platform.schema import TABLES
from reference_platform.simulator import SimulationSummary, simulate
from reference_platform.timeutil import START_CLOCK, as_utc, zone
from reference_platform.truth import latest_rows, stored_rows

SourceFactory = Callable[..., str]
Simulated = tuple[str, SimulationSummary]
WORK_TABLES = ("organizations", "users", "contacts", "orders", "order_items", "messages")
END_CLOCK = START_CLOCK + timedelta(days=4)


def events(url: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in latest_rows(url, "sim_events") if e["kind"] == kind and e["tick"] > 0]


def snapshot(url: str) -> dict[tuple[str, int], datetime]:
    return {(t, r["id"]): r["updated_at"] for t in WORK_TABLES for r in latest_rows(url, t)}



def raw_dump(url: str) -> dict[str, list[tuple]]:
    return {t: stored_rows(url, t) for t in TABLES}


def test_state_advances(simulated: Simulated) -> None:
    url, summary = simulated
    state = dict(Database(url).query("SELECT key, value FROM sim_state"))
    assert (state["tick"], state["clock"]) == ("4", END_CLOCK.isoformat())
    assert (summary.first_tick, summary.last_tick, summary.ticks) == (1, 4, 4)
    assert summary.clock_end == END_CLOCK
    for table in ("organizations", "contacts", "orders", "order_items", "messages"):
        assert summary.inserted[table] > 0, table
    assert summary.updated["orders"] and summary.updated["organizations"]
    assert summary.deleted["contacts"] and summary.deleted["order_items"]


def test_each_tick_stays_in_its_window_except_the_late_commit(
    make_source: SourceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_source("au", scale=0.005)
    held: list[Session] = []
    original = Database.hold_late_commit

    def spy(self: Database, rows: dict) -> Session:
        session = original(self, rows)
        held.append(session)
        # Committed last: the tick's other rows are visible, the late rows are not (yet).
        late_ids = [r[0] for r in rows["messages"][1]]
        visible = self.query(f"SELECT count(*) FROM messages WHERE id IN "
                             f"({', '.join(map(str, late_ids))})")[0][0]
        assert visible == 0
        return session

    monkeypatch.setattr(Database, "hold_late_commit", spy)
    clock = START_CLOCK
    for tick in (1, 2, 3):
        before = snapshot(url)
        simulate(url, "au", ticks=1, tick_hours=6)
        after = snapshot(url)
        start, end = clock, clock + timedelta(hours=6)
        late = {(e["table_name"], e["row_id"]) for e in events(url, "late_commit")
                if e["tick"] == tick}
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        main = {k: v for k, v in changed.items() if k not in late}
        assert late and late <= changed.keys()
        assert all(start <= v < end for v in main.values())
        newest = max(main.values())
        for key in late:
            assert newest - timedelta(seconds=1800) <= changed[key] < newest
            # The late transaction began first: its ids are below the tick's other new rows.
            others = [i for (t, i) in main if t == key[0] and (t, i) not in before]
            assert not others or key[1] < min(others)
        clock = end
    assert len(held) == 3 and all(s.closed for s in held)


def test_bulk_update_gives_thousands_of_rows_one_timestamp(simulated: Simulated) -> None:
    url, summary = simulated
    bulk = events(url, "bulk_update")
    assert [e["tick"] for e in bulk] == [1, 2, 3, 4]
    last = json.loads(bulk[-1]["detail"])
    assert last["rows"] >= 2000
    stamp = as_utc(last["updated_at"])
    same = [m for m in latest_rows(url, "messages") if m["updated_at"] == stamp]
    assert len(same) == last["rows"]
    assert START_CLOCK + timedelta(days=3) <= stamp < END_CLOCK
    assert summary.bulk_updated_rows >= 4 * 2000


def test_month_end_orders_at_2330_local_in_every_zone(simulated: Simulated) -> None:
    url, _ = simulated
    orders = {o["id"]: o for o in latest_rows(url, "orders")}
    zones = {o["id"]: o["time_zone"] for o in latest_rows(url, "organizations")}
    seen = set()
    for event in events(url, "month_end_order"):
        order = orders[event["row_id"]]
        time_zone = zones[order["organization_id"]]
        local = order["completed_at"].astimezone(zone(time_zone))
        assert (local.date().isoformat(), local.time()) == ("2026-06-30", time(23, 30))
        assert local.microsecond == 0 and order["state"] in ("complete", "cancelled", "returned")
        seen.add(time_zone)
    assert seen == {z for z, _ in INSTANCES["uk"].organization_time_zones}


def test_bad_rows_of_every_kind_are_injected(
    simulated: Simulated, assert_really_bad: Callable[[str, list[dict]], None]
) -> None:
    url, summary = simulated
    bad = [b for b in latest_rows(url, "sim_bad_rows") if b["created_at"] >= START_CLOCK]
    assert {(b["table_name"], b["reason"]) for b in bad} == {
        ("contacts", "missing_tenant"), ("orders", "missing_tenant"), ("messages", "missing_tenant"),
        ("orders", "negative_money"), ("orders", "unknown_state"), ("orders", "impossible_date"),
        ("organizations", "invalid_time_zone"),
    }
    assert sum(summary.bad_rows.values()) == len(bad)
    assert_really_bad(url, bad)


def test_bad_row_rate_zero_injects_none(make_source: SourceFactory) -> None:
    url = make_source("fr")
    before = len(latest_rows(url, "sim_bad_rows"))
    summary = simulate(url, "fr", ticks=2, bad_row_rate=0)
    assert not summary.bad_rows and len(latest_rows(url, "sim_bad_rows")) == before


def test_erasures_hard_delete_and_record_the_values(simulated: Simulated) -> None:
    url, summary = simulated
    erased = latest_rows(url, "sim_erasures")
    assert len(erased) == summary.deleted["contacts"] >= 3
    contacts = {c["id"]: c for c in latest_rows(url, "contacts")}
    emails = {c["email"] for c in contacts.values()}
    for row in erased:
        assert row["contact_id"] not in contacts
        assert row["email"] not in emails and row["name"] and row["phone"]
    assert {e["row_id"] for e in events(url, "hard_delete") if e["table_name"] == "contacts"} == {
        r["contact_id"] for r in erased}


def test_plan_changes_are_recorded_once_per_organization_per_tick(simulated: Simulated) -> None:
    url, _ = simulated
    orgs = {o["id"]: o for o in latest_rows(url, "organizations")}
    changes = latest_rows(url, "sim_plan_changes")
    in_ticks = [c for c in changes if c["changed_at"] >= START_CLOCK
                and c["changed_at"] != orgs[c["organization_id"]]["created_at"]]
    per_tick = Counter((c["organization_id"], (c["changed_at"] - START_CLOCK).days)
                       for c in in_ticks)
    assert len(in_ticks) >= 4 and max(per_tick.values()) == 1
    latest: dict[int, dict] = {}
    for change in sorted(changes, key=lambda c: c["changed_at"]):
        latest[change["organization_id"]] = change
    for org_id, org in orgs.items():
        assert latest[org_id]["plan"] == org["plan"]
        if org["deleted_at"] is None:
            # The change is the organization's last write, so updated_at equals changed_at.
            assert org["updated_at"] >= latest[org_id]["changed_at"]
    changed_last = [c for c in in_ticks if orgs[c["organization_id"]]["deleted_at"] is None]
    assert any(orgs[c["organization_id"]]["updated_at"] == c["changed_at"] for c in changed_last)


def test_soft_deleted_organizations_stop_receiving_activity(simulated: Simulated) -> None:
    url, _ = simulated
    deleted = {o["id"]: o["deleted_at"] for o in latest_rows(url, "organizations")
               if o["deleted_at"] is not None}
    assert any(d >= START_CLOCK for d in deleted.values())
    bad = {(b["table_name"], b["row_id"]) for b in latest_rows(url, "sim_bad_rows")}
    for table in ("orders", "messages", "contacts"):
        for row in latest_rows(url, table):
            if row["organization_id"] in deleted and (table, row["id"]) not in bad:
                assert row["created_at"] < deleted[row["organization_id"]], (table, row["id"])


def test_items_removed_from_carts_are_hard_deleted(simulated: Simulated) -> None:
    url, _ = simulated
    removed = [e for e in events(url, "hard_delete") if e["table_name"] == "order_items"]
    assert removed
    items = latest_rows(url, "order_items")
    assert not {e["row_id"] for e in removed} & {i["id"] for i in items}
    totals: Counter[int] = Counter()
    for item in items:
        totals[item["order_id"]] += item["quantity"] * item["unit_price_cents"]
    orders = {o["id"]: o for o in latest_rows(url, "orders")}
    for event in removed:
        order = orders[json.loads(event["detail"])["order_id"]]
        assert order["state"] == "cart" and order["total_cents"] == totals[order["id"]]


def test_sub_millisecond_updated_at_differences(simulated: Simulated) -> None:
    url, _ = simulated
    stamps = sorted({m["updated_at"] for m in latest_rows(url, "messages")
                     if m["updated_at"] >= START_CLOCK})
    gaps = [b - a for a, b in pairwise(stamps)]
    assert any(timedelta(0) < gap < timedelta(milliseconds=1) for gap in gaps)


def test_cancellations_and_returns_happen(simulated: Simulated) -> None:
    url, _ = simulated
    orders = latest_rows(url, "orders")
    assert any(o["cancelled_at"] and o["cancelled_at"] >= START_CLOCK for o in orders)
    assert any(o["returned_at"] and o["returned_at"] >= START_CLOCK for o in orders)
    for order in orders:
        if order["state"] in ("cancelled", "returned"):
            assert order["completed_at"] is not None  # completed_at stays set


def test_ticks_are_deterministic(make_source: SourceFactory) -> None:
    first, second, third = (make_source("uk", name=n) for n in ("a", "b", "c"))
    for url, seed in ((first, 5), (second, 5), (third, 6)):
        simulate(url, "uk", ticks=2, seed=seed)
    assert raw_dump(first) == raw_dump(second)
    assert raw_dump(first)["messages"] != raw_dump(third)["messages"]


def test_simulating_in_steps_equals_one_run(make_source: SourceFactory) -> None:
    stepped, at_once = make_source("uk", name="stepped"), make_source("uk", name="once")
    simulate(stepped, "uk", ticks=1)
    simulate(stepped, "uk", ticks=1)
    simulate(at_once, "uk", ticks=2)
    assert raw_dump(stepped) == raw_dump(at_once)


def test_wrong_instance_or_missing_state_is_a_clear_error(
    make_source: SourceFactory, tmp_path: Path
) -> None:
    url = make_source("uk")
    with pytest.raises(ValueError, match="holds instance 'uk'"):
        simulate(url, "fr")
    with pytest.raises(FileNotFoundError, match="generate it first"):
        simulate(f"sqlite:///{tmp_path / 'missing.sqlite'}", "uk")
    assert not (tmp_path / "missing.sqlite").exists()
    Database(f"sqlite:///{tmp_path / 'empty.sqlite'}").ensure_database()
    with pytest.raises(RuntimeError, match="sim_state"):
        simulate(f"sqlite:///{tmp_path / 'empty.sqlite'}", "uk")
