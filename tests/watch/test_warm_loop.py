"""The warm watch loop (`warehouse run --watch`, cycle_build.watch): several cycles in one
process, dbt run in-process with the parsed project kept, every cycle journaled and exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tenant_warehouse.monitoring.journal import Journal
from tests.faults.harness import FaultPipeline

SEED = 11
SCALE = 0.002
BASE_BUILD = ("build", "--select", "resource_type:seed", "+organizations_snapshot", "staging")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> FaultPipeline:
    pipeline = FaultPipeline(home=tmp_path_factory.mktemp("watch_loaded"))
    pipeline.generate(seed=SEED, scale=SCALE)
    pipeline.ingest(reconcile=None)
    pipeline.dbt(*BASE_BUILD)
    return pipeline


@pytest.fixture
def fresh(loaded: FaultPipeline, tmp_path: Path) -> FaultPipeline:
    return loaded.clone(tmp_path / "home")


def test_the_warm_loop_runs_cycles_in_one_process_and_ends_exact(
    fresh: FaultPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenant_warehouse import dbt_runner
    from tenant_warehouse.cycle_build import watch

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"dbt started as a child process in the warm loop: {args[:1]}")

    monkeypatch.setattr(dbt_runner, "start_child", no_child)
    monkeypatch.delenv("TW_ALERT_URLS", raising=False)
    fresh.simulate(seed=SEED, ticks=1, tick_hours=6)
    between = []

    def activity(_: float) -> None:  # the pause between cycles: the platform goes on
        between.append(1)
        fresh.simulate(seed=SEED + len(between), ticks=1, tick_hours=6)

    with fresh.environment() as settings:
        summary = watch(settings, "duckdb", None, interval=0, cycles=2, sleep=activity)
        journal = Journal(settings).latest(10)
    monkeypatch.undo()  # the checks below run dbt as the other tests do
    assert (summary.cycles, summary.failed) == (2, 0), summary
    # Parsed once, reused by every later call (parsed again only if someone edits the project
    # meanwhile: the working tree is shared).
    assert summary.dbt_parses[0] == "new settings", summary
    assert set(summary.dbt_parses[1:]) <= {"project changed"}, summary
    assert len(summary.dbt_parses) < summary.dbt_invocations, summary
    # Each cycle: `dbt source freshness` and a build (the first whole, then what changed).
    assert summary.dbt_invocations >= 4, summary
    runs = [entry for entry in journal if entry.command == "run"]
    assert [entry.status for entry in runs[:2]] == ["ok"] * 2, runs  # newest first
    checks = fresh.check_all()  # raw, staging, facts and metric marts equal the truth
    assert checks.ok, checks.describe()


def _count(settings: object, sql: str) -> int:
    from tenant_warehouse.warehouse_sql import connect, query

    with connect(settings, "duckdb") as connection:  # type: ignore[arg-type]
        return int(query(connection, sql)[0][0])


def _runs(settings: object, resource: str) -> int:
    import dlt

    from ingestion.pipeline import pipeline_name
    from ingestion.platform_source import SOURCE_NAME

    pipeline = dlt.pipeline(pipeline_name=pipeline_name("duckdb"),
                            pipelines_dir=str(settings.pipelines_dir))  # type: ignore[attr-defined]
    return int(pipeline.state["sources"][SOURCE_NAME]["resources"][resource]["runs"])


def test_a_run_with_no_change_is_recorded_without_dlt_and_leaves_raw_untouched(
    fresh: FaultPipeline,
) -> None:
    from ingestion.config import load_config
    from ingestion.pipeline import SKIPPED_RUNS_FILE, run_ingestion
    from tenant_warehouse.cycle_build import changed_tables, raw_signatures

    with fresh.environment() as settings:
        tables = list(load_config().tables)
        signatures = raw_signatures(settings, "duckdb", tables)
        loads = _count(settings, "select count(*) from raw._dlt_loads")
        runs = _runs(settings, "uk__messages")
        report = run_ingestion(settings, destination="duckdb")
        assert report.ok and report.unchanged, report.summary()
        # Every table of every instance recorded, contacts and order_items reconciled too.
        assert {(r.instance_id, r.table_name) for r in report.records} == {
            (i, t) for i in ("uk", "au", "fr") for t in tables}
        assert any(r.is_reconciliation and r.status == "success" for r in report.records)
        assert report.rows_extracted > 0 and report.rows_loaded == 0
        logged = _count(settings, "select count(*) from raw._tw_ingestion_runs "
                                  f"where run_id = '{report.run_id}'")
        assert logged == len(report.records)
        assert _count(settings, "select count(*) from raw._dlt_loads") == loads  # no dlt load
        # Raw's tables are as they were: the cycle's build plan finds nothing to build.
        assert not changed_tables(signatures, raw_signatures(settings, "duckdb", tables))
        assert (settings.home / SKIPPED_RUNS_FILE).exists()

        # One row of one table changed: the run loads it and reads no other table again.
        with sqlite3.connect(fresh.home / "source" / "uk.sqlite") as source:
            source.execute("UPDATE messages SET status = 'read', updated_at = (SELECT "
                           "max(updated_at) FROM messages) WHERE id = (SELECT min(id) FROM messages)")
        orders = _runs(settings, "uk__orders")
        report = run_ingestion(settings, destination="duckdb")
        assert report.ok and not report.unchanged and report.rows_loaded == 1, report.summary()
        assert {(r.instance_id, r.table_name) for r in report.records if r.rows_loaded} == {
            ("uk", "messages")}
        assert len({(r.instance_id, r.table_name, r.is_reconciliation)
                    for r in report.records}) == len(report.records)
        logged = _count(settings, "select count(*) from raw._tw_ingestion_runs "
                                  f"where run_id = '{report.run_id}'")
        assert logged == len(report.records)
        assert _runs(settings, "uk__orders") == orders + 2  # the skipped run and this one
        after = _count(settings, "select count(*) from raw._dlt_loads")
        assert after > loads  # dlt ran: the data's package and the run records'
        loads = after
        runs = _runs(settings, "uk__messages")

    fresh.simulate(seed=SEED + 100, ticks=1, tick_hours=6)
    with fresh.environment() as settings:
        report = run_ingestion(settings, destination="duckdb")
        assert report.ok and not report.unchanged and report.rows_loaded > 0, report.summary()
        assert _count(settings, "select count(*) from raw._dlt_loads") > loads
        # Every run counts towards reconcile_every, skipped or not: committed with the loads.
        assert _runs(settings, "uk__messages") == runs + 1
        assert not (settings.home / SKIPPED_RUNS_FILE).exists()
    checks = fresh.check_raw()
    assert checks.ok, checks.describe()
