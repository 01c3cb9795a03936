"""Version-first incremental reads (ingestion/extract.py, module doc): the lag window's (key,
cursor) versions are read first, and only the rows raw lacks are fetched by key. Rows that change
between the two reads, equal cursors at a chunk edge, and the readers' window read itself on
SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import copy
import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from sqlalchemy.engine import make_url

from ingestion.config import DEFAULT_PATH, IngestionConfig, TableConfig, parse_config
from ingestion.readers import open_reader
from ingestion.readers.sqlite import SqliteReader
from tests.ingestion.conftest import Home
from tests.sources.conftest import MysqlDatabase, mysql_database, mysql_server  # noqa: F401
from tests.support.pg import PgDatabaseFactory

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
RUN: dict[str, Any] = {"tables": ["messages"], "instances": ["uk"]}


# --- the readers' window read -------------------------------------------------------------


def _events(chunk_rows: int) -> TableConfig:
    return parse_config({
        "instances": ["shop"],
        "tables": {"events": {
            "primary_key": "id", "chunk_rows": chunk_rows,
            "columns": {"id": "bigint", "note": "text", "updated_at": "timestamp"},
        }},
    }).tables["events"]


def _event_rows() -> list[tuple[int, str, dt.datetime]]:
    """50 rows: 20 share the stamp the window starts at, the others are a second apart on both
    sides of it."""
    shared = T0 + dt.timedelta(hours=1)
    rows = [(i, f"note {i}", T0 + dt.timedelta(seconds=i)) for i in range(1, 16)]
    rows += [(i, f"note {i}", shared) for i in range(16, 36)]
    rows += [(i, f"note {i}", shared + dt.timedelta(seconds=i)) for i in range(36, 51)]
    return rows


def _naive(value: dt.datetime, fraction: bool = True) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f" if fraction else "%Y-%m-%d %H:%M:%S")


def _sqlite_events(tmp_path: Path) -> str:
    path = tmp_path / "events.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, note TEXT, updated_at TEXT)")
    # Stored both ways the platform writes them: with and without a fraction.
    conn.executemany("INSERT INTO events VALUES (?, ?, ?)",
                     [(i, n, _naive(u, i % 2 == 0)) for i, n, u in _event_rows()])
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _postgres_events(pg_database: PgDatabaseFactory) -> str:
    database = pg_database("tw_version_first")
    conn = database.connect()
    with conn.cursor() as cursor:
        # Zone-less: the reader compares it with the bound's wall-clock time.
        cursor.execute("CREATE TABLE events (id bigint PRIMARY KEY, note text, "
                       "updated_at timestamp without time zone)")
        cursor.executemany("INSERT INTO events VALUES (%s, %s, %s)",
                           [(i, n, u.replace(tzinfo=None)) for i, n, u in _event_rows()])
    conn.close()
    return database.url


def _mysql_events(database: MysqlDatabase) -> str:
    database.execute(
        "CREATE TABLE events (id BIGINT PRIMARY KEY, note TEXT, updated_at DATETIME(6))",
        *[("INSERT INTO events VALUES (%s, %s, %s)", (i, n, u.replace(tzinfo=None)))
          for i, n, u in _event_rows()],
    )
    return database.url


def _versions(batches: Iterator[pa.Table]) -> list[tuple[int, dt.datetime]]:
    table = pa.concat_tables(list(batches))
    return sorted(zip(table.column("id").to_pylist(), table.column("updated_at").to_pylist(),
                      strict=True))


def _check_window(url: str) -> None:
    table = _events(chunk_rows=7)  # chunks of about 7: the 20 equal stamps straddle edges
    since = T0 + dt.timedelta(hours=1)
    with open_reader("shop", url) as reader:
        window = list(reader.read_window(table, since))
        rows = list(reader.read_changes(table, since))
        assert {b.schema.names[0] for b in window} == {"id"}
        assert _versions(iter(window)) == _versions(
            iter([b.select(["id", "updated_at"]) for b in rows])
        )
        assert [i for i, _ in _versions(iter(window))] == list(range(16, 51))  # inclusive start


def test_sqlite_window_read_is_the_windows_key_and_cursor(tmp_path: Path) -> None:
    _check_window(_sqlite_events(tmp_path))


def test_postgres_window_read_is_the_windows_key_and_cursor(pg_database: PgDatabaseFactory) -> None:
    _check_window(_postgres_events(pg_database))


def test_mariadb_window_read_is_the_windows_key_and_cursor(mysql_database: MysqlDatabase) -> None:  # noqa: F811
    _check_window(_mysql_events(mysql_database))


# --- changes between the version read and the fetch (real SQLite sources, DuckDB raw) -----


class _Source:
    """Plain sqlite3 access to one instance's source database."""

    def __init__(self, home: Home, instance: str) -> None:
        self.path = Path(make_url(home.url(instance)).database or "")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            return conn.execute(sql, params).rowcount
        finally:
            conn.close()

    def newest(self) -> dt.datetime:
        conn = sqlite3.connect(self.path)
        try:
            (value,) = conn.execute("SELECT max(updated_at) FROM messages").fetchone()
        finally:
            conn.close()
        return dt.datetime.fromisoformat(value)

    def ids(self, count: int) -> list[int]:
        conn = sqlite3.connect(self.path)
        try:
            return [r[0] for r in conn.execute(
                "SELECT id FROM messages ORDER BY updated_at LIMIT ?", (count,)).fetchall()]
        finally:
            conn.close()

    def insert(self, stamp: dt.datetime) -> int:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            cursor = conn.execute(
                "INSERT INTO messages (organization_id, contact_id, direction, status, body, "
                "created_at, updated_at) SELECT organization_id, contact_id, direction, 'sent', "
                "'new', ?, ? FROM messages LIMIT 1", (_naive(stamp), _naive(stamp)))
            return int(cursor.lastrowid or 0)
        finally:
            conn.close()


def _raw(home: Home, instance: str = "uk") -> dict[int, tuple[str, dt.datetime]]:
    conn = duckdb.connect(str(home.settings.duckdb_path), read_only=True)
    try:
        rows = conn.execute(
            f"SELECT id, status, updated_at FROM {home.settings.raw_schema}.messages "
            "WHERE instance_id = ?", [instance]).fetchall()
    finally:
        conn.close()
    return {i: (s, u.astimezone(dt.UTC).replace(tzinfo=None)) for i, s, u in rows}


def _whole_table_window(**options: int) -> IngestionConfig:
    """The packaged config with a lag window as old as the table: a few changed rows are then a
    small share of the window, which is when they are fetched by key."""
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    document["tables"]["messages"].update(lag_seconds=10 * 365 * 86_400, **options)
    return parse_config(document)


@pytest.fixture
def between_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Runs `hook` (once) when a messages window read of the SQLite reader has been read to its
    end (the no-change probe's or the run's own), i.e. between the version read and the fetch,
    and records the keys fetched by key."""
    spy: dict[str, Any] = {"hook": None, "fetched": []}
    window, rows = SqliteReader.read_window, SqliteReader.read_rows

    def read_window(self: SqliteReader, table: TableConfig, since: dt.datetime) -> Iterator[pa.Table]:
        yield from window(self, table, since)
        hook: Callable[[], None] | None = spy["hook"]
        if table.name == "messages" and hook is not None:
            spy["hook"] = None
            hook()

    def read_rows(self: SqliteReader, table: TableConfig, ids: Sequence[int]) -> Iterator[pa.Table]:
        if table.name == "messages":
            spy["fetched"].append(sorted(ids))
        yield from rows(self, table, ids)

    monkeypatch.setattr(SqliteReader, "read_window", read_window)
    monkeypatch.setattr(SqliteReader, "read_rows", read_rows)
    return spy


@dataclass
class _Meanwhile:
    """Messages of uk changed before a run (`updated`, `deleted`, the new `short_lived`) and
    again between its version read and its fetch: `updated` once more, `deleted` and
    `short_lived` deleted, `late` inserted."""

    newest: dt.datetime
    updated: int
    deleted: int
    short_lived: int
    late: int = 0


def _change_during_the_run(home: Home, between_reads: dict[str, Any]) -> _Meanwhile:
    source = _Source(home, "uk")
    newest = source.newest()
    updated, deleted = source.ids(2)
    touched = newest + dt.timedelta(minutes=1)
    source.execute("UPDATE messages SET status = 'read', updated_at = ? WHERE id IN (?, ?)",
                   (_naive(touched), updated, deleted))
    changes = _Meanwhile(newest, updated, deleted, source.insert(touched))

    def meanwhile() -> None:
        source.execute("UPDATE messages SET status = 'failed', updated_at = ? WHERE id = ?",
                       (_naive(newest + dt.timedelta(minutes=2)), updated))
        source.execute("DELETE FROM messages WHERE id IN (?, ?)", (deleted, changes.short_lived))
        changes.late = source.insert(newest + dt.timedelta(minutes=3))

    between_reads["hook"] = meanwhile
    return changes


def test_rows_changed_between_the_version_read_and_the_fetch(
    loaded_home: Home, between_reads: dict[str, Any]
) -> None:
    changes = _change_during_the_run(loaded_home, between_reads)
    before = _raw(loaded_home)
    run = {**RUN, "config": _whole_table_window()}
    report = loaded_home.ingest(reconcile=False, **run)  # the no-change probe's version read
    assert report.ok, report.summary()
    assert between_reads["hook"] is None, "the hook never ran: no version-first read"
    assert between_reads["fetched"] == [
        sorted([changes.updated, changes.deleted, changes.short_lived])
    ]
    raw = _raw(loaded_home)
    # The current row of the one updated again, nothing of the short-lived one, the deleted
    # one as it was (a hard delete is reconciliation's), the late one not yet.
    assert raw[changes.updated] == (
        "failed", (changes.newest + dt.timedelta(minutes=2)).replace(tzinfo=None)
    )
    assert raw[changes.deleted] == before[changes.deleted]
    assert changes.short_lived not in raw and changes.late not in raw
    assert report.rows_loaded == 1

    # The watermark is the version read's: the late row is above it, the newer version is
    # known (not loaded again).
    second = loaded_home.ingest(reconcile=False, **run)
    assert second.ok and second.rows_loaded == 1, second.summary()
    assert changes.late in _raw(loaded_home)
    third = loaded_home.ingest(reconcile=True, **run)
    assert third.ok and third.rows_deleted == 1, third.summary()
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])
    assert loaded_home.ingest(**run).unchanged


def test_a_run_that_reconciles_reads_its_own_versions_and_ends_equal(
    loaded_home: Home, between_reads: dict[str, Any]
) -> None:
    changes = _change_during_the_run(loaded_home, between_reads)
    # A forced reconciliation skips the no-change probe: the run reads the versions itself.
    report = loaded_home.ingest(reconcile=True, **RUN, config=_whole_table_window())
    assert report.ok, report.summary()
    assert between_reads["hook"] is None, "the hook never ran: no version-first read"
    assert between_reads["fetched"][0] == sorted(
        [changes.updated, changes.deleted, changes.short_lived]
    )
    # Reconciliation after the fetch finds the delete and the late row.
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])


def test_equal_cursors_at_a_chunk_edge_are_all_fetched(
    loaded_home: Home, between_reads: dict[str, Any]
) -> None:
    # Read three versions at a time: the seven equal stamps straddle chunk edges.
    config = _whole_table_window(chunk_rows=3)
    source = _Source(loaded_home, "uk")
    shared = source.newest() + dt.timedelta(minutes=1)
    ids = source.ids(7)
    source.execute(f"UPDATE messages SET status = 'read', updated_at = ? "
                   f"WHERE id IN ({', '.join('?' * len(ids))})", (_naive(shared), *ids))
    report = loaded_home.ingest(config=config, reconcile=False, **RUN)
    assert report.ok and report.rows_loaded == 7, report.summary()
    assert between_reads["fetched"] == [sorted(ids)]
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])

    # Committed afterwards with exactly the watermark (the shared stamp): still seen.
    again = source.insert(shared)
    report = loaded_home.ingest(config=config, reconcile=False, **RUN)
    assert report.ok and report.rows_loaded == 1, report.summary()
    assert between_reads["fetched"][-1] == [again]
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])


def test_a_big_delta_is_read_in_one_pass(loaded_home: Home, between_reads: dict[str, Any]) -> None:
    source = _Source(loaded_home, "uk")
    stamp = source.newest() + dt.timedelta(minutes=1)
    changed = source.execute("UPDATE messages SET status = 'read', updated_at = ?", (_naive(stamp),))
    report = loaded_home.ingest(reconcile=False, **RUN)
    assert report.ok and report.rows_loaded == changed > 0, report.summary()
    assert between_reads["fetched"] == []  # every row unknown: the window read whole instead
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])


def test_the_watermark_is_the_version_reads_not_the_fetchs(
    loaded_home: Home, between_reads: dict[str, Any]
) -> None:
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    document["tables"]["messages"]["lag_seconds"] = 0  # no lag: the watermark alone decides
    run = {**RUN, "config": parse_config(document)}
    source = _Source(loaded_home, "uk")
    start = source.newest() + dt.timedelta(minutes=1)
    ids = source.ids(21)
    source.execute(f"UPDATE messages SET updated_at = ? WHERE id IN ({', '.join('?' * 20)})",
                   (_naive(start), *ids[:20]))
    assert loaded_home.ingest(reconcile=False, **run).ok  # all new: one pass; watermark `start`
    moved, committed_meanwhile = ids[0], ids[20]
    source.execute("UPDATE messages SET status = 'read', updated_at = ? WHERE id = ?",
                   (_naive(start + dt.timedelta(microseconds=1)), moved))

    def meanwhile() -> None:
        # The fetch sees `moved` an hour later; `committed_meanwhile` gets a cursor between the
        # two: a watermark taken from the fetch would skip it for good.
        source.execute("UPDATE messages SET updated_at = ? WHERE id = ?",
                       (_naive(start + dt.timedelta(hours=1)), moved))
        source.execute("UPDATE messages SET status = 'read', updated_at = ? WHERE id = ?",
                       (_naive(start + dt.timedelta(minutes=30)), committed_meanwhile))

    between_reads["hook"] = meanwhile
    report = loaded_home.ingest(reconcile=False, **run)
    assert report.ok and report.rows_loaded == 1, report.summary()
    assert between_reads["fetched"] == [[moved]]
    assert loaded_home.ingest(reconcile=False, **run).rows_loaded == 1
    loaded_home.assert_raw_equals_source(instances=["uk"], tables=["messages"])
