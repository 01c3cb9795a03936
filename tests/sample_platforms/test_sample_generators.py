"""The sample platforms' generators: deterministic, and every ugly case actually produced.

Each test generates one instance (small scale) on the test PostgreSQL server and looks at the
tables with plain SQL, so a generator that silently stops producing a case fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reference_platform.samples.glific import generator as glific
from reference_platform.samples.ofn import generator as ofn
from reference_platform.samples.ofn.instances import INSTANCES as OFN_INSTANCES
from reference_platform.samples.ofn.truth import classify
from reference_platform.samples.runner import (
    GENERATED_UNTIL,
    GeneratorError,
    Platform,
    generate,
    step,
)
from tests.sample_platforms.raw_compare import pg_execute, pg_query
from tests.support.pg import PgDatabaseFactory

SCALE = 0.2


def dump(url: str, tables: list[str]) -> dict[str, list[tuple[object, ...]]]:
    return {t: pg_query(url, f"SELECT * FROM {t} ORDER BY 1") for t in tables}


@pytest.mark.parametrize("platform", [ofn.PLATFORM, glific.PLATFORM], ids=["ofn", "glific"])
def test_same_seed_gives_the_same_rows(platform: Platform,
                                       pg_database: PgDatabaseFactory) -> None:
    instance = platform.instances[0]
    urls = [pg_database(f"tw_{platform.name}_det").url for _ in range(3)]
    for url, seed in zip(urls, (5, 5, 6), strict=True):
        generate(platform, url, instance, seed=seed, scale=SCALE)
        step(platform, url, instance, minutes=45)
    tables = [*platform.tables, "sim_state"]
    first, again, other = (dump(url, tables) for url in urls)
    assert first == again
    assert sum(len(rows) for rows in first.values()) > 200
    # A different seed is a different history (the comparison above can fail).
    busiest = "spree_orders" if platform.name == "ofn" else "messages"
    assert first[busiest] != other[busiest]


def test_generator_refuses_mistakes_with_one_line(pg_database: PgDatabaseFactory) -> None:
    url = pg_database("tw_ofn_mistakes").url
    with pytest.raises(GeneratorError, match="not generated yet"):
        step(ofn.PLATFORM, url, "au")
    with pytest.raises(GeneratorError, match="unknown ofn instance 'xx'"):
        generate(ofn.PLATFORM, url, "xx")
    generate(ofn.PLATFORM, url, "au", scale=0.05)
    with pytest.raises(GeneratorError, match="already generated"):
        generate(ofn.PLATFORM, url, "au")
    with pytest.raises(GeneratorError, match="holds ofn instance 'au'"):
        step(ofn.PLATFORM, url, "uk")
    with pytest.raises(GeneratorError, match="holds ofn instance 'au'"):
        step(glific.PLATFORM, url.replace("ofn", "ofn"), "in")


def test_ofn_activity_produces_every_ugly_case(pg_database: PgDatabaseFactory) -> None:
    url = pg_database("tw_ofn_ugly").url
    generate(ofn.PLATFORM, url, "au", seed=3, scale=0.5)
    (max_before,) = pg_query(url, "SELECT max(id) FROM spree_orders")[0]
    step(ofn.PLATFORM, url, "au", minutes=60)
    q = lambda sql: pg_query(url, sql)  # noqa: E731 - a local shorthand

    states = {s for (s,) in q("SELECT DISTINCT state FROM spree_orders")}
    assert {"complete", "canceled", "awaiting_return", "returned"} <= states
    assert states & {"cart", "address", "delivery", "payment"}, "nothing in checkout"
    # Canceled and returned orders keep completed_at, as in Spree.
    assert q("SELECT count(*) FROM spree_orders WHERE state IN ('canceled', 'returned') "
             "AND completed_at IS NULL AND total >= 0")[0][0] == 0
    # Hard deletes: ids missing below the sequence (abandoned carts with their line items,
    # line items removed from carts, customers without orders).
    for table in ("spree_orders", "spree_line_items", "customers"):
        count, top = q(f"SELECT count(*), max(id) FROM {table}")[0]
        assert top > count, f"no hard delete in {table}"
    # A line item never outlives its order (Rails deletes children first; no FK cascade).
    assert q("SELECT count(*) FROM spree_line_items i LEFT JOIN spree_orders o "
             "ON o.id = i.order_id WHERE o.id IS NULL")[0][0] == 0
    # Late commit: a row written by the step with updated_at before the previous clock.
    late = q(f"SELECT count(*) FROM spree_orders WHERE id > {max_before} "
             f"AND updated_at < '{GENERATED_UNTIL:%Y-%m-%d %H:%M:%S}'")[0][0]
    assert late >= 1
    # A bulk update: many orders with one updated_at.
    (biggest,) = q("SELECT max(n) FROM (SELECT count(*) n FROM spree_orders "
                   "GROUP BY updated_at) t")[0]
    assert biggest >= 5
    # Month edges in the instance's zone (au stores UTC): 23:30:00 on the last day (one of them
    # canceled) and 00:00:00 on the 1st.
    melbourne = ZoneInfo(OFN_INSTANCES["au"].time_zone)
    local = [(state, completed.replace(tzinfo=UTC).astimezone(melbourne))
             for state, completed in q("SELECT state, completed_at FROM spree_orders "
                                       "WHERE completed_at IS NOT NULL")]
    last_day = [(s, t) for s, t in local
                if (t.hour, t.minute, t.second, t.microsecond) == (23, 30, 0, 0)
                and (t + timedelta(days=1)).day == 1]
    assert {s for s, _ in last_day} >= {"complete", "canceled"}
    assert any((t.day, t.hour, t.minute, t.second, t.microsecond) == (1, 0, 0, 0, 0)
               for _, t in local)
    # Carts with no distributor yet, and every kind of bad row.
    assert q("SELECT count(*) FROM spree_orders WHERE distributor_id IS NULL")[0][0] >= 1
    reasons = set()
    for state, distributor, total, created, completed in q(
            "SELECT state, distributor_id, total, created_at, completed_at FROM spree_orders"):
        reasons.add(classify({"state": state, "distributor_id": distributor, "total": total,
                              "created_at": created, "completed_at": completed,
                              "completed_naive": completed}))
    assert reasons >= {None, "unknown_state", "missing_tenant", "negative_money",
                       "impossible_date"}
    # Money is numeric(10,2) and every line item's price has two decimals at most.
    assert q("SELECT count(*) FROM spree_line_items WHERE price <> round(price, 2)")[0][0] == 0


def test_ofn_local_time_instance_stores_wall_clock(pg_database: PgDatabaseFactory) -> None:
    url = pg_database("tw_ofn_fr").url
    generate(ofn.PLATFORM, url, "fr", seed=3, scale=0.2)
    # fr writes Paris wall-clock time: the month-end order reads 23:30:00 as stored.
    stored = pg_query(url, "SELECT completed_at FROM spree_orders "
                           "WHERE completed_at::time = '23:30:00'")
    assert {value.date().isoformat() for (value,) in stored} >= {"2026-01-31", "2026-02-28"}


def test_glific_activity_produces_every_ugly_case(pg_database: PgDatabaseFactory) -> None:
    url = pg_database("tw_glific_ugly").url
    generate(glific.PLATFORM, url, "in", seed=3, scale=0.3)
    (max_before,) = pg_query(url, "SELECT max(id) FROM messages")[0]
    step(glific.PLATFORM, url, "in", minutes=60)
    q = lambda sql: pg_query(url, sql)  # noqa: E731 - a local shorthand

    statuses = {s for (s,) in q("SELECT DISTINCT bsp_status::text FROM messages "
                                "WHERE flow = 'outbound'")}
    assert {"delivered", "read", "error"} <= statuses
    assert q("SELECT count(*) FROM messages WHERE errors IS NOT NULL")[0][0] >= 1
    # timestamp(0) on organizations and users, microseconds on messages.
    assert q("SELECT count(*) FROM organizations WHERE extract(microseconds FROM inserted_at)"
             "::bigint % 1000000 <> 0")[0][0] == 0
    assert q("SELECT count(*) FROM messages WHERE extract(microseconds FROM inserted_at)"
             "::bigint % 1000000 <> 0")[0][0] > 0
    # Erased contacts (hard deletes) left no message behind.
    count, top = q("SELECT count(*), max(id) FROM contacts")[0]
    assert top > count
    # Soft-deleted organizations; the one deleted mid-history has been wiped since.
    deleted = q("SELECT id, status::text, deleted_at FROM organizations "
                "WHERE deleted_at IS NOT NULL")
    assert deleted and all(status == "ready_to_delete" for _, status, _ in deleted)
    wiped = [org_id for org_id, _, at in deleted if at < datetime(2026, 2, 25)]
    assert wiped
    for org_id in wiped:
        assert q(f"SELECT count(*) FROM messages WHERE organization_id = {org_id}")[0][0] == 0
        assert q(f"SELECT count(*) FROM contacts WHERE organization_id = {org_id}")[0][0] == 0
    # Late commit, webhook batch, zones, and each kind of bad row.
    assert q(f"SELECT count(*) FROM messages WHERE id > {max_before} "
             f"AND inserted_at < '{GENERATED_UNTIL:%Y-%m-%d %H:%M:%S}'")[0][0] >= 1
    assert q("SELECT max(n) FROM (SELECT count(*) n FROM messages GROUP BY updated_at) t"
             )[0][0] >= 3
    zones = {z for (z,) in q("SELECT timezone FROM organizations")}
    assert None in zones and "India Standard Time" in zones
    assert q("SELECT count(*) FROM messages WHERE flow IS NULL")[0][0] >= 1
    assert q("SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact_id "
             "WHERE c.organization_id <> m.organization_id")[0][0] >= 1
    assert q("SELECT count(*) FROM users WHERE array_length(roles, 1) > 1")[0][0] >= 1


def test_glific_erasure_cascades_in_the_schema(pg_database: PgDatabaseFactory) -> None:
    url = pg_database("tw_glific_cascade").url
    generate(glific.PLATFORM, url, "ng", seed=4, scale=0.1)
    (contact_id,) = pg_query(url, "SELECT u.contact_id FROM users u ORDER BY u.id LIMIT 1")[0]
    pg_execute(url, f"DELETE FROM messages WHERE sender_id = {contact_id} "
                    f"AND contact_id <> {contact_id}",
               f"UPDATE organizations SET contact_id = NULL WHERE contact_id = {contact_id}",
               f"DELETE FROM contacts WHERE id = {contact_id}")
    for table, column in (("users", "contact_id"), ("messages", "contact_id"),
                          ("messages", "receiver_id")):
        assert pg_query(url, f"SELECT count(*) FROM {table} WHERE {column} = {contact_id}"
                        )[0][0] == 0
