"""A DuckDB warehouse in a failing state, built once per session through real dbt invocations.

`failing_warehouse` returns the path of a pristine DuckDB file; `warehouse_copy` gives each test
its own copy (alert state lives in the file, so tests cannot see each other's alerts) and points
TW_DUCKDB_PATH at it.

The file holds the dbt tests' hand-made raw layer plus a run log (tests/monitoring/scenario.py):
a healthy history, a first alert evaluation (the organization baseline), then instance `uk`
unreachable for two runs, a row-count drop of fr.orders, a null row count that fails a dbt test,
a new organization uk:999, and a stale source (the raw fixture was extracted months ago).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenant_warehouse.monitoring.alert_config import load_alert_config
from tenant_warehouse.monitoring.alerts import Notifier, evaluate_and_send
from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings
from tests.dbt_project import raw_fixture
from tests.monitoring import scenario
from tests.monitoring.receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture(scope="session")
def failing_warehouse(tmp_path_factory: pytest.TempPathFactory, tw_settings: Settings) -> Path:
    # Every test works on a copy at this same path: dbt's partial parsing survives only while
    # the profile (which names the file) stays the same.
    path = tmp_path_factory.mktemp("monitoring") / "warehouse.duckdb"
    now = dt.datetime.now(dt.UTC)
    tables = raw_fixture.first_load()
    tables["_tw_ingestion_runs"] = scenario.healthy_history(now)
    raw_fixture.load_duckdb(str(path), tables)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TW_DUCKDB_PATH", str(path))
        with open_warehouse(tw_settings, "duckdb") as warehouse:
            warehouse.ensure_tables()
            warehouse.append("row_counts", scenario.count_history(now))
        output = scenario.dbt(tw_settings, "build", *scenario.BUILD_SELECTION)
        assert not output.startswith("FAILED"), output[-4000:]
        output = scenario.dbt(tw_settings, "source", "freshness", "--select", "source:platform.orders")
        # First evaluation: healthy, so nothing but the baseline of known organizations.
        outcome = evaluate_and_send(tw_settings, "duckdb", load_alert_config(), notifier=Notifier([]))
        assert outcome.baseline > 0
        # The old fixture is stale; uk:3's time zone (Europe/Londn) is a tenant data problem.
        assert {a.rule for a in outcome.sent} == {"stale_data", "tenant_data_problem"}, outcome.sent

        with open_warehouse(tw_settings, "duckdb") as warehouse:
            warehouse.append("row_counts", [{
                "capture_id": "broken-capture", "captured_at": now - dt.timedelta(minutes=85),
                "instance_id": "uk", "table_name": "users", "row_count": None,
            }])  # fmt: skip
            warehouse.append("row_counts", scenario.count_rows(
                now, 1, 8, overrides={("fr", "orders"): scenario.BASE_COUNTS["orders"] - 50}
            ))  # fmt: skip
            for minutes in (5, 2):
                rows = scenario.run_rows(now, minutes, ("uk",), "failed", scenario.UK_ERROR)
                scenario.insert_runs(warehouse.connection, rows)
            warehouse.execute(
                "insert into raw.organizations (instance_id, id, name, kind, plan, time_zone,"
                " created_at, updated_at, _tw_extracted_at, _dlt_load_id, _dlt_id)"
                " values ('uk', 999, 'Corner Shop', 'shop', 'basic', 'Europe/London',"
                " %s, %s, %s, 'load-3', 'dlt-999')",
                (now, now, now),
            )
        # Rebuild the organizations mart; the null row count fails a staging test.
        output = scenario.dbt(tw_settings, "build", "--select", "+dim_organizations",
                     "stg_monitoring__row_counts", "--indirect-selection", "cautious")
        assert output.startswith("FAILED") and "not_null_stg_monitoring__row_counts_row_count" in output
    pristine = path.with_name("pristine.duckdb")
    shutil.copyfile(path, pristine)
    return pristine


@pytest.fixture
def warehouse_copy(failing_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = failing_warehouse.with_name("warehouse.duckdb")
    shutil.copyfile(failing_warehouse, path)
    monkeypatch.setenv("TW_DUCKDB_PATH", str(path))
    return path


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
