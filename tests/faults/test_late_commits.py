"""Late commits: a transaction held open across runs that commits rows stamped older than the last
watermark (up to the configured lag, the boundary included); ids allocated before a commit that
lands later (PostgreSQL, two concurrent writers); and what happens beyond the lag: the scheduled
reconciliation (`reconcile_every`) loads it. The end-to-end version, through the marts, is in
test_faults_end_to_end.py."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import yaml

from ingestion.config import DEFAULT_PATH, parse_config
from reference_platform.operations import begin_late_commit
from tests.faults.harness import FaultPipeline
from tests.faults.matrix import MATRIX
from tests.faults.test_faults_end_to_end import late_orders
from tests.support.pg import PgDatabaseFactory

LAG_SECONDS = 3600
TABLES = ["orders", "order_items", "messages"]


def assert_raw_exact(pipeline: FaultPipeline, instances: list[str] | None = None) -> None:
    checks = pipeline.check_raw(tables=TABLES, instances=instances)
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()


@pytest.mark.parametrize("age_seconds", [1, 1800, LAG_SECONDS], ids=["1s", "half-lag", "lag"])
def test_a_commit_held_open_across_a_run_is_not_missed(
    fresh: FaultPipeline, age_seconds: int
) -> None:
    held = begin_late_commit(fresh.source_url("au"), age_seconds=age_seconds, orders=2, messages=3)
    try:
        during = fresh.run_ingestion(tables=TABLES, instances=["au"])
        assert during.ok, during.summary()
        assert_raw_exact(fresh, ["au"])  # the open transaction is invisible on both sides
    finally:
        held.commit()
    # The watermark passed the late rows' updated_at while they were invisible: the next run
    # still reads them, from `watermark - lag` (inclusive).
    after = fresh.run_ingestion(tables=TABLES, instances=["au"], reconcile=False)
    assert after.ok, after.summary()
    assert after.tables[("au", "orders")].rows_loaded == 2
    assert after.tables[("au", "messages")].rows_loaded == 3
    assert_raw_exact(fresh, ["au"])
    MATRIX.runs += 2
    MATRIX.scenario(f"late commit held open, {age_seconds}s behind",
                    "committed after a run passed it; next run loads it, raw exact")


def test_beyond_the_lag_the_scheduled_reconciliation_loads_it(fresh: FaultPipeline) -> None:
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text()))
    document["defaults"]["reconcile_every"] = 3  # the packaged 60, compressed for the test
    config = parse_config(document)
    run = dict(config=config, tables=TABLES, instances=["uk"])
    assert fresh.run_ingestion(**run).ok
    # One second beyond the lag behind each table's watermark.
    late = late_orders(fresh, "uk", LAG_SECONDS + 1)
    missed = fresh.run_ingestion(**run)
    assert missed.ok and missed.rows_loaded == 0, missed.summary()
    lost = fresh.check_raw(tables=["orders", "messages"], instances=["uk"])
    assert sorted(k for t in lost.tables for k in t.lost) == sorted(
        ("uk", i) for ids in late.values() for i in ids)
    # Runs go on; the table's reconciliation comes due and loads them.
    for _ in range(3):
        report = fresh.run_ingestion(**run)
        assert report.ok, report.summary()
        if any(r.is_reconciliation and r.table_name == "orders" for r in report.records):
            break
    recon = next(r for r in report.records if r.is_reconciliation and r.table_name == "orders")
    assert recon.status == "success" and recon.rows_extracted == 2
    assert_raw_exact(fresh, ["uk"])
    MATRIX.runs += 5
    MATRIX.scenario("late commit beyond the lag (schedule)",
                    "missed by incremental runs; the next scheduled reconciliation loads it")


def test_ids_allocated_before_a_commit_that_lands_later(
    tmp_path: Path, pg_database: PgDatabaseFactory
) -> None:
    """Two writers on PostgreSQL: A takes an id and stays open, B takes the next id and commits
    with a later updated_at; a run sees B (the watermark passes A's time); A commits; the next
    run must load A."""
    source = pg_database("tw_fault_late")
    pipeline = FaultPipeline(home=tmp_path / "home", env={"TW_SOURCE_UK_URL": source.url},
                             instances=("uk",))
    pipeline.generate(seed=5, scale=0.001)
    assert pipeline.run_ingestion(instances=["uk"], tables=TABLES).ok
    (newest,) = pipeline.source_query("uk", "SELECT max(updated_at) FROM orders")[0]
    stamp_a = newest + dt.timedelta(seconds=10)
    stamp_b = newest + dt.timedelta(seconds=20)
    insert = ("INSERT INTO orders (organization_id, contact_id, state, total_cents, created_at, "
              "completed_at, updated_at) VALUES (1, 1, 'complete', %s, %s, %s, %s) RETURNING id")
    writer_a, writer_b = source.connect(autocommit=False), source.connect(autocommit=False)
    try:
        with writer_a.cursor() as cursor:
            cursor.execute(insert, (1111, stamp_a, stamp_a, stamp_a))
            (id_a,) = cursor.fetchone()
        with writer_b.cursor() as cursor:
            cursor.execute(insert, (2222, stamp_b, stamp_b, stamp_b))
            (id_b,) = cursor.fetchone()
        writer_b.commit()
        assert id_a < id_b
        seen = pipeline.run_ingestion(instances=["uk"], tables=TABLES)
        assert seen.ok and seen.tables[("uk", "orders")].rows_loaded == 1, seen.summary()
        writer_a.commit()
    finally:
        writer_a.close()
        writer_b.close()
    after = pipeline.run_ingestion(instances=["uk"], tables=TABLES, reconcile=False)
    assert after.ok and after.tables[("uk", "orders")].rows_loaded == 1, after.summary()
    assert_raw_exact(pipeline, ["uk"])
    MATRIX.runs += 3
    MATRIX.scenario("ids allocated before a later commit (PostgreSQL)",
                    "lower id committed after a higher one was loaded: next run loads it")
