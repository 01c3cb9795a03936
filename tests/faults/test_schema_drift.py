"""Schema drift in a source: a column added, a column dropped, a type widened, a table added —
the pipeline goes on and the change is reported in the run record; an incompatible change stops
that table only, with an error naming instance, table, column and the types.

Decision (ingestion/drift.py): a *configured* column dropped by the source fails its table
instead of landing nulls. A merge replaces the whole row, so nulls would overwrite the real
values of every row that changes afterwards and the metrics would move without an error; a failed
table keeps raw at its last good state, is alerted on, and catches up from its watermark once the
source or tables.yml is fixed.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from ingestion.config import DEFAULT_PATH, parse_config
from reference_platform.simulator import simulate
from tenant_warehouse.warehouse_sql import connect, query
from tests.faults.harness import FaultPipeline
from tests.faults.matrix import MATRIX

TABLES = ["orders", "order_items"]


def sqlite_path(pipeline: FaultPipeline, instance: str) -> Path:
    return Path(make_url(pipeline.source_url(instance)).database)


def execute(pipeline: FaultPipeline, instance: str, *statements: str) -> None:
    connection = sqlite3.connect(sqlite_path(pipeline, instance), isolation_level=None)
    try:
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()


def recreate_with(pipeline: FaultPipeline, instance: str, table: str, column: str,
                  declared: str, value_sql: str) -> None:
    """Rebuild `table` with `column` declared as `declared`, values from `value_sql` (SQLite
    cannot alter a column's type): what a platform migration does."""
    connection = sqlite3.connect(sqlite_path(pipeline, instance), isolation_level=None)
    try:
        ddl = connection.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        columns = [r[1] for r in connection.execute(f"PRAGMA table_info({table})")]
        indexes = [r[0] for r in connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,))]
        _, _, body = ddl.partition("(")
        parts = [p.strip() for p in body.rstrip(")").split(",")]
        parts = [f"{column} {declared}" if p.split()[0] == column else p for p in parts]
        selected = [value_sql if c == column else c for c in columns]
        connection.executescript(
            f"BEGIN; ALTER TABLE {table} RENAME TO {table}_before;"
            f" CREATE TABLE {table} ({', '.join(parts)});"
            f" INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selected)} FROM {table}_before;"
            f" DROP TABLE {table}_before; {'; '.join(indexes)}; COMMIT;"
        )
    finally:
        connection.close()


def bump(pipeline: FaultPipeline, instance: str, table: str, row_id: int) -> None:
    """A change after the watermark, so the next run reads the table's new shape."""
    execute(pipeline, instance,
            f"UPDATE {table} SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', "
            f"(SELECT max(updated_at) FROM {table}), '+1 minute') WHERE id = {row_id}")


def simulate_only(pipeline: FaultPipeline, instances: list[str], seed: int) -> None:
    for instance in instances:
        simulate(pipeline.source_url(instance), instance, ticks=1, seed=seed, tick_hours=6)


def record(report, instance: str, table: str):
    return next(r for r in report.records
                if (r.instance_id, r.table_name) == (instance, table) and not r.is_reconciliation)


def assert_raw_exact(pipeline: FaultPipeline, instances=None, tables=TABLES) -> None:
    checks = pipeline.check_raw(tables=tables, instances=instances)
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()


def test_compatible_drift_goes_on_and_is_reported(fresh: FaultPipeline) -> None:
    # A column added (uk.orders), a type widened (fr.order_items.quantity INTEGER -> REAL).
    execute(fresh, "uk", "ALTER TABLE orders ADD COLUMN discount_cents INTEGER",
            "UPDATE orders SET discount_cents = 50 WHERE id % 3 = 0")
    bump(fresh, "uk", "orders", 1)
    recreate_with(fresh, "fr", "order_items", "quantity", "REAL", "CAST(quantity AS REAL)")
    bump(fresh, "fr", "order_items", 2)

    report = fresh.run_ingestion(tables=TABLES)
    assert report.ok, report.summary()
    added = record(report, "uk", "orders")
    assert added.notices == [
        "new source column(s) not in tables.yml, not ingested: discount_cents (INTEGER)"]
    widened = record(report, "fr", "order_items")
    assert widened.notices == [
        "column quantity: source type changed from INTEGER to REAL, still read as bigint"]
    assert "instance uk, table orders: new source column(s)" in report.summary()
    assert_raw_exact(fresh)
    with fresh.environment() as settings, connect(settings) as con:
        logged = query(con, "select instance_id, table_name, status, error_message from "
                            "raw._tw_ingestion_runs where run_id = ? and error_message like "
                            "'schema change:%'", (report.run_id,))
        columns = [r[0] for r in query(con, "select column_name from information_schema.columns"
                                            " where table_schema = 'raw' and table_name = 'orders'")]
    assert sorted((r[0], r[1], r[2]) for r in logged) == [
        ("fr", "order_items", "success"), ("uk", "orders", "success")]
    assert "discount_cents" not in columns  # only configured columns are ever selected

    # Reported once: the next run compares with what this one saw.
    bump(fresh, "uk", "orders", 2)
    again = fresh.run_ingestion(tables=TABLES)
    assert again.ok and not again.notices, again.summary()
    assert_raw_exact(fresh)

    # A column dropped that tables.yml does not list: reported, nothing else changes.
    execute(fresh, "uk", "ALTER TABLE orders DROP COLUMN discount_cents")
    bump(fresh, "uk", "orders", 3)
    dropped = fresh.run_ingestion(tables=["orders"], instances=["uk"])
    assert dropped.ok and dropped.notices == [
        "instance uk, table orders: source column(s) dropped (not ingested): discount_cents"]
    assert_raw_exact(fresh, tables=["orders"])
    MATRIX.scenario("schema drift: column added / type widened / unlisted column dropped",
                    "runs on, each change reported once in the run record, raw exact")


def test_a_dropped_configured_column_stops_that_table_only(fresh: FaultPipeline,
                                                           tmp_path: Path) -> None:
    backup = tmp_path / "au_before.sqlite"
    shutil.copyfile(sqlite_path(fresh, "au"), backup)
    with fresh.environment() as settings, connect(settings) as con:
        before = query(con, "select * from raw.orders where instance_id = 'au' order by id")
    execute(fresh, "au", "ALTER TABLE orders DROP COLUMN contact_id")
    simulate_only(fresh, ["uk", "fr"], seed=3)

    report = fresh.run_ingestion(tables=TABLES)
    failed = [r for r in report.records if r.status == "failed"]
    assert [(r.instance_id, r.table_name) for r in failed] == [("au", "orders")], report.summary()
    assert failed[0].error_message == (
        "instance au, table orders: column contact_id: configured in tables.yml (bigint) but "
        "missing from the source (dropped or renamed); the table is not loaded until "
        "tables.yml lists only columns the source has")
    assert_raw_exact(fresh, instances=["uk", "fr"])
    assert_raw_exact(fresh, instances=["au"], tables=["order_items"])
    with fresh.environment() as settings, connect(settings) as con:
        after = query(con, "select * from raw.orders where instance_id = 'au' order by id")
    assert after == before  # no nulls landed over real values

    # The platform restores the column: the table catches up from where it stopped.
    shutil.copyfile(backup, sqlite_path(fresh, "au"))
    for suffix in ("-wal", "-shm"):
        Path(f"{sqlite_path(fresh, 'au')}{suffix}").unlink(missing_ok=True)
    fresh.simulate(seed=3, ticks=1, tick_hours=6)
    report = fresh.run_ingestion(tables=TABLES)
    assert report.ok, report.summary()
    assert_raw_exact(fresh)
    MATRIX.scenario("schema drift: configured column dropped",
                    "that table fails naming instance/table/column, others load, catches up")


def test_an_incompatible_type_change_stops_that_table_only(fresh: FaultPipeline) -> None:
    # Text into a numeric key: organization ids become 'org-<n>' strings.
    recreate_with(fresh, "uk", "orders", "organization_id", "TEXT",
                  "'org-' || organization_id")
    bump(fresh, "uk", "orders", 1)
    simulate_only(fresh, ["au", "fr"], seed=4)
    report = fresh.run_ingestion(tables=TABLES)
    failed = [r for r in report.records if r.status == "failed"]
    assert [(r.instance_id, r.table_name) for r in failed] == [("uk", "orders")], report.summary()
    assert failed[0].error_message == (
        "instance uk, table orders: column organization_id: incompatible type change, source "
        "type TEXT, was BIGINT cannot be read as the configured bigint; the table is not loaded "
        "until the source or tables.yml is fixed")
    assert_raw_exact(fresh, instances=["au", "fr"])
    assert_raw_exact(fresh, instances=["uk"], tables=["order_items"])
    MATRIX.scenario("schema drift: incompatible type (text into a numeric key)",
                    "that table fails naming instance/table/column/types, others load")


def test_a_table_added_to_source_and_config_loads(fresh: FaultPipeline) -> None:
    for instance in ("uk", "au"):
        execute(
            fresh, instance,
            "CREATE TABLE refunds (id INTEGER PRIMARY KEY AUTOINCREMENT, organization_id BIGINT,"
            " order_id BIGINT, amount_cents BIGINT, created_at DATETIME, updated_at DATETIME)",
            "INSERT INTO refunds (organization_id, order_id, amount_cents, created_at, updated_at)"
            " SELECT organization_id, id, total_cents / 2, updated_at, updated_at FROM orders"
            " WHERE state = 'returned'",
        )
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    document["tables"]["refunds"] = {"primary_key": "id", "columns": {
        "id": "bigint", "organization_id": "bigint", "order_id": "bigint",
        "amount_cents": "bigint", "created_at": "timestamp", "updated_at": "timestamp"}}
    config = parse_config(document)

    report = fresh.run_ingestion(config=config, tables=["refunds", "orders"])
    failed = {(r.instance_id, r.table_name): r.error_message for r in report.records
              if r.status == "failed"}
    assert list(failed) == [("fr", "refunds")], report.summary()  # fr has no such table yet
    assert failed[("fr", "refunds")].startswith("instance fr, table refunds: table does not exist")
    expected = sorted(
        (instance, *row) for instance in ("uk", "au") for row in fresh.source_query(
            instance, "SELECT id, order_id, amount_cents FROM refunds"))
    with fresh.environment() as settings, connect(settings) as con:
        loaded = query(con, "select instance_id, id, order_id, amount_cents from raw.refunds "
                            "order by 1, 2")
    assert sorted(loaded) == expected and expected
    assert_raw_exact(fresh, tables=["orders"])
    MATRIX.scenario("schema drift: table added (source + tables.yml)",
                    "loads; an instance without it fails alone with 'table does not exist'")
