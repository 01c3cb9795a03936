"""Faults that need the whole pipeline, through dbt to the marts, in one world built once:

- deletes: an erased contact, an organization hard-deleted with all its rows, a soft delete;
- a late commit older than the lag window (what happens beyond the lag);
- bad input rows: null tenant, negative money, unknown state, invalid time zone, invalid UTF-8
  from SQLite, absurd and unreadable dates;
- an instance that becomes unreachable in the middle of a run;
- `dbt build` SIGKILLed mid-run, then run again.

The world (one clone of the loaded home): a tick of activity, then all of the above, then the
runs an operator's schedule makes (the run with the outage, a scheduled run, a reconciliation),
then a killed build and a full build. Each test checks one aspect of the result.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from ingestion.extract import ProgressEvent
from ingestion.pipeline import IngestionReport
from ingestion.privacy import hash_value
from reference_platform import operations
from reference_platform.seeds import Seeds
from tenant_warehouse.warehouse_sql import connect, query
from tests.faults.crash import ChildRun, KillPlan
from tests.faults.harness import Checks, FaultPipeline
from tests.faults.matrix import MATRIX
from tests.faults.test_crash import assert_snapshot_consistent

LAG_SECONDS = 3600
SIM_SEED = 77
BEYOND_LAG_SECONDS = LAG_SECONDS + 1800


@dataclass
class World:
    pipeline: FaultPipeline
    erased: dict[str, Any] = field(default_factory=dict)
    deleted_org: tuple[str, int] = ("", 0)
    deleted_rows: dict[str, list[int]] = field(default_factory=dict)
    soft_deleted: tuple[str, int] = ("", 0)
    late_ids: dict[str, list[int]] = field(default_factory=dict)
    bad_rows: list[tuple[str, str, int, str]] = field(default_factory=list)
    """(instance, table, row id, expected quarantine reason)"""
    outage: IngestionReport | None = None
    outage_raw: Checks | None = None
    caught_up: IngestionReport | None = None
    caught_up_raw: Checks | None = None
    scheduled: IngestionReport | None = None
    scheduled_raw: Checks | None = None
    reconciled: IngestionReport | None = None
    dbt_kill: ChildRun | None = None
    final: Checks | None = None


def sqlite_file(pipeline: FaultPipeline, instance: str) -> Path:
    return Path(make_url(pipeline.source_url(instance)).database)


def newest(pipeline: FaultPipeline, instance: str) -> dt.datetime:
    (value,) = pipeline.source_query(
        instance, "SELECT max(m) FROM (SELECT max(updated_at) AS m FROM orders UNION ALL "
                  "SELECT max(updated_at) FROM messages)")[0]
    return dt.datetime.fromisoformat(value)


def stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def valid_organizations(pipeline: FaultPipeline, instance: str) -> list[int]:
    zones = Seeds.load().time_zones
    return [org for org, zone in pipeline.source_query(
        instance, "SELECT o.id, o.time_zone FROM organizations o WHERE o.deleted_at IS NULL AND "
                  "EXISTS (SELECT 1 FROM orders WHERE orders.organization_id = o.id AND "
                  "orders.state = 'complete') ORDER BY o.id") if zone in zones]


def insert(pipeline: FaultPipeline, instance: str, sql: str, params: tuple = ()) -> int:
    """Write the way another tool would (plain sqlite3, any bytes): returns the new row id."""
    connection = sqlite3.connect(sqlite_file(pipeline, instance), isolation_level=None)
    try:
        return connection.execute(sql, params).lastrowid
    finally:
        connection.close()


def inject_bad_rows(world: World, instance: str) -> None:
    pipeline = world.pipeline
    org = valid_organizations(pipeline, instance)[0]
    contact = pipeline.source_query(
        instance, "SELECT id FROM contacts WHERE organization_id = ? ORDER BY id", (org,))[0][0]
    at = stamp(newest(pipeline, instance) + dt.timedelta(minutes=1))

    def order(org_id: Any, state: Any, total: int, created: Any, completed: Any) -> int:
        return insert(pipeline, instance,
                      "INSERT INTO orders (organization_id, contact_id, state, total_cents, "
                      "created_at, completed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (org_id, contact, state, total, created, completed, at))

    bad = world.bad_rows
    bad.append((instance, "orders", order(None, "complete", 1200, at, at), "missing_tenant"))
    bad.append((instance, "orders", order(org, "complete", -700, at, at), "negative_money"))
    bad.append((instance, "orders", order(org, "shipped", 900, at, at), "unknown_state"))
    # Invalid UTF-8 in a state: read as 'complete\ufffd', an unknown state.
    bad.append((instance, "orders", order(org, b"complete\xff".decode("latin-1"), 800, at, at),
                "unknown_state"))
    insert(pipeline, instance, "UPDATE orders SET state = CAST(x'636f6d706c657465ff' AS TEXT) "
                               "WHERE id = ?", (bad[-1][2],))
    bad.append((instance, "orders", order(org, "complete", 500, at, "1970-01-01 00:00:00.000000"),
                "impossible_date"))
    bad.append((instance, "orders", order(org, "complete", 500, at, "2999-12-31 00:00:00.000000"),
                "impossible_date"))
    # Unreadable times: land as null (counted in the run record), then quarantined.
    bad.append((instance, "orders", order(org, "complete", 500, at, "not a date"),
                "impossible_date"))
    bad.append((instance, "orders", order(org, "complete", 500, "2026-02-30 10:00:00.000000", at),
                "impossible_date"))
    # An organization with a time zone that does not exist, and its order: the organization is
    # listed with its bad value, the order counts on the instance's calendar (not quarantined).
    new_org = insert(pipeline, instance,
                     "INSERT INTO organizations (name, kind, plan, time_zone, created_at, "
                     "updated_at) VALUES ('Olympus Mons Deli', 'shop', 'basic', 'Mars/Olympus', "
                     "?, ?)", (at, at))
    bad.append((instance, "organizations", new_org, "invalid_time_zone"))
    order(new_org, "complete", 4000, at, at)
    # Invalid UTF-8 in a contact's name: kept (hashed with U+FFFD), counted, not quarantined.
    insert(pipeline, instance,
           "INSERT INTO contacts (organization_id, name, email, phone, language, created_at, "
           "updated_at) VALUES (?, CAST(x'416e6e61ff' AS TEXT), 'anna@example.org', '+4400', "
           "'en', ?, ?)", (org, at, at))


def late_orders(pipeline: FaultPipeline, instance: str, age_seconds: float) -> dict[str, list[int]]:
    """Two complete orders and an inbound message of a valid organization, committed now, each
    stamped `age_seconds` behind the newest committed row of its table (its watermark once a
    run has read the table)."""
    org = valid_organizations(pipeline, instance)[-1]
    contact = pipeline.source_query(
        instance, "SELECT id FROM contacts WHERE organization_id = ? ORDER BY id", (org,))[0][0]

    def behind(table: str) -> str:
        (value,) = pipeline.source_query(instance, f"SELECT max(updated_at) FROM {table}")[0]
        return stamp(dt.datetime.fromisoformat(value) - dt.timedelta(seconds=age_seconds))

    ids: dict[str, list[int]] = {"orders": [], "messages": []}
    at = behind("orders")
    for total in (2500, 3700):
        ids["orders"].append(insert(
            pipeline, instance, "INSERT INTO orders (organization_id, contact_id, state, "
            "total_cents, created_at, completed_at, updated_at) VALUES (?, ?, 'complete', ?, ?, "
            "?, ?)", (org, contact, total, at, at, at)))
    at = behind("messages")
    ids["messages"].append(insert(
        pipeline, instance, "INSERT INTO messages (organization_id, contact_id, direction, status,"
        " body, created_at, updated_at) VALUES (?, ?, 'inbound', 'received', 'late', ?, ?)",
        (org, contact, at, at)))
    return ids


class MoveAway:
    """Makes an instance's SQLite database unreachable (moved away) once one of its tables has
    been read: an outage in the middle of a run."""

    def __init__(self, pipeline: FaultPipeline, instance: str) -> None:
        self.path = sqlite_file(pipeline, instance)
        self.instance = instance
        self.moved = False

    def __call__(self, event: ProgressEvent) -> None:
        if not self.moved and event.instance == self.instance and event.phase == "done":
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    source.rename(f"{source}.away")
            self.moved = True

    def restore(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            away = Path(f"{self.path}{suffix}.away")
            if away.exists():
                away.rename(f"{self.path}{suffix}")


@pytest.fixture(scope="module")
def world(loaded: FaultPipeline, tmp_path_factory: pytest.TempPathFactory) -> World:
    pipeline = loaded.clone(tmp_path_factory.mktemp("faults_world") / "home")
    world = World(pipeline)
    rng = random.Random(515)
    pipeline.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)

    # Deletes: an erasure (a contact with activity), a whole organization, a soft delete.
    uk = pipeline.source_url("uk")
    organizations = ", ".join(map(str, valid_organizations(pipeline, "uk")))
    contact = pipeline.source_query(
        "uk", "SELECT contact_id FROM messages WHERE direction = 'inbound' AND organization_id "
              f"IN ({organizations}) GROUP BY contact_id ORDER BY count(*) DESC LIMIT 1")[0][0]
    world.erased = operations.erase_contact(uk, contact)
    au_org = valid_organizations(pipeline, "au")[1]
    world.deleted_org = ("au", au_org)
    world.deleted_rows = operations.delete_organization(pipeline.source_url("au"), au_org)
    fr_org = valid_organizations(pipeline, "fr")[0]
    world.soft_deleted = ("fr", fr_org)
    operations.soft_delete_organization(pipeline.source_url("fr"), fr_org)
    operations.change_plan(uk, valid_organizations(pipeline, "uk")[-1], "pro")
    operations.bulk_update_messages(uk, 1500)

    inject_bad_rows(world, "uk")

    # Run 1: fr becomes unreachable after its first table.
    outage = MoveAway(pipeline, "fr")
    world.outage = pipeline.run_ingestion(progress=outage)
    assert outage.moved
    world.outage_raw = pipeline.check_raw(stale_ok=True, instances=["uk", "au"])
    outage.restore()
    pipeline.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)

    # Run 2: the schedule, with fr back.
    world.caught_up = pipeline.run_ingestion()
    world.caught_up_raw = pipeline.check_raw(stale_ok=True)
    # Beyond the lag: committed after run 2 read uk up to its newest row, stamped 90 minutes
    # behind that row (the lag is 60 minutes). Run 3: the schedule; run 4: a reconciliation.
    world.late_ids = late_orders(pipeline, "uk", BEYOND_LAG_SECONDS)
    world.scheduled = pipeline.run_ingestion()
    world.scheduled_raw = pipeline.check_raw(stale_ok=True)
    world.reconciled = pipeline.run_ingestion(reconcile=True)
    MATRIX.runs += 4

    # dbt build killed in the middle of the DAG, then built again.
    plan = KillPlan("after", "node", rng.randint(60, 300), rng.uniform(0.0, 0.5))
    world.dbt_kill, _ = pipeline.build_child(plan)
    if world.dbt_kill.killed:
        MATRIX.kill("dbt build")
    _, result = pipeline.build_child(None)
    assert result.ok, result.output[-6000:]
    world.final = pipeline.check_all()
    MATRIX.count_check(world.final.lost, world.final.duplicated)
    return world


def test_marts_are_exact_after_every_fault_and_a_killed_build(world: World) -> None:
    assert world.dbt_kill is not None and world.dbt_kill.killed, world.dbt_kill.output()
    assert world.final is not None and world.final.ok, world.final.describe()
    assert_snapshot_consistent(world.pipeline)
    MATRIX.scenario("crash: dbt build SIGKILL (end to end)",
                    f"killed at node #{world.dbt_kill.plan.occurrence}, rebuilt: raw, staging, "
                    "facts and every metric mart exact")


def test_an_instance_unreachable_mid_run_fails_alone_and_catches_up(world: World) -> None:
    report = world.outage
    assert report is not None and not report.ok
    failed = sorted((r.instance_id, r.table_name) for r in report.records if r.status == "failed")
    assert failed and {i for i, _ in failed} == {"fr"}, report.summary()
    assert ("fr", "organizations") not in failed  # read before the outage
    message = next(r.error_message for r in report.records if r.status == "failed")
    assert message.startswith("instance fr: SQLite database ") and "does not exist" in message
    statuses = {r.status for r in report.records if r.instance_id != "fr"}
    assert statuses == {"success"}, report.summary()
    # The others loaded in full during the outage (the au hard delete waits for reconciliation).
    assert world.outage_raw is not None
    assert world.outage_raw.lost == world.outage_raw.duplicated == 0
    assert all(not t.different for t in world.outage_raw.tables), world.outage_raw.describe()
    # The next successful run caught fr up exactly (only the au organization's hard delete
    # waits for a reconciliation, and nothing else differs).
    assert world.caught_up is not None and world.caught_up.ok, world.caught_up.summary()
    raw = world.caught_up_raw
    assert raw is not None and raw.lost == raw.duplicated == 0, raw.describe()
    assert all(not t.different for t in raw.tables), raw.describe()
    stale = {key[0] for t in raw.tables for key in t.stale}
    assert stale <= {"au"}, raw.describe()
    MATRIX.scenario("unreachable instance mid-run",
                    f"{len(failed)} fr tables failed and reported, uk/au loaded; next run exact")


def test_a_commit_older_than_the_lag_waits_for_the_reconciliation(world: World) -> None:
    raw = world.scheduled_raw
    assert raw is not None
    missing = sorted(key for t in raw.tables for key in t.lost)
    expected = sorted(("uk", i) for ids in world.late_ids.values() for i in ids)
    assert missing == expected, raw.describe()  # the scheduled run cannot see them ...
    assert raw.duplicated == 0 and all(not t.different for t in raw.tables)
    assert world.reconciled is not None and world.reconciled.ok, world.reconciled.summary()
    recon = {r.table_name: r.rows_extracted for r in world.reconciled.records
             if r.is_reconciliation and r.instance_id == "uk"}
    assert recon["orders"] == 2 and recon["messages"] == 1  # ... the reconciliation does,
    assert world.final is not None and world.final.ok  # and the facts and marts then have them
    MATRIX.scenario("late commit beyond the lag",
                    "missed by the scheduled run, loaded by the next reconciliation; marts exact")


def test_an_erased_contact_leaves_no_trace(world: World) -> None:
    erased = world.erased
    salt = world.pipeline.child_env()["TW_PII_SALT"]
    values = [erased[k] for k in ("name", "email", "phone") if erased.get(k)]
    needles = values + [hash_value(v, salt) for v in values]
    found = world.pipeline.find_values(needles)
    assert not found, f"erased contact's data found in {found}"
    with world.pipeline.environment() as settings, connect(settings) as con:
        key = ("uk", erased["contact_id"])
        for relation in ("raw.contacts", "staging.stg_platform__contacts", "marts.dim_contacts"):
            column = "id" if relation.startswith("raw") else "contact_id"
            rows = query(con, f"select count(*) from {relation} where instance_id = ? and "
                              f"{column} = ?", key)
            assert rows[0][0] == 0, relation
    leftovers = [p for p in (world.pipeline.home / "dlt").rglob("*")
                 if p.suffix in (".parquet", ".jsonl", ".gz", ".csv")]
    assert not leftovers, f"data files left under dlt/: {leftovers[:5]}"
    MATRIX.scenario("delete: erasure of a contact",
                    "no value or hash of it in any warehouse table (snapshots included) or file")


def test_a_hard_deleted_organization_is_gone_and_a_soft_deleted_one_flagged(world: World) -> None:
    instance, org = world.deleted_org
    tenant = f"{instance}:{org}"
    assert sum(len(ids) for ids in world.deleted_rows.values()) > 1
    with world.pipeline.environment() as settings, connect(settings) as con:
        tables = query(con, "select table_schema, table_name from information_schema.columns "
                            "where column_name = 'tenant_id' and table_schema in "
                            "('staging', 'intermediate', 'marts')")
        for schema, table in tables:
            # Plan history (from the snapshot) keeps the organization's closed versions: what
            # was, not what is; no current model joins it without the live organization.
            closed = " and valid_to_at is null" if table == "int_organization_plans_historized" else ""
            count = query(con, f"select count(*) from {schema}.{table} where tenant_id = ?"
                               f"{closed}", (tenant,))[0][0]
            assert count == 0, f"{schema}.{table} still has {count} rows of {tenant}"
        for table in ("organizations", "users", "contacts", "orders", "order_items", "messages"):
            column = "id" if table == "organizations" else "organization_id"
            count = query(con, f"select count(*) from raw.{table} where instance_id = ? and "
                               f"{column} = ?", (instance, org))[0][0]
            assert count == 0, f"raw.{table} still has rows of {tenant}"
        # The history keeps what was, closed: no version of it is current any more.
        current = query(con, "select count(*) from snapshots.organizations_snapshot where "
                             "tenant_id = ? and dbt_valid_to is null", (tenant,))[0][0]
        assert current == 0
        soft = query(con, "select is_deleted from marts.dim_organizations where tenant_id = ?",
                     (f"{world.soft_deleted[0]}:{world.soft_deleted[1]}",))
    assert soft == [(True,)]
    MATRIX.scenario("delete: organization hard-deleted with all its rows",
                    "gone from raw, staging, intermediate and marts; snapshot version closed")
    MATRIX.scenario("delete: soft delete", "flagged is_deleted, billing stops (marts exact)")


def test_bad_rows_are_quarantined_counted_and_nothing_else_moves(world: World) -> None:
    report = world.outage
    assert report is not None
    counts = report.tables
    # Unreadable values are counted per table: two times in orders, one UTF-8 repair each in
    # orders (state) and contacts (name).
    assert counts[("uk", "orders")].bad_values == 3, report.summary()
    assert counts[("uk", "contacts")].bad_values == 1, report.summary()
    with world.pipeline.environment() as settings, connect(settings) as con:
        quarantined = {(r[0], r[1], r[2]): r[3] for r in query(
            con, "select instance_id, table_name, row_id, quarantine_reason "
                 "from marts.dq_quarantined_rows")}
        logged = query(con, "select error_message from raw._tw_ingestion_runs where run_id = ? "
                            "and instance_id = 'uk' and table_name = 'orders'", (report.run_id,))
    for instance, table, row_id, reason in world.bad_rows:
        assert quarantined.get((instance, table, row_id)) == reason, (table, row_id, reason)
    assert logged and logged[0][0].startswith("3 bad value(s), rows kept with the value "
                                              "repaired or null: instance uk, table orders")
    # Other tenants' numbers: every mart equals the truth computed from the sources, bad rows
    # included, so nothing else moved and nothing was silently dropped.
    assert world.final is not None and world.final.ok, world.final.describe()
    MATRIX.scenario("bad input rows",
                    f"{len(world.bad_rows)} rows quarantined with their reason, 4 unreadable "
                    "values counted in the run record, marts exact")
