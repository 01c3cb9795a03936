"""Scenario pipelines are expensive (several dbt builds): build each once per session."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.pipeline import Pipeline

# (seed, scale, ticks): ticks of 24 h from 2026-06-28 cross the June/July month end.
SCENARIOS = [(11, 0.01, 4), (29, 0.006, 5)]


def run_scenario(pipeline: Pipeline, seed: int, scale: float, ticks: int) -> Pipeline:
    """Generate, then after every tick run the pipeline as a schedule would (ingest with
    reconciliation and the organizations snapshot); one full build at the end."""
    pipeline.generate(seed=seed, scale=scale)
    pipeline.ingest()
    pipeline.snapshot()
    for _ in range(ticks):
        pipeline.simulate(seed=seed, ticks=1, tick_hours=24)
        pipeline.ingest()
        pipeline.snapshot()
    pipeline.build()
    return pipeline


@pytest.fixture(scope="session")
def duckdb_scenario(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[tuple[int, float, int]], Pipeline]:
    built: dict[tuple[int, float, int], Pipeline] = {}

    def get(scenario: tuple[int, float, int]) -> Pipeline:
        if scenario not in built:
            seed, scale, ticks = scenario
            home = tmp_path_factory.mktemp(f"oracle_duckdb_seed{seed}")
            built[scenario] = run_scenario(Pipeline(home=home), seed, scale, ticks)
        return built[scenario]

    return get
