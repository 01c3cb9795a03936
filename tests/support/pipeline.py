"""A whole pipeline in one object: sources -> dlt -> warehouse -> dbt, on its own TW_HOME.

Oracle, cross-warehouse and fault tests drive it step by step and compare the warehouse with
the truth computed from the sources (tests/support/verify.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reference_platform.generator import generate
from reference_platform.simulator import simulate
from tenant_warehouse.dbt_runner import DbtResult, run_dbt
from tenant_warehouse.settings import Settings
from tests.support.verify import MartComparison, compare_marts, compare_raw

# The reference platform's instances, as platforms/reference/tables.yml configures them.
INSTANCES = ("uk", "au", "fr")

RAW_TABLES = ("organizations", "users", "contacts", "orders", "order_items", "messages")
SNAPSHOT_SELECTOR = ["snapshot", "--select", "organizations_snapshot"]


@dataclass
class Pipeline:
    home: Path
    warehouse: str = "duckdb"
    # Extra environment for every step (TW_PG_* of the warehouse, TW_SOURCE_URL_TEMPLATE).
    env: Mapping[str, str] = field(default_factory=dict)
    instances: tuple[str, ...] = INSTANCES
    _snapshot_ready: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def environment(self) -> Iterator[Settings]:
        """This pipeline's variables for the duration of one step, restored afterwards."""
        wanted = {"TW_HOME": str(self.home), "DLT_DATA_DIR": str(self.home / "dlt"), **self.env}
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield Settings(home=self.home)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def source_urls(self) -> dict[str, str]:
        with self.environment() as settings:
            return {instance: settings.source_url(instance) for instance in self.instances}

    def generate(self, seed: int, scale: float) -> None:
        with self.environment() as settings:
            settings.source_dir.mkdir(parents=True, exist_ok=True)
            for instance in self.instances:
                generate(settings.source_url(instance), instance, seed=seed, scale=scale)

    def simulate(self, seed: int, ticks: int = 1, tick_hours: float = 24) -> None:
        with self.environment() as settings:
            for instance in self.instances:
                simulate(settings.source_url(instance), instance, ticks=ticks, seed=seed,
                         tick_hours=tick_hours)

    def ingest(self, reconcile: bool | None = True) -> object:
        from ingestion.pipeline import run_ingestion

        with self.environment() as settings:
            report = run_ingestion(settings, destination=self.warehouse, reconcile=reconcile)
        assert report.ok, [r for r in report.records if r.status != "success"]
        return report

    def dbt(self, *args: str) -> DbtResult:
        with self.environment() as settings:
            result = run_dbt(settings, list(args), target=self.warehouse)
        assert result.ok, result.output[-6000:]
        return result

    def cycle(self) -> None:
        """One `warehouse run` cycle, as an operator's scheduler runs it: ingestion, then the
        cycle's build (the whole project the first time, then what depends on the raw tables
        that changed), alerts."""
        from tenant_warehouse.operations import run_cycle

        with self.environment() as settings:
            assert run_cycle(settings, self.warehouse), f"{self.warehouse} cycle failed"

    def snapshot(self) -> None:
        """Record the organizations' history now, as a scheduled run between ticks would."""
        if self._snapshot_ready:
            self.dbt(*SNAPSHOT_SELECTOR)
        else:
            # First time: the seeds and staging views the snapshot reads must exist.
            self.dbt("build", "--select", "+organizations_snapshot", "--indirect-selection", "cautious")
            self._snapshot_ready = True

    def build(self) -> DbtResult:
        return self.dbt("build")

    def compare_marts(self) -> list[MartComparison]:
        with self.environment() as settings:
            return compare_marts(settings, self.warehouse, self.source_urls())

    def compare_raw(self) -> list[MartComparison]:
        with self.environment() as settings:
            return compare_raw(settings, self.warehouse, self.source_urls(), RAW_TABLES)


def assert_all_match(comparisons: list[MartComparison]) -> None:
    failures = [c.describe() for c in comparisons if not c.ok]
    assert not failures, "\n".join(failures)
