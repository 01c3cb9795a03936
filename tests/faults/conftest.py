"""Fixtures of the fault matrix.

`TW_FAULT_MATRIX=full` (`make fault-matrix`) runs the whole matrix; unset, every scenario runs at
a small size that fits `make test` (see docs/reliability.md for both sizes and their runtimes).

`loaded` (session): a home in which the reference platform (three SQLite instances) was generated,
ingested and built once (staging views, seeds and the first organizations snapshot exist); every
scenario starts from a clone of it (a file copy), so only the runs a scenario is about are paid.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import FULL, FaultPipeline
from tests.faults.matrix import MATRIX

SEED = 7
SCALE = 0.002
# What the first build creates: seeds, staging views (checked after every run) and the first
# organizations snapshot (billing's plan history starts there). Marts come with the full builds.
BASE_BUILD = ("build", "--select", "resource_type:seed", "+organizations_snapshot", "staging")


def make_loaded(home: Path, seed: int, scale: float = SCALE) -> FaultPipeline:
    pipeline = FaultPipeline(home=home)
    pipeline.generate(seed=seed, scale=scale)
    pipeline.ingest(reconcile=None)
    pipeline.dbt(*BASE_BUILD)
    return pipeline


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> FaultPipeline:
    return make_loaded(tmp_path_factory.mktemp("faults_loaded"), SEED)


@pytest.fixture
def fresh(loaded: FaultPipeline, tmp_path: Path) -> FaultPipeline:
    """A private clone of the loaded home."""
    return loaded.clone(tmp_path / "home")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The matrix's counts, printed at the end of the session (docs/reliability.md quotes them)."""
    if not MATRIX.scenarios:
        return
    terminalreporter.section(f"fault matrix ({'full' if FULL else 'default size'})")
    for line in MATRIX.lines():
        terminalreporter.write_line(line)
