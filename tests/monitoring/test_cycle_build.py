"""What a cycle builds (tenant_warehouse/cycle_build.py), against a real DuckDB raw layer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tenant_warehouse import cycle_build
from tenant_warehouse.cycle_build import plan_build, record_build, selection_args
from tenant_warehouse.settings import Settings

TABLES = ["organizations", "contacts", "orders", "messages"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("TW_DUCKDB_PATH", str(path))
    monkeypatch.setenv("TW_RAW_SCHEMA", "raw")
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema raw")
        for table in TABLES[:3]:  # messages not loaded yet
            connection.execute(
                f"create table raw.{table} as select range as id, "
                "'1763850000.' || (range % 3) as _dlt_load_id from range(10)"
            )
    return Settings(home=tmp_path)


def _sql(settings: Settings, text: str) -> None:
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute(text)


def _passed(settings: Settings) -> cycle_build.BuildPlan:
    plan = plan_build(settings, "duckdb", TABLES)
    record_build(settings, plan, ok=True)
    return plan


def test_first_build_is_the_whole_project_then_nothing_until_raw_changes(home: Settings) -> None:
    first = _passed(home)
    assert first.args == ["build"] and "no earlier successful build" in first.reason
    assert set(first.signatures) == {"organizations", "contacts", "orders"}
    again = plan_build(home, "duckdb", TABLES)
    assert again.skip and again.changed == []


def test_an_update_a_delete_and_a_new_table_are_each_seen(home: Settings) -> None:
    _passed(home)
    _sql(home, "update raw.orders set _dlt_load_id = '1763850100.5' where id = 3")
    _sql(home, "delete from raw.contacts where id = 4")  # a load that only deleted
    _sql(home, "create table raw.messages as select 1 as id, '1763850100.5' as _dlt_load_id")
    plan = plan_build(home, "duckdb", TABLES)
    assert plan.changed == ["contacts", "messages", "orders"]
    # The whole first build ran the audits a moment ago: this one leaves them out.
    assert plan.args == selection_args(["orders", "contacts", "messages"], audits=False)
    assert plan.args[:5] == [
        "build", "--select", "source:platform.contacts+", "source:platform.messages+",
        "source:platform.orders+",
    ]
    assert "unit_test" in plan.args and "tag:ci" in plan.args
    record_build(home, plan, ok=True)
    assert plan_build(home, "duckdb", TABLES).skip


def test_a_failed_build_makes_the_next_one_whole(home: Settings) -> None:
    _passed(home)
    _sql(home, "insert into raw.orders values (99, '1763850200.1')")
    plan = plan_build(home, "duckdb", TABLES)
    assert plan.changed == ["orders"]
    record_build(home, plan, ok=False)
    after_failure = plan_build(home, "duckdb", TABLES)
    assert after_failure.args == ["build"] and "no earlier successful build" in after_failure.reason
    # Any failed build (`warehouse build`, a rerun's) forgets the state the same way.
    _passed(home)
    cycle_build.forget_builds(home)
    assert "no earlier successful build" in plan_build(home, "duckdb", TABLES).reason


def test_a_changed_project_or_an_unreadable_warehouse_builds_everything(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _passed(home)
    monkeypatch.setattr(cycle_build, "project_fingerprint", lambda: "deployed-since")
    assert "the dbt project changed" in plan_build(home, "duckdb", TABLES).reason
    monkeypatch.setenv("TW_DUCKDB_PATH", str(home.home / "missing" / "nowhere.duckdb"))
    plan = plan_build(home, "duckdb", TABLES)
    assert plan.args == ["build"] and "could not be compared" in plan.reason
    assert plan_build(home, "duckdb", TABLES, full=True).args == ["build"]


def test_the_fingerprint_follows_the_files_dbt_reads(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    (tmp_path / "models" / "a.sql").write_text("select 1")
    before = cycle_build.project_fingerprint(tmp_path)
    (tmp_path / "models" / "a.sql").write_text("select 2")
    assert cycle_build.project_fingerprint(tmp_path) != before


def test_audits_run_in_whole_builds_then_when_the_last_is_older_than_the_interval(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _passed(home)
    assert first.audits and "tag:audit" not in first.args
    _sql(home, "insert into raw.orders values (100, '1763850300.1')")
    plan = plan_build(home, "duckdb", TABLES)
    assert not plan.audits and plan.args[-2:] == ["--exclude", "tag:audit"]
    assert plan.reason.endswith("audits not due")
    record_build(home, plan, ok=True)  # a cycle without audits keeps the last audit's time
    assert cycle_build._read_state(home)["audited_at"] == first.started_at

    monkeypatch.setenv("TW_AUDIT_EVERY_MINUTES", "0")
    _sql(home, "insert into raw.orders values (101, '1763850400.1')")
    due = plan_build(home, "duckdb", TABLES)
    assert due.audits and "tag:audit" not in due.args
    record_build(home, due, ok=True)
    assert cycle_build._read_state(home)["audited_at"] == due.started_at

    monkeypatch.setenv("TW_AUDIT_EVERY_MINUTES", "hourly")
    _sql(home, "insert into raw.orders values (102, '1763850500.1')")
    with pytest.raises(ValueError, match="TW_AUDIT_EVERY_MINUTES"):
        plan_build(home, "duckdb", TABLES)
