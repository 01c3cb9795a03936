"""run_ingestion end to end into DuckDB, against generated SQLite sources."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import re
import sqlite3
import zlib
from typing import Any

import duckdb
import pytest
import yaml
from sqlalchemy.engine import make_url

from ingestion import platform_source
from ingestion.config import DEFAULT_PATH, parse_config
from ingestion.errors import IngestionLocked
from ingestion.extract import ProgressEvent
from ingestion.lock import RunLock
from ingestion.pipeline import LOCK_FILE
from ingestion.privacy import hash_value
from reference_platform.simulator import begin_late_commit, erase_contact, simulate
from tests.ingestion.conftest import INSTANCES, Home
from tests.ingestion.helpers import (
    duckdb_query,
    raw_rows_duckdb,
    source_rows,
    sqlite_execute,
    sqlite_scalar,
    sqlite_timestamp,
)


def _snapshot(home: Home) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table, every column, including dlt's ids: what "nothing changed" means."""
    return {
        table: duckdb_query(
            home.settings.duckdb_path, f"SELECT * FROM raw.{table} ORDER BY instance_id, id"
        )
        for table in home.config.tables
    }


def _runs(home: Home, run_id: str) -> list[tuple[Any, ...]]:
    return duckdb_query(
        home.settings.duckdb_path,
        "SELECT instance_id, table_name, status, rows_extracted, rows_deleted, cursor_from, "
        "cursor_to, is_reconciliation, error_message FROM raw._tw_ingestion_runs "
        "WHERE run_id = ? ORDER BY instance_id, table_name, is_reconciliation",
        [run_id],
    )


def _config(**table_overrides: dict[str, Any]) -> Any:
    document = yaml.safe_load(DEFAULT_PATH.read_text())
    for table, overrides in table_overrides.items():
        document["tables"][table].update(overrides)
    return parse_config(copy.deepcopy(document))


def _newest(url: str, table: str) -> dt.datetime:
    value = sqlite_scalar(url, f"SELECT max(updated_at) FROM {table}")
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def test_first_load_equals_the_source_row_for_row(loaded_home: Home, loaded_baseline) -> None:
    report = loaded_baseline[1]
    loaded_home.assert_raw_equals_source()
    for instance in INSTANCES:
        for name, table in loaded_home.config.tables.items():
            rows = len(source_rows(loaded_home.url(instance), table, loaded_home.salt))
            counts = report.tables[(instance, name)]
            assert (counts.status, counts.rows_extracted, counts.rows_loaded) == ("success", rows, rows)
    all_records = _runs(loaded_home, report.run_id)
    records = [r for r in all_records if not r[7]]
    assert len(records) == 18
    assert {r[2] for r in records} == {"success"}
    assert all(r[5] is None for r in records)  # a first load has no lower bound
    # Tables that reconcile every run also get one reconciliation record per instance.
    reconciling = [n for n, t in loaded_home.config.tables.items() if t.reconcile_every == 1]
    reconciliations = [r for r in all_records if r[7]]
    assert sorted((r[0], r[1]) for r in reconciliations) == sorted(
        (instance, name) for instance in INSTANCES for name in reconciling
    )
    assert {r[2] for r in reconciliations} <= {"success", "skipped"}
    # Ingestion columns: instance first, then source columns, then the ingestion columns.
    columns = [r[0] for r in duckdb_query(loaded_home.settings.duckdb_path, "DESCRIBE raw.users")]
    assert columns[:5] == ["instance_id", "id", "organization_id", "name_hash", "email_hash"]
    assert columns[-4:] == ["_tw_extracted_at", "_dlt_load_id", "_dlt_id", "_tw_deleted"]


def test_a_run_without_source_changes_loads_nothing(loaded_home: Home) -> None:
    before = _snapshot(loaded_home)
    report = loaded_home.ingest()
    assert report.ok, report.summary()
    assert report.rows_loaded == 0
    assert _snapshot(loaded_home) == before  # not even _dlt_load_id or _dlt_id moved
    # What was read is exactly the lag window behind each table's watermark, no more.
    expected_reads = 0
    for instance in INSTANCES:
        for table in loaded_home.config.tables.values():
            newest = _newest(loaded_home.url(instance), table.name)
            since = newest - dt.timedelta(seconds=table.lag_seconds)
            expected_reads += sqlite_scalar(
                loaded_home.url(instance),
                f"SELECT count(*) FROM {table.name} WHERE updated_at >= ?",
                (sqlite_timestamp(since),),
            )
            record = next(
                r for r in report.records
                if (r.instance_id, r.table_name) == (instance, table.name)
            )
            assert (record.cursor_from, record.cursor_to) == (since, newest)
    assert report.rows_extracted == expected_reads > 0


def test_source_changes_are_merged_until_raw_equals_the_source(loaded_home: Home) -> None:
    # Small chunks so the 10k equal timestamps below straddle several chunk edges; reconciliation
    # due at every run so the erasure is found by the schedule, not by forcing it.
    loaded_home.config = _config(
        messages={"chunk_rows": 3_000},
        contacts={"reconcile_every": 1},
        order_items={"reconcile_every": 1},
    )
    uk, au, fr = (loaded_home.url(i) for i in INSTANCES)
    summary = simulate(uk, "uk", ticks=1, seed=5)  # inserts, updates, a bulk update, a late commit
    assert summary.events["late_commit"] and summary.bulk_updated_rows
    erased = erase_contact(uk, 3)
    stamp = sqlite_timestamp(_newest(au, "messages") + dt.timedelta(minutes=5))
    sqlite_execute(
        au,
        (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
            "INSERT INTO messages (organization_id, contact_id, direction, status, body, "
            "created_at, updated_at) SELECT 1, 1, 'outbound', 'sent', 'bulk', ?, ? FROM n",
            (stamp, stamp),
        ),
    )
    late = begin_late_commit(fr, age_seconds=1_200)  # behind the watermark, inside the lag
    late.commit()

    report = loaded_home.ingest()
    assert report.ok, report.summary()
    loaded_home.assert_raw_equals_source()
    assert raw_rows_duckdb(loaded_home.settings.duckdb_path, loaded_home.config.tables["contacts"], "uk")
    assert not duckdb_query(
        loaded_home.settings.duckdb_path,
        "SELECT 1 FROM raw.contacts WHERE instance_id = 'uk' AND id = ?",
        [erased["contact_id"]],
    )
    reconciliations = {
        (r.instance_id, r.table_name): r for r in report.records if r.is_reconciliation
    }
    assert set(reconciliations) == {(i, t) for i in INSTANCES for t in ("contacts", "order_items")}
    assert reconciliations[("uk", "contacts")].rows_deleted == 1
    assert reconciliations[("uk", "order_items")].rows_deleted == summary.deleted["order_items"]
    assert report.tables[("au", "messages")].rows_loaded >= 10_000

    # One more row committed later with exactly the watermark's timestamp: the inclusive start
    # of the next window must still see it.
    sqlite_execute(
        au,
        (
            "INSERT INTO messages (organization_id, contact_id, direction, status, body, "
            "created_at, updated_at) VALUES (1, 1, 'inbound', 'received', 'same instant', ?, ?)",
            (stamp, stamp),
        ),
    )
    report = loaded_home.ingest(instances=["au"], tables=["messages"])
    assert report.ok, report.summary()
    assert report.rows_loaded == 1
    loaded_home.assert_raw_equals_source(instances=["au"], tables=["messages"])


def test_a_late_commit_older_than_the_lag_waits_for_reconciliation(loaded_home: Home) -> None:
    uk = loaded_home.url("uk")
    watermark = _newest(uk, "orders")
    # Committed now, stamped two and three hours behind the watermark (the lag is one hour):
    # a new order, and a change to an existing one.
    two_hours, three_hours = (
        sqlite_timestamp(watermark - dt.timedelta(hours=h)) for h in (2, 3)
    )
    sqlite_execute(
        uk,
        (
            "INSERT INTO orders (organization_id, contact_id, state, total_cents, created_at, "
            "completed_at, updated_at) VALUES (1, 1, 'complete', 4200, ?, ?, ?)",
            (two_hours, two_hours, two_hours),
        ),
        ("UPDATE orders SET state = 'cancelled', cancelled_at = ?, updated_at = ? WHERE id = 1",
         (three_hours, three_hours)),
    )
    new_order = sqlite_scalar(uk, "SELECT max(id) FROM orders")
    orders = loaded_home.config.tables["orders"]

    report = loaded_home.ingest(instances=["uk"], tables=["orders"], reconcile=False)
    assert report.ok and report.rows_loaded == 0  # behind the window: invisible to a read by cursor
    raw = {r[0]: r for r in raw_rows_duckdb(loaded_home.settings.duckdb_path, orders, "uk")}
    assert new_order not in raw and raw[1][3] != "cancelled"

    report = loaded_home.ingest(instances=["uk"], tables=["orders"], reconcile=True)
    assert report.ok, report.summary()
    recon = next(r for r in report.records if r.is_reconciliation)
    assert (recon.status, recon.rows_extracted, recon.rows_deleted) == ("success", 2, 0)
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["orders"])


def _personal_values(home: Home) -> set[str]:
    """Every personal value in the sources (long enough not to occur by chance in a file)."""
    values: set[str] = set()
    for instance in INSTANCES:
        conn = sqlite3.connect(make_url(home.url(instance)).database)
        for sql in (
            "SELECT name, email, phone FROM users",
            "SELECT name, email, phone FROM contacts",
            "SELECT name, email, phone FROM sim_erasures",
            "SELECT body, NULL, NULL FROM messages",
        ):
            for row in conn.execute(sql):
                values.update(v for v in row if isinstance(v, str) and len(v) >= 6)
        conn.close()
    return values


def test_no_personal_value_reaches_the_warehouse_or_dlt_files(loaded_home: Home) -> None:
    uk = loaded_home.url("uk")
    simulate(uk, "uk", ticks=1, seed=9)
    erased = erase_contact(uk, 4)
    report = loaded_home.ingest(reconcile=True)  # merges, deletions and staging all used
    assert report.ok, report.summary()
    personal = _personal_values(loaded_home)
    assert {erased["name"], erased["email"]} <= personal and len(personal) > 500

    # Every text column of every table in the warehouse file, staging included.
    path = loaded_home.settings.duckdb_path
    conn = duckdb.connect(str(path), read_only=True)
    try:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall()
        assert {(s, t) for s, t, _ in columns} >= {("raw", "contacts"), ("raw_staging", "contacts")}
        for schema, table, column in columns:
            found = conn.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"').fetchall()
            leaked = {v for (v,) in found if isinstance(v, str)} & personal
            assert not leaked, f"{schema}.{table}.{column} holds personal data"
        assert conn.execute("SELECT count(*) FROM raw_staging.contacts").fetchall() == [(0,)]
    finally:
        conn.close()

    # Hashes are there instead, computed as documented.
    contacts = loaded_home.config.tables["contacts"]
    expected = source_rows(uk, contacts, loaded_home.salt)
    assert raw_rows_duckdb(path, contacts, "uk") == expected
    assert any(row[2] for row in expected)

    # dlt's local files: no job file survives a load, and no value appears in any other file
    # (plain, or inside dlt's compressed state blobs).
    files = [p for p in loaded_home.settings.pipelines_dir.rglob("*") if p.is_file()]
    assert files
    assert not [p for p in files if p.suffix in (".parquet", ".csv", ".jsonl", ".gz")]
    for file in files:
        data = _expanded(file.read_bytes())
        leaked = [v for v in personal if v.encode() in data]
        assert not leaked, f"{file} contains personal data"


def _expanded(data: bytes) -> bytes:
    """File bytes plus any zlib/base64 blob inside them decoded (dlt compresses its state)."""
    parts = [data]
    for blob in re.findall(rb"eN[A-Za-z0-9+/=]{16,}", data):
        try:
            parts.append(zlib.decompress(base64.b64decode(blob)))
        except (ValueError, zlib.error):
            continue
    return b"\n".join(parts)


def test_failures_are_isolated_reported_and_recovered(
    home: Home, pristine_sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = home.path / "offline" / "fr.sqlite"
    monkeypatch.setenv("TW_SOURCE_FR_URL", f"sqlite:///{missing}")
    au = home.url("au")
    sqlite_execute(au, "ALTER TABLE order_items RENAME TO order_items_old")
    uk = home.url("uk")
    sqlite_execute(uk, "UPDATE contacts SET name = CAST(x'416e6e61ff' AS TEXT) WHERE id = 2")

    tables = ["users", "contacts", "order_items"]
    report = home.ingest(tables=tables)
    assert not report.ok
    failed = {(r.instance_id, r.table_name): r.error_message for r in report.records if r.status == "failed"}
    assert set(failed) == {("fr", t) for t in tables} | {("au", "order_items")}
    assert failed[("fr", "users")] == f"instance fr: SQLite database {missing} does not exist"
    assert failed[("au", "order_items")].startswith(
        "instance au, table order_items: table does not exist in "
    )
    # Everything else loaded, and the bad row is in, flagged in its run record.
    home.assert_raw_equals_source(instances=["uk"], tables=["users", "order_items"])
    home.assert_raw_equals_source(instances=["au"], tables=["users", "contacts"])
    uk_contacts = next(r for r in report.records if (r.instance_id, r.table_name) == ("uk", "contacts"))
    assert uk_contacts.status == "success" and len(uk_contacts.bad_values) == 1
    assert uk_contacts.error_message == (
        "1 bad value(s), rows kept with the value repaired or null: instance uk, table contacts, "
        "row id=2, column name: invalid UTF-8; undecodable bytes replaced with U+FFFD"
    )
    contacts = home.config.tables["contacts"]
    row = next(r for r in raw_rows_duckdb(home.settings.duckdb_path, contacts, "uk") if r[0] == 2)
    assert row[2] == hash_value("Anna\ufffd", home.salt)
    logged = {(r[0], r[1]): (r[2], r[8]) for r in _runs(home, report.run_id) if not r[7]}
    assert logged[("fr", "contacts")] == ("failed", failed[("fr", "contacts")])
    assert logged[("uk", "contacts")] == ("success", uk_contacts.error_message)

    # Repaired sources: the next run loads what was missing, from where each table stopped.
    monkeypatch.delenv("TW_SOURCE_FR_URL")
    sqlite_execute(au, "ALTER TABLE order_items_old RENAME TO order_items")
    report = home.ingest(tables=tables)
    assert report.ok, report.summary()
    home.assert_raw_equals_source(instances=["au", "fr"], tables=tables)


def test_a_second_concurrent_run_is_refused(home: Home) -> None:
    locked = pytest.raises(IngestionLocked, match=r"another ingestion run is in progress \(pid \d+")
    with RunLock(home.settings.home / LOCK_FILE), locked:
        home.ingest()
    assert not (home.settings.duckdb_path).exists()


def test_raw_that_lost_rows_is_refilled_from_the_source(loaded_home: Home) -> None:
    au = loaded_home.url("au")
    cutoff = _newest(au, "orders") - dt.timedelta(days=20)
    conn = duckdb.connect(str(loaded_home.settings.duckdb_path))
    conn.execute("DELETE FROM raw.orders WHERE instance_id = 'fr'")  # dropped by hand
    conn.execute(  # an older backup of au: its last 20 days are missing
        "DELETE FROM raw.orders WHERE instance_id = 'au' AND updated_at > ?", [cutoff]
    )
    (kept,) = conn.execute(
        "SELECT max(updated_at) FROM raw.orders WHERE instance_id = 'au'"
    ).fetchone()
    conn.close()
    events: list[ProgressEvent] = []
    report = loaded_home.ingest(tables=["orders"], progress=events.append)
    assert report.ok, report.summary()
    orders = loaded_home.config.tables["orders"]
    fr_rows = len(source_rows(loaded_home.url("fr"), orders, loaded_home.salt))
    assert report.tables[("fr", "orders")].rows_loaded == fr_rows
    au_record = next(r for r in report.records if r.instance_id == "au")
    assert au_record.cursor_from == kept - dt.timedelta(seconds=orders.lag_seconds)
    assert report.tables[("uk", "orders")].rows_loaded == 0
    loaded_home.assert_raw_equals_source(tables=["orders"])
    done = {(e.instance, e.table): e.rows for e in events if e.phase == "done"}
    assert done == {(i, "orders"): report.tables[(i, "orders")].rows_extracted for i in INSTANCES}


def test_a_run_dlt_aborts_is_recorded_and_read_again_next_time(
    loaded_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    uk = loaded_home.url("uk")
    sqlite_execute(uk, "UPDATE users SET role = 'admin', updated_at = '2026-06-30 00:00:00.000000' WHERE id = 1")
    original = platform_source.extract_table

    def failing(ctx: Any, instance: str, table: Any, state: Any) -> Any:
        yield from original(ctx, instance, table, state)
        if (instance, table.name) == ("uk", "users"):
            raise RuntimeError("disk full")  # an error outside the table's own handling

    monkeypatch.setattr(platform_source, "extract_table", failing)
    report = loaded_home.ingest(tables=["users", "orders"])
    assert not report.ok and report.rows_loaded == 0
    assert len(report.records) == 6 and {r.status for r in report.records} == {"failed"}
    assert all("extraction aborted, nothing loaded" in r.error_message for r in report.records)
    assert "disk full" in report.errors[0]
    logged = _runs(loaded_home, report.run_id)
    assert len(logged) == 6 and {r[2] for r in logged} == {"failed"}

    monkeypatch.setattr(platform_source, "extract_table", original)
    report = loaded_home.ingest(tables=["users"], instances=["uk"])
    assert report.ok and report.rows_loaded == 1  # the watermark had not moved
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["users"])


def test_a_failed_load_keeps_the_watermark_and_is_logged(loaded_home: Home) -> None:
    uk = loaded_home.url("uk")
    stamp = sqlite_timestamp(_newest(uk, "orders") + dt.timedelta(minutes=1))
    sqlite_execute(
        uk,
        ("UPDATE orders SET contact_id = NULL, updated_at = ? WHERE id = 2", (stamp,)),
    )
    conn = duckdb.connect(str(loaded_home.settings.duckdb_path))
    conn.execute("ALTER TABLE raw.orders ALTER COLUMN contact_id SET NOT NULL")
    conn.close()

    report = loaded_home.ingest(instances=["uk"], tables=["orders"])
    assert not report.ok
    assert report.errors[0].startswith("load into duckdb failed: ")
    record = report.records[0]
    assert record.status == "failed" and record.rows_loaded == 0
    assert record.error_message.startswith("instance uk, table orders: load into duckdb failed")
    assert [(r[2], r[8]) for r in _runs(loaded_home, report.run_id)] == [
        ("failed", record.error_message)
    ]

    conn = duckdb.connect(str(loaded_home.settings.duckdb_path))
    conn.execute("ALTER TABLE raw.orders ALTER COLUMN contact_id DROP NOT NULL")
    conn.close()
    report = loaded_home.ingest(instances=["uk"], tables=["orders"])
    assert report.ok and report.rows_loaded == 1, report.summary()
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["orders"])



def test_a_loaded_table_switched_to_cursor_none_gets_digests_once(loaded_home: Home) -> None:
    document = yaml.safe_load(DEFAULT_PATH.read_text())
    items = document["tables"]["order_items"]
    del items["reconcile_every"]  # does not apply to a table read whole
    items["cursor"] = "none"
    config = parse_config(document)
    first = loaded_home.ingest(tables=["order_items"], config=config)
    assert first.ok, first.summary()
    for record in first.records:
        # Raw had no digests yet: every row is rewritten once, with its digest; none is new.
        assert (record.rows_inserted, record.rows_deleted) == (0, 0), first.summary()
        assert record.rows_updated == record.rows_extracted > 0, first.summary()
    again = loaded_home.ingest(tables=["order_items"], config=config)
    assert again.ok and again.rows_loaded == 0, again.summary()
    loaded_home.assert_raw_equals_source(tables=["order_items"])
