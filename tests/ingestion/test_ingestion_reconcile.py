"""Key reconciliation: what differs between the source and raw, range by range."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.config import ColumnConfig, TableConfig, load_config
from ingestion.destination import raw_bucket_sql
from ingestion.extract import drop_known
from ingestion.readers.sqlite import SqliteReader
from ingestion.reconcile import bucket_range, checksums, compare, differing_ranges, key_ranges

CONTACTS = load_config().tables["contacts"]
TS = pa.timestamp("us", tz="UTC")


def _versions(pairs: dict[int, int | None]) -> pa.Table:
    stamp = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": pa.array(list(pairs), pa.int64()),
            "updated_at": pa.array(
                [None if s is None else stamp + dt.timedelta(seconds=s) for s in pairs.values()], TS
            ),
        }
    )


def test_compare_finds_deletes_late_commits_and_missing_rows() -> None:
    source = _versions({1: 10, 2: 20, 3: 30, 4: None, 6: 60})
    raw = _versions({1: 10, 2: 25, 4: None, 5: 50, 6: None})
    found = compare(source, raw, CONTACTS)
    assert found.deleted.to_pylist() == [5]
    assert sorted(found.changed.to_pylist()) == [2, 3, 6]  # other cursor, missing, null vs set


def test_compare_never_emits_keys_already_loaded_in_this_run() -> None:
    source = _versions({1: 10, 3: 30})
    raw = _versions({1: 11, 2: 20})
    found = compare(source, raw, CONTACTS, exclude=pa.array([1, 2], pa.int64()))
    assert found.deleted.to_pylist() == []
    assert found.changed.to_pylist() == [3]


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(-1_000, 1_000),
    span=st.integers(0, 5_000),
    count=st.integers(1, 5_000),
    range_rows=st.integers(1, 2_000),
    probe=st.integers(-10_000, 10_000),
)
def test_key_ranges_cover_every_key_exactly_once(
    low: int, span: int, count: int, range_rows: int, probe: int
) -> None:
    ranges = key_ranges((low, low + span, count), range_rows)
    hits = [
        (start, end) for start, end in ranges
        if (start is None or probe >= start) and (end is None or probe < end)
    ]
    assert len(hits) == 1
    assert ranges[0][0] is None and ranges[-1][1] is None


def test_an_empty_source_compares_everything_in_one_range() -> None:
    assert key_ranges(None) == [(None, None)]
    found = compare(_versions({}), _versions({7: 1, 8: 2}), CONTACTS)
    assert sorted(found.deleted.to_pylist()) == [7, 8]


def test_rows_raw_already_holds_are_dropped_from_the_lag_window() -> None:
    batch = _versions({1: 10, 2: 20, 3: 30, 4: 40, 5: None}).append_column(
        "name", pa.array(["a", "b", "c", "d", "e"])
    )
    known = _versions({2: 20, 3: 31, 4: 40, 9: 90})
    kept = drop_known(batch, known, CONTACTS)
    # 3 changed cursor, 1 and 5 are new: kept in read order; 2 and 4 are already in raw.
    assert kept.column("id").to_pylist() == [1, 3, 5]
    assert kept.column("name").to_pylist() == ["a", "c", "e"]
    assert drop_known(batch, _versions({}), CONTACTS).num_rows == 5


# --- bucketed checksums ----------------------------------------------------------------------


@given(key=st.integers(-(10**9), 10**9), width=st.integers(1, 10**6))
def test_bucket_range_holds_exactly_the_keys_of_its_bucket(key: int, width: int) -> None:
    bucket = -(abs(key) // width) if key < 0 else key // width  # truncation toward zero
    low, high = bucket_range(bucket, width)
    assert low <= key < high


def test_only_buckets_that_differ_are_compared() -> None:
    source = {0: (5, 10), 1: (5, 11), 2: (5, 12), 3: (5, 13), 7: (1, 1)}
    raw = {0: (5, 10), 1: (4, 11), 2: (5, 99), 3: (5, 13), 9: (1, 1)}
    assert differing_ranges(source, raw, width=10, max_buckets=50) == [
        (10, 30), (70, 80), (90, 100)
    ]
    # Neighbours merge, but never into more than max_buckets per range.
    assert differing_ranges(source, raw, width=10, max_buckets=1) == [
        (10, 20), (20, 30), (70, 80), (90, 100)
    ]


def _reference_checksums(rows: list[tuple[int, dt.datetime]], width: int) -> dict[int, tuple[int, int]]:
    """The definition in readers.base.bucket_checksum_sql, in Python."""
    out: dict[int, tuple[int, int]] = {}
    for key, cursor in rows:
        bucket = -(abs(key) // width) if key < 0 else key // width
        seconds = int(cursor.timestamp() // 1)
        row = ((key % 1000003 if key >= 0 else -(-key % 1000003)) * 2654435
               + (seconds % 1000000007) * 31) % 2147483647
        count, total = out.get(bucket, (0, 0))
        out[bucket] = (count + 1, total + row)
    return out


def test_sqlite_and_duckdb_compute_the_same_bucket_checksums(tmp_path: Path) -> None:
    rows = [
        (key, dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=key * 37.25))
        for key in [*range(-30, 0), *range(1, 400), 1_000_003, 2_500_000]
    ]
    width = 50
    sqlite_path = tmp_path / "source.sqlite"
    conn = sqlite3.connect(sqlite_path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(k, c.strftime("%Y-%m-%d %H:%M:%S.%f")) for k, c in rows],
    )
    conn.commit()
    conn.close()
    table = TableConfig(
        name="t", primary_key="id", cursor="updated_at",
        columns=(ColumnConfig("id", "bigint"), ColumnConfig("updated_at", "timestamp")),
    )
    with SqliteReader("uk", str(sqlite_path)) as reader:
        from_sqlite = reader.bucket_checksums(table, width)

    warehouse = duckdb.connect()
    warehouse.execute(
        "CREATE TABLE t (instance_id VARCHAR, id BIGINT, updated_at TIMESTAMPTZ)"
    )
    warehouse.executemany("INSERT INTO t VALUES ('uk', ?, ?)", [list(r) for r in rows])
    sql = raw_bucket_sql("duckdb", table, "t", width).replace("%s", "?")
    from_duckdb = {
        int(b): (int(c), int(h)) for b, c, h in warehouse.execute(sql, ["uk"]).fetchall()
    }
    versions = pa.table({
        "id": pa.array([k for k, _ in rows], pa.int64()),
        "updated_at": pa.array([c for _, c in rows], pa.timestamp("us", tz="UTC")),
    })
    assert from_sqlite == from_duckdb == _reference_checksums(rows, width)
    # The same numbers computed over arrow rows (what a run takes out for the rows it loads).
    assert checksums(versions, table, width) == from_duckdb
    assert len(from_duckdb) > 5


def test_the_bigquery_checksum_query_is_bigquery_sql() -> None:
    import sqlglot

    table = load_config().tables["orders"]
    sql = raw_bucket_sql("bigquery", table, "`project.raw.orders`", 20_000).replace("%s", "'uk'")
    parsed = sqlglot.parse_one(sql, read="bigquery")
    assert parsed is not None
    assert "DIV(id, 20000)" in sql and "UNIX_SECONDS(updated_at)" in sql and "%" not in sql
