"""Equal timestamps: 10,000 rows updated in one statement (one shared updated_at) read in chunks
of 3,000, so equal cursors straddle every chunk edge; a row committed later with exactly the
watermark's timestamp; and updates of one row that differ below a millisecond."""

from __future__ import annotations

import copy
import datetime as dt
import sqlite3
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from ingestion.config import DEFAULT_PATH, parse_config
from tests.faults.harness import FaultPipeline
from tests.faults.matrix import MATRIX

ROWS = 10_000
CHUNK = 3_000


def _execute(pipeline: FaultPipeline, instance: str, sql: str, params: tuple = ()) -> int:
    connection = sqlite3.connect(Path(make_url(pipeline.source_url(instance)).database),
                                 isolation_level=None)
    try:
        return connection.execute(sql, params).rowcount
    finally:
        connection.close()


def _text(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _assert_exact(pipeline: FaultPipeline) -> None:
    checks = pipeline.check_raw(tables=["messages"], instances=["fr"])
    checks += pipeline.check_staging()
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()


def test_ten_thousand_equal_timestamps_across_chunk_edges(fresh: FaultPipeline) -> None:
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    document["tables"]["messages"]["chunk_rows"] = CHUNK
    run = dict(config=parse_config(document), tables=["messages"], instances=["fr"])
    (newest,) = fresh.source_query("fr", "SELECT max(updated_at) FROM messages")[0]
    base = dt.datetime.fromisoformat(newest)
    created = _text(base + dt.timedelta(minutes=1))
    _execute(fresh, "fr",
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
             "INSERT INTO messages (organization_id, contact_id, direction, status, body, "
             "created_at, updated_at) SELECT 1, 1, 'outbound', 'sent', 'hello', ?, ? FROM n",
             (ROWS, created, created))
    first = fresh.run_ingestion(**run)
    assert first.ok, first.summary()

    # One statement gives all 10,000 (and nothing else) one new updated_at.
    shared = _text(base + dt.timedelta(minutes=2))
    touched = _execute(fresh, "fr", "UPDATE messages SET status = 'delivered', updated_at = ? "
                                    "WHERE body = 'hello' AND created_at = ?", (shared, created))
    assert touched == ROWS
    report = fresh.run_ingestion(**run)
    assert report.ok, report.summary()
    counts = report.tables[("fr", "messages")]
    assert counts.rows_loaded == ROWS and counts.rows_extracted >= ROWS
    _assert_exact(fresh)

    # Committed afterwards with exactly the watermark: the inclusive start still sees it.
    _execute(fresh, "fr", "INSERT INTO messages (organization_id, contact_id, direction, status,"
                          " body, created_at, updated_at) VALUES (1, 1, 'inbound', 'received', "
                          "'same instant', ?, ?)", (shared, shared))
    report = fresh.run_ingestion(**run)
    assert report.ok and report.rows_loaded == 1, report.summary()
    _assert_exact(fresh)

    # Sub-millisecond: one row updated 300 µs and then 400 µs later (the same millisecond).
    row = fresh.source_query("fr", "SELECT min(id) FROM messages WHERE body = 'hello'")[0][0]
    for micros, status in ((300, "read"), (700, "failed")):
        at = _text(base + dt.timedelta(minutes=3, microseconds=micros))
        _execute(fresh, "fr", "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?",
                 (status, at, row))
        report = fresh.run_ingestion(**run)
        assert report.ok and report.rows_loaded == 1, report.summary()
        _assert_exact(fresh)
    MATRIX.runs += 5
    MATRIX.scenario("equal timestamps", f"{ROWS} rows with one updated_at over {CHUNK}-row chunks, "
                    "a row at the watermark, updates 400 µs apart: raw and staging exact")
