"""The exports suite reads one small built warehouse (billing_scenario), shared with statements."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenant_warehouse.settings import Settings
from tests.exports.billing_scenario import billing_warehouse
from tests.monitoring.receivers import SmtpReceiver, WebhookReceiver
from tests.support.pipeline import Pipeline


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return billing_warehouse(tmp_path_factory)


@pytest.fixture
def settings(scenario: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TW_HOME", str(scenario.home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    return Settings(home=scenario.home)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()
