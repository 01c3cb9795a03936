"""Property: whatever sequence of platform activity, faults and pipeline runs happens, after every
successful run raw (latest version per key) and the cleaned staging models equal the sources —
and, in the full matrix, after a `dbt build` the consumer marts equal the truth.

Sequences are drawn by hypothesis (simulator ticks, erasures, soft and hard deletes, plan changes,
bulk updates, late commits held open across runs, runs with forced reconciliation, runs SIGKILLed
at a random stage) on a random simulator seed; a failing one is shrunk and printed as a Python
list of steps (tests/faults/steps.py) that `test_replay_sequence` replays:

    TW_FAULT_SEQUENCE='[Tick(), Run(), ...]' pytest tests/faults/test_sequences.py -k replay

Ticks are 6 h and sequences short, so the simulated clock stays before the first local month end
(2026-06-30 14:00 UTC, Sydney): the organizations snapshot then sees every plan in force at every
closed month end and billing is exact (month ends are the oracle suite's subject, tests/oracle).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from reference_platform import operations
from tests.faults.crash import INGESTION_STAGES, KillPlan
from tests.faults.harness import FULL, FaultPipeline
from tests.faults.matrix import MATRIX
from tests.faults.steps import (
    BulkUpdate,
    ChangePlan,
    DeleteOrganization,
    Erase,
    LateCommit,
    Run,
    SoftDelete,
    Tick,
    parse_sequence,
)

INSTANCES = ("uk", "au", "fr")
LAG_SECONDS = 3600  # platforms/reference/tables.yml defaults.lag_seconds
# TW_FAULT_EXAMPLES=<n> draws n fresh random sequences (hunting; not derandomized).
EXAMPLES_OVERRIDE = int(os.environ.get("TW_FAULT_EXAMPLES", "0"))
MAX_EXAMPLES = EXAMPLES_OVERRIDE or (10 if FULL else 2)
MIN_STEPS, MAX_STEPS = (3, 8) if FULL else (3, 5)
# Full matrix: a dbt build and the marts oracle after every successful run.
BUILD_EVERY_RUN = FULL
_example = itertools.count()

instances = st.sampled_from(INSTANCES)
picks = st.integers(0, 10_000)
kills = st.builds(
    KillPlan, mode=st.sampled_from(["pause", "after"]), stage=st.sampled_from(INGESTION_STAGES),
    occurrence=st.integers(1, 3), delay=st.sampled_from([0.0, 0.2, 0.7]),
)
steps = st.one_of(
    st.just(Tick()),
    st.just(Tick()),
    st.builds(Run, reconcile=st.sampled_from([None, None, True]),
              kill=st.one_of(st.none(), st.none(), st.none(), kills)),
    st.builds(Erase, instances, picks),
    st.builds(SoftDelete, instances, picks),
    st.builds(ChangePlan, instances, picks, st.sampled_from(["free", "basic", "pro"])),
    st.builds(BulkUpdate, instances, st.integers(1, 3000)),
    st.builds(DeleteOrganization, instances, picks),
    # Up to the configured lag, the boundary itself included.
    st.builds(LateCommit, instances, st.sampled_from([1, 600, 1800, LAG_SECONDS]),
              st.integers(0, 2)),
)
sequences = st.lists(steps, min_size=MIN_STEPS, max_size=MAX_STEPS)


@dataclass
class Executor:
    """Runs steps against a pipeline, checking after every successful run."""

    pipeline: FaultPipeline
    sim_seed: int
    log: list[str] = field(default_factory=list)
    pending_hard_delete: bool = False

    def run(self, sequence: list[object]) -> None:
        for step in [*sequence, Run()]:  # always end with a plain run and its checks
            self.log.append(repr(step))
            note(f"step {len(self.log)}: {step!r}")
            getattr(self, f"_{type(step).__name__}")(step)

    def _Tick(self, step: Tick) -> None:
        self.pipeline.simulate(seed=self.sim_seed, ticks=1, tick_hours=6)

    def _Run(self, step: Run) -> None:
        MATRIX.runs += 1
        if step.kill is not None:
            reconcile = {None: "schedule", True: "yes"}[step.reconcile]
            child = self.pipeline.ingest_child(step.kill, reconcile=reconcile)
            if child.killed:
                MATRIX.kill(child.stage_group)
                return
            assert child.returncode == 0, child.output()
        else:
            report = self.pipeline.run_ingestion(reconcile=step.reconcile)
            assert report.ok, report.summary()
        if step.reconcile:
            self.pending_hard_delete = False
        self.check()

    def check(self) -> None:
        stale_ok = self.pending_hard_delete
        checks = self.pipeline.check_raw(stale_ok=stale_ok)
        checks += self.pipeline.check_staging(stale_ok=stale_ok)
        if BUILD_EVERY_RUN and not self.pending_hard_delete:
            self.pipeline.build()
            checks += self.pipeline.check_marts()
        MATRIX.count_check(checks.lost, checks.duplicated)
        assert checks.ok, f"after {self.log}:\n{checks.describe()}"

    def _pick(self, instance: str, sql: str, pick: int) -> int | None:
        ids = [r[0] for r in self.pipeline.source_query(instance, sql)]
        return ids[pick % len(ids)] if ids else None

    def _Erase(self, step: Erase) -> None:
        contact = self._pick(step.instance, "SELECT id FROM contacts ORDER BY id", step.pick)
        if contact is not None:
            operations.erase_contact(self.pipeline.source_url(step.instance), contact)

    def _SoftDelete(self, step: SoftDelete) -> None:
        org = self._pick(step.instance, "SELECT id FROM organizations WHERE deleted_at IS NULL "
                                        "ORDER BY id", step.pick)
        if org is not None:
            operations.soft_delete_organization(self.pipeline.source_url(step.instance), org)

    def _ChangePlan(self, step: ChangePlan) -> None:
        org = self._pick(step.instance, "SELECT id FROM organizations ORDER BY id", step.pick)
        if org is not None:
            operations.change_plan(self.pipeline.source_url(step.instance), org, step.plan)

    def _BulkUpdate(self, step: BulkUpdate) -> None:
        operations.bulk_update_messages(self.pipeline.source_url(step.instance), step.rows)

    def _DeleteOrganization(self, step: DeleteOrganization) -> None:
        org = self._pick(step.instance, "SELECT id FROM organizations ORDER BY id", step.pick)
        if org is not None:
            operations.delete_organization(self.pipeline.source_url(step.instance), org)
            self.pending_hard_delete = True

    def _LateCommit(self, step: LateCommit) -> None:
        held = operations.begin_late_commit(
            self.pipeline.source_url(step.instance), age_seconds=step.age_seconds)
        try:
            for _ in range(step.runs_while_open):
                self._Run(Run())  # the open transaction's rows are invisible to both sides
        except BaseException:
            held.rollback()
            raise
        held.commit()


def _execute(loaded: FaultPipeline, tmp_root, sim_seed: int, sequence: list[object]) -> None:
    pipeline = loaded.clone(tmp_root / f"sequence_{next(_example)}")
    try:
        Executor(pipeline, sim_seed).run(sequence)
    finally:
        # Keep disk use flat over many examples; a failing one is replayed from its printout.
        import shutil
        shutil.rmtree(pipeline.home, ignore_errors=True)


# Always run, whatever hypothesis draws: every kind of step, a late commit stamped exactly the
# lag behind and held open across a run, a kill inside load, a hard delete caught by reconciling.
RICH = [
    Tick(), LateCommit("au", LAG_SECONDS, 1), Erase("uk", 7), BulkUpdate("fr", 2500),
    Run(kill=KillPlan("after", "load:job_start", 2, 0.2)), Tick(), SoftDelete("au", 3),
    ChangePlan("fr", 1, "pro"), DeleteOrganization("uk", 2), Run(), Run(reconcile=True),
]


@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=not (FULL or EXAMPLES_OVERRIDE),
          print_blob=True, suppress_health_check=list(HealthCheck))
@given(sim_seed=st.integers(1, 10_000), sequence=sequences)
@example(sim_seed=4242, sequence=RICH)
def test_random_sequences_keep_raw_staging_and_marts_exact(
    loaded: FaultPipeline, tmp_path_factory: pytest.TempPathFactory, sim_seed: int,
    sequence: list[object],
) -> None:
    MATRIX.sequences += 1
    _execute(loaded, tmp_path_factory.getbasetemp(), sim_seed, sequence)
    MATRIX.scenario("random sequences (hypothesis)",
                    f"{MATRIX.sequences} sequences, every run exact"
                    + (", marts after every run" if BUILD_EVERY_RUN else ""))


@pytest.mark.skipif(not os.environ.get("TW_FAULT_SEQUENCE"), reason="set TW_FAULT_SEQUENCE")
def test_replay_sequence(loaded: FaultPipeline, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Replay a printed sequence: TW_FAULT_SEQUENCE='[...]', TW_FAULT_SIM_SEED=<sim_seed>."""
    sequence = parse_sequence(os.environ["TW_FAULT_SEQUENCE"])
    _execute(loaded, tmp_path_factory.getbasetemp(),
             int(os.environ.get("TW_FAULT_SIM_SEED", "1")), sequence)
