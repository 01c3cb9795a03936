"""Small generated-and-simulated sources shared by the platform tests (built once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reference_platform.generator import generate
from reference_platform.seeds import Seeds
from reference_platform.simulator import SimulationSummary, simulate
from reference_platform.truth import latest_rows

# Scale 0.01 is the smallest that holds the 2,000 messages one bulk update needs.
SCALE = 0.01
# Four one-day ticks from 2026-06-28 cross June's last day in every zone (even UTC-3 Stanley).
TICKS, TICK_HOURS = 4, 24
# High enough that every bad-row kind appears within four tiny ticks.
BAD_ROW_RATE = 0.5

SourceFactory = Callable[..., str]
BadRowCheck = Callable[[str, list[dict]], None]


@pytest.fixture
def make_source(tmp_path: Path) -> SourceFactory:
    """Generate a fresh SQLite source: make_source(instance="uk", scale=0.005, seed=1)."""

    def make(instance: str = "uk", scale: float = 0.005, seed: int = 1, name: str = "") -> str:
        url = f"sqlite:///{tmp_path / (name or f'{instance}_{seed}_{scale}')}.sqlite"
        generate(url, instance, seed=seed, scale=scale)
        return url

    return make


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SimulationSummary]:
    """The uk instance at SCALE after TICKS daily ticks with a high bad-row rate (read-only)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('simulated') / 'uk.sqlite'}"
    generate(url, "uk", seed=7, scale=SCALE)
    summary = simulate(url, "uk", ticks=TICKS, seed=7, tick_hours=TICK_HOURS,
                       bad_row_rate=BAD_ROW_RATE)
    return url, summary


@pytest.fixture(scope="session")
def assert_really_bad() -> BadRowCheck:
    """check(url, sim_bad_rows entries): each recorded bad row breaks the rule its reason names."""
    return _assert_really_bad


def _assert_really_bad(url: str, bad: list[dict]) -> None:
    """Each recorded bad row breaks exactly the rule its reason names."""
    accepted = Seeds.load().time_zones
    tables = {t: {r["id"]: r for r in latest_rows(url, t)}
              for t in ("organizations", "contacts", "orders", "messages")}
    for entry in bad:
        row = tables[entry["table_name"]][entry["row_id"]]
        reason = entry["reason"]
        if reason == "missing_tenant":
            assert row["organization_id"] is None
        elif reason == "negative_money":
            assert row["total_cents"] < 0
        elif reason == "unknown_state":
            assert row["state"] not in ("cart", "complete", "cancelled", "returned")
        elif reason == "impossible_date":
            completed = row["completed_at"]
            assert completed < row["created_at"] or not 2000 <= completed.year <= 2100
        else:
            assert reason == "invalid_time_zone" and row["time_zone"] not in accepted
