"""The oracle: after generation, randomized simulated activity and incremental runs, every raw
table equals its source and every metric mart equals the truth computed in plain Python from the
source databases (reference_platform.truth), money to the cent and counts exact.

The pipeline runs after every tick (ingest with reconciliation, then the organizations
snapshot), as an operator's schedule would, and ticks cross a month end so the 23:30 local
month-end orders, cancellations after a month closed and mid-month plan changes are all in play.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.oracle.conftest import SCENARIOS
from tests.support.pipeline import Pipeline, assert_all_match


@pytest.fixture(params=SCENARIOS, ids=lambda s: f"seed{s[0]}")
def built(
    request: pytest.FixtureRequest, duckdb_scenario: Callable[[tuple[int, float, int]], Pipeline]
) -> Pipeline:
    return duckdb_scenario(request.param)


def test_raw_equals_sources(built: Pipeline) -> None:
    assert_all_match(built.compare_raw())


def test_marts_equal_truth(built: Pipeline) -> None:
    comparisons = built.compare_marts()
    assert_all_match(comparisons)
    # Guard against a vacuous pass: the scenario must produce numbers in every mart.
    empty = [c.mart for c in comparisons if c.expected_rows == 0]
    assert not empty, f"no truth rows for {empty}"


def test_incremental_rerun_changes_nothing(built: Pipeline) -> None:
    """A run with no source change loads no new version and leaves the marts exact."""
    built.ingest()
    built.build()
    assert_all_match(built.compare_raw())
    assert_all_match(built.compare_marts())
