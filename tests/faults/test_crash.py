"""Crash injection: SIGKILL the ingestion process at random points of extract, normalize, load and
state commit, and dbt build mid-run; run again; nothing is lost or duplicated, marts are exact.

Ingestion runs as a child process (tests/faults/crash_driver.py: run_ingestion, unchanged, with
stage markers on stdout). Each kill is one of: stopped dead at a stage boundary (`pause`), killed
a random delay after a boundary (`after`, so inside the next stage), or killed a random delay
after start (`time`, calibrated on an uninterrupted run). The platform keeps moving between kills
(ticks, erasures, bulk updates), kills often hit the recovery run itself, and after every
recovery raw and the staging views are compared with the sources.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.faults.crash import INGESTION_STAGES, STAGE_GROUPS, KillPlan
from tests.faults.harness import FULL, FaultPipeline
from tests.faults.matrix import MATRIX

INGESTION_KILLS = 56 if FULL else 6
DBT_KILLS = 4 if FULL else 1
SIM_SEED = 101
GROUPS = ("extract", "normalize", "load", "state commit")
# Markers seen more than once per run: the kill targets one of the first few.
REPEATED = {"extract:batch": 12, "extract:table": 18, "load:job_start": 12, "load:job_done": 12,
            "state:save": 2}


def kill_plans(rng: random.Random, count: int, run_seconds: float) -> list[KillPlan]:
    """`count` plans spread evenly over the four stage groups; one in four is purely timed."""
    plans = []
    for index in range(count):
        if index % 4 == 3:
            plans.append(KillPlan("time", delay=rng.uniform(0.3, run_seconds)))
            continue
        group = GROUPS[index % len(GROUPS)]
        stage = rng.choice([s for s in INGESTION_STAGES if STAGE_GROUPS[s] == group])
        occurrence = rng.randint(1, REPEATED.get(stage, 1))
        if rng.random() < 0.5:
            plans.append(KillPlan("pause", stage, occurrence))
        else:
            plans.append(KillPlan("after", stage, occurrence, rng.uniform(0.0, 1.0)))
    rng.shuffle(plans)
    return plans


def check(pipeline: FaultPipeline, where: str, stale_ok: bool = False) -> None:
    checks = pipeline.check_raw(stale_ok=stale_ok) + pipeline.check_staging(stale_ok=stale_ok)
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, f"{where}:\n{checks.describe()}"


def test_ingestion_killed_at_random_points_loses_and_duplicates_nothing(
    fresh: FaultPipeline,
) -> None:
    rng = random.Random(20261)
    calibration = fresh.ingest_child(None)
    assert calibration.returncode == 0, calibration.output()
    plans = kill_plans(rng, INGESTION_KILLS, calibration.seconds)
    killed, landed = 0, []
    for index, plan in enumerate(plans):
        if rng.random() < 0.6:
            fresh.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)
        if rng.random() < 0.1:
            contact = fresh.source_query("uk", "SELECT max(id) FROM contacts")[0][0]
            from reference_platform.operations import erase_contact
            erase_contact(fresh.source_url("uk"), contact)
        run = fresh.ingest_child(plan)
        MATRIX.runs += 1
        if run.killed:
            killed += 1
            MATRIX.kill(run.stage_group)
            landed.append(f"{plan.describe()} -> landed in {run.last_stage}")
        else:
            assert run.returncode == 0, f"{plan.describe()}: run failed\n{run.output()}"
        if rng.random() < 0.35 or index == len(plans) - 1:
            recovery = fresh.ingest_child(None)
            MATRIX.runs += 1
            assert recovery.returncode == 0, (
                f"recovery after {plan.describe()} failed:\n{recovery.output()}")
            check(fresh, f"after kill #{index} ({plan.describe()})")
    # A run with nothing new after all that: still exact, and nothing left pending.
    final = fresh.run_ingestion(reconcile=True)
    assert final.ok, final.summary()
    check(fresh, "final reconciled run")
    # Nothing a killed run wrote is left behind (rows, hashed personal data included).
    assert not fresh.leftover_files(), fresh.leftover_files()[:5]
    # A plan misses when the run ends before its moment (fast machine, few batches to read).
    assert killed >= INGESTION_KILLS / 2, landed
    MATRIX.scenario("crash: ingestion SIGKILL",
                    f"{killed} kills, 0 lost, 0 duplicated, raw and staging exact")


# Where a kill leaves the most half-done: each commit point of dlt's steps, exactly (the
# default size keeps the two that needed a fix and the commit of the load with its state).
COMMIT_POINTS = (["extract:table", "state:save", "extract:end", "normalize:commit",
                  "load:job_done", "load:package"] if FULL
                 else ["extract:table", "normalize:commit", "load:package"])


@pytest.mark.parametrize("stage", COMMIT_POINTS)
def test_a_kill_exactly_at_a_commit_point_is_recovered(fresh: FaultPipeline, stage: str) -> None:
    fresh.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)
    run = fresh.ingest_child(KillPlan("pause", stage, 1))
    assert run.killed, run.output()
    MATRIX.runs += 1
    MATRIX.kill(run.stage_group)
    recovery = fresh.ingest_child(None)
    assert recovery.returncode == 0, recovery.output()
    check(fresh, f"after a kill at {stage}")
    assert not fresh.leftover_files(), fresh.leftover_files()[:5]
    MATRIX.scenario(f"crash: SIGKILL exactly at {stage}", "next run recovers, raw exact")


@pytest.mark.skipif(not FULL, reason="full matrix only (the default size kills one build in "
                    "test_faults_end_to_end.py)")
def test_dbt_build_killed_mid_run_then_rebuilt_is_exact(fresh: FaultPipeline) -> None:
    """Kill `dbt build` while it builds (marts, incremental facts, snapshots), with activity and
    ingestion between kills, then build again: marts equal the truth, incremental facts hold
    every current row once, the snapshot has one current version per organization."""
    rng = random.Random(20262)
    fresh.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)
    fresh.ingest(reconcile=None)
    for _ in range(DBT_KILLS):
        # Somewhere in the middle of the DAG: node numbers of a build run to ~340.
        plan = KillPlan("after", "node", rng.randint(40, 330), rng.uniform(0.0, 0.5))
        run, _ = fresh.build_child(plan)
        MATRIX.runs += 1
        if run.killed:
            MATRIX.kill("dbt build")
        if FULL:
            fresh.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)
            fresh.ingest(reconcile=None)
    run, result = fresh.build_child(None)
    assert result.ok, result.output[-6000:]
    checks = fresh.check_all()
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()
    assert_snapshot_consistent(fresh)
    MATRIX.scenario("crash: dbt build SIGKILL", f"{DBT_KILLS} kills, rebuild exact (marts, facts, "
                    "snapshot)")


def assert_snapshot_consistent(pipeline: FaultPipeline) -> None:
    from tenant_warehouse.warehouse_sql import connect, query

    with pipeline.environment() as settings, connect(settings, pipeline.warehouse) as con:
        current = query(con, "select instance_id, organization_id, count(*) from "
                             "snapshots.organizations_snapshot where dbt_valid_to is null "
                             "group by 1, 2 having count(*) > 1")
        versions = query(con, "select instance_id, organization_id, dbt_valid_from, count(*) "
                              "from snapshots.organizations_snapshot group by 1, 2, 3 "
                              "having count(*) > 1")
    assert not current, f"organizations with several current snapshot rows: {current[:5]}"
    assert not versions, f"duplicate snapshot versions: {versions[:5]}"


PARENT_KILLS = 4


@pytest.mark.skipif(not FULL, reason="full matrix only (the default size kills the parent once "
                    "in test_no_silent_failure.py)")
def test_the_cycle_killed_at_random_points_leaves_nothing_running(fresh: FaultPipeline) -> None:
    """`kill -9` of `warehouse run` itself (the parent, not a child) at a random time after it
    starts, in ingestion or its dbt build, with activity between kills: no child survives it,
    each kill is shown interrupted, the next cycle recovers, and raw and marts are exact."""
    from tests.faults.test_no_silent_failure import Cycle, alive, cli

    rng = random.Random(20263)
    for _ in range(PARENT_KILLS):
        fresh.simulate(seed=SIM_SEED, ticks=1, tick_hours=6)
        cycle = Cycle(fresh, *(["--full-build"] if rng.random() < 0.5 else []))
        deadline = time.monotonic() + 300
        while not any(line.startswith("== ") for line in cycle.lines):  # journaled, ingesting
            assert time.monotonic() < deadline and cycle.process.poll() is None, cycle.lines
            time.sleep(0.05)
        if rng.random() < 0.5:
            cycle.dbt_started.wait(600)
        time.sleep(rng.uniform(0.0, 3.0))
        children = cycle.dbt_children()
        os.kill(cycle.process.pid, signal.SIGKILL)
        cycle.process.wait()
        MATRIX.runs += 1
        MATRIX.kill("warehouse run (parent)")
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in children), "a child outlived the killed cycle"
        assert "INTERRUPTED" in cli(fresh, "status").stdout
    recovery = cli(fresh, "run")
    assert recovery.returncode == 0, recovery.stdout[-4000:]
    checks = fresh.check_all()
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()
    MATRIX.scenario("crash: `warehouse run` SIGKILL (the parent)",
                    f"{PARENT_KILLS} kills, no child left, next cycle exact")
