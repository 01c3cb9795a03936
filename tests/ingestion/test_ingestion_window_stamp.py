"""The no-change probe skips the lag window of a table nothing was written to since its window
was last found in raw (ingestion/extract.py, no-change: the window stamp), on a real PostgreSQL
source, and reads it again as soon as a write, a late commit or a change of raw says so."""

from __future__ import annotations

import time

import duckdb
import pytest

from ingestion.pipeline import IngestionReport
from reference_platform.generator import generate
from tests.ingestion.conftest import SCALE, SEED, Home
from tests.support.pg import PgDatabase, PgDatabaseFactory


def _read(report: IngestionReport, table: str) -> int:
    return report.tables[("au", table)].rows_extracted


def _write_and_flush(source: PgDatabase, sql: str) -> None:
    """Commit `sql`, then wait until the table's write counter shows it (the statistics a
    backend reports after its commit)."""
    conn = source.connect()
    with conn.cursor() as cursor:
        cursor.execute("SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
                       "WHERE relname = 'messages'")
        (before,) = cursor.fetchone()
        cursor.execute(sql)
        cursor.execute("SELECT pg_stat_force_next_flush()")
    conn.close()
    watcher = source.connect()
    try:
        for _ in range(100):
            with watcher.cursor() as cursor:
                cursor.execute("SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables "
                               "WHERE relname = 'messages'")
                if cursor.fetchone()[0] > before:
                    return
            time.sleep(0.1)
    finally:
        watcher.close()
    pytest.fail("the write never reached pg_stat_user_tables")


def test_windows_are_skipped_until_something_is_written(
    home: Home, pg_database: PgDatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = pg_database("tw_window_stamp")
    generate(source.url, "au", seed=SEED, scale=SCALE)
    monkeypatch.setenv("TW_SOURCE_AU_URL", source.url)
    run = {"instances": ["au"], "reconcile": False}
    assert home.ingest(**run).ok  # the first, full read
    verified = home.ingest(**run)  # reads every window and finds it in raw
    assert verified.unchanged and _read(verified, "messages") > 0, verified.summary()
    skipped = home.ingest(**run)
    assert skipped.unchanged and skipped.ok, skipped.summary()
    assert skipped.rows_extracted == 0  # no window read again

    # A late commit: a cursor below the newest, so only the write counter moves.
    _write_and_flush(source, "UPDATE messages SET status = 'late', updated_at = "
                             "(SELECT max(updated_at) FROM messages) - interval '1 second' "
                             "WHERE id = (SELECT min(id) FROM messages)")
    late = home.ingest(**run)
    assert late.ok and not late.unchanged and late.rows_loaded == 1, late.summary()
    assert _read(late, "contacts") == 0  # the other tables' windows still skipped
    home.assert_raw_equals_source(instances=["au"], tables=["messages"])

    again = home.ingest(**run)  # the loaded table's window is verified again
    assert again.unchanged and _read(again, "messages") > 0, again.summary()
    assert home.ingest(**run).rows_extracted == 0

    # Raw changed by hand: a row of the window lost from raw is read and loaded again.
    conn = duckdb.connect(str(home.settings.duckdb_path))
    try:
        conn.execute(f"DELETE FROM {home.settings.raw_schema}.messages WHERE instance_id = 'au' "
                     f"AND updated_at = (SELECT max(updated_at) FROM "
                     f"{home.settings.raw_schema}.messages WHERE instance_id = 'au')")
    finally:
        conn.close()
    restored = home.ingest(**run)
    assert restored.ok and restored.rows_loaded >= 1, restored.summary()
    home.assert_raw_equals_source(instances=["au"], tables=["messages"])
