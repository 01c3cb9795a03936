"""The statements suite reads the exports suite's small built warehouse (billing_scenario)."""

from __future__ import annotations

import pytest

from tenant_warehouse.settings import Settings
from tests.exports.billing_scenario import billing_warehouse
from tests.support.pipeline import Pipeline


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return billing_warehouse(tmp_path_factory)


@pytest.fixture
def settings(scenario: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TW_HOME", str(scenario.home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    return Settings(home=scenario.home)
