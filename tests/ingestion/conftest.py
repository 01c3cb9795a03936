"""Sources and warehouses for the ingestion tests.

Sources come from the reference platform's generator (three instances, tiny scale), generated
once per session and copied per test. Tests that start from a loaded warehouse clone a home in
which the first load already ran, so only the runs a test is about are paid for.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ingestion.config import IngestionConfig, load_config
from ingestion.pipeline import IngestionReport, run_ingestion
from reference_platform.generator import generate
from tenant_warehouse.settings import Settings
from tests.ingestion.helpers import mismatches, raw_rows_duckdb, source_rows

SCALE = 0.005
SEED = 3
# The reference platform's instances, from the packaged config (no list in product code).
INSTANCES = load_config().instances


@dataclass
class Home:
    """A TW_HOME with SQLite sources for uk, au and fr."""

    path: Path
    settings: Settings
    config: IngestionConfig

    def url(self, instance: str) -> str:
        return self.settings.source_url(instance)

    @property
    def salt(self) -> str:
        return self.settings.pii_salt()

    def ingest(self, **options: Any) -> IngestionReport:
        options.setdefault("config", self.config)
        return run_ingestion(self.settings, **options)

    def assert_raw_equals_source(
        self, instances: Iterable[str] = INSTANCES, tables: Iterable[str] | None = None
    ) -> None:
        for table in self.config.select_tables(tables):
            for instance in instances:
                expected = source_rows(self.url(instance), table, self.salt)
                actual = raw_rows_duckdb(self.settings.duckdb_path, table, instance)
                assert actual == expected, (
                    f"{instance}.{table.name}: {mismatches(expected, actual)}"
                )


@pytest.fixture(scope="session")
def pristine_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ingestion_sources")
    for instance in INSTANCES:
        generate(f"sqlite:///{directory / instance}.sqlite", instance, seed=SEED, scale=SCALE)
    return directory


def _make_home(path: Path, sources: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    (path / "source").mkdir(parents=True, exist_ok=True)
    for instance in INSTANCES:
        target = path / "source" / f"{instance}.sqlite"
        if not target.exists():
            shutil.copyfile(sources / f"{instance}.sqlite", target)
    monkeypatch.setenv("TW_HOME", str(path))
    return Home(path, Settings.from_env(), load_config())


@pytest.fixture
def home(tmp_path: Path, pristine_sources: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A fresh home: sources generated, nothing ingested yet."""
    return _make_home(tmp_path / "home", pristine_sources, monkeypatch)


@pytest.fixture(scope="session")
def loaded_baseline(
    tmp_path_factory: pytest.TempPathFactory, pristine_sources: Path
) -> tuple[Path, IngestionReport]:
    """A home after the first load of every instance and table (never modified by tests)."""
    path = tmp_path_factory.mktemp("ingestion_baseline") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        baseline = _make_home(path, pristine_sources, monkeypatch)
        report = baseline.ingest()
    assert report.ok, report.summary()
    return path, report


@pytest.fixture
def loaded_home(
    tmp_path: Path,
    loaded_baseline: tuple[Path, IngestionReport],
    pristine_sources: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Home:
    """A copy of the baseline: sources, warehouse and dlt state after one full load."""
    path = tmp_path / "home"
    shutil.copytree(loaded_baseline[0], path, ignore=shutil.ignore_patterns("ingestion.lock"))
    return _make_home(path, pristine_sources, monkeypatch)
