"""Against the real ingestion: row-count capture, a backfill window, and `--watch` surviving a
failed cycle."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import duckdb
import pytest

from ingestion.pipeline import run_ingestion
from reference_platform.generator import generate
from tenant_warehouse import cli, cycle_build, operations
from tenant_warehouse.monitoring.capture import capture_row_counts, configured_tables
from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings

INSTANCES = ["uk", "fr"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TW_HOME", str(tmp_path))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    settings = Settings.from_env()
    settings.source_dir.mkdir(parents=True)
    for instance in INSTANCES:
        generate(settings.source_url(instance), instance, seed=5, scale=0.002)
    return settings


def _source_count(settings: Settings, instance: str, since: str | None = None) -> int:
    path = settings.source_url(instance).removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        sql = "select count(*) from orders" + (" where updated_at >= ?" if since else "")
        return connection.execute(sql, (since,) if since else ()).fetchone()[0]


def test_capture_then_backfill_reloads_only_the_window(home: Settings) -> None:
    first = run_ingestion(home, "duckdb", instances=INSTANCES)
    assert first.ok, first.summary()
    with open_warehouse(home, "duckdb") as warehouse:
        captured = capture_row_counts(warehouse, INSTANCES, configured_tables(), first.run_id)
    orders = {r["instance_id"]: r for r in captured if r["table_name"] == "orders"}
    assert {i: orders[i]["row_count"] for i in INSTANCES} == {
        i: _source_count(home, i) for i in INSTANCES
    }
    assert orders["uk"]["max_updated_at"] is not None
    assert orders["uk"]["ingestion_run_id"] == first.run_id
    assert len(captured) == len(INSTANCES) * len(configured_tables())

    since = dt.datetime(2026, 6, 20, tzinfo=dt.UTC)
    backfill = run_ingestion(home, "duckdb", instances=["fr"], tables=["orders"], since=since)

    assert backfill.ok, backfill.summary()
    (record,) = [r for r in backfill.records if not r.is_reconciliation]
    assert (record.instance_id, record.table_name, record.cursor_from) == ("fr", "orders", since)
    # Every source row of the window was read and loaded again, and nothing else.
    in_window = _source_count(home, "fr", "2026-06-20")
    assert 0 < in_window < _source_count(home, "fr")
    assert record.rows_extracted == in_window and record.rows_loaded == in_window
    with duckdb.connect(str(home.duckdb_path), read_only=True) as connection:
        counts = dict(connection.execute(
            "select instance_id, count(*) from raw.orders group by 1"
        ).fetchall())  # fmt: skip
        duplicates = connection.execute(
            "select count(*) from (select instance_id, id from raw.orders"
            " group by 1, 2 having count(*) > 1)"
        ).fetchone()[0]
        logged = connection.execute(
            "select instance_id, table_name, status, rows_extracted from raw._tw_ingestion_runs"
            " where run_id = ? and not is_reconciliation", [backfill.run_id],
        ).fetchall()  # fmt: skip
    assert counts == {i: _source_count(home, i) for i in INSTANCES}
    assert duplicates == 0
    assert logged == [("fr", "orders", "success", in_window)]


def test_unreachable_instance_is_recorded_and_keeps_its_rows(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_ingestion(home, "duckdb", instances=INSTANCES).ok
    expected = {i: _source_count(home, i) for i in INSTANCES}
    monkeypatch.setenv("TW_SOURCE_UK_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/tw_source_uk")

    report = run_ingestion(home, "duckdb", instances=INSTANCES, tables=["orders"])

    assert not report.ok
    failed = [r for r in report.records if r.status == "failed"]
    assert [(r.instance_id, r.table_name) for r in failed] == [("uk", "orders")]
    assert "127.0.0.1" in failed[0].error_message
    with open_warehouse(home, "duckdb") as warehouse:
        rows = capture_row_counts(warehouse, INSTANCES, [("orders", "updated_at")])
    # uk keeps the rows it had: the capture shows no change, not a drop.
    assert {r["instance_id"]: r["row_count"] for r in rows} == expected


def test_watch_survives_a_failed_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    cycles: list[str] = []

    def cycle(settings: Settings, warehouse: str, instances: list[str], full_build: bool) -> bool:
        cycles.append(warehouse)
        if len(cycles) == 1:
            raise RuntimeError("the warehouse went away")
        return len(cycles) != 2  # the second cycle fails without raising

    def sleep(seconds: float) -> None:
        assert 0 <= seconds <= 0.5
        if len(cycles) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(operations, "run_cycle", cycle)
    monkeypatch.setattr(cycle_build.time, "sleep", sleep)

    assert cli.main(["run", "--watch", "0.5"]) == 130  # stopped by Ctrl-C, not by the failures
    assert cycles == ["duckdb", "duckdb", "duckdb"]
