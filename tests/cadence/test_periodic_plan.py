"""The periodic tier's plan (cycle_build.py): what a cycle selects when the tier is due or not,
what build_state.json keeps pending, and the status line, against a real DuckDB raw layer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from tenant_warehouse import cycle_build
from tenant_warehouse.cycle_build import (
    periodic_tier_status,
    plan_build,
    record_build,
    selection_args,
)
from tenant_warehouse.settings import Settings

TABLES = ["organizations", "contacts", "orders", "messages"]
EXCLUDES = ["--exclude", "tag:ci", "--exclude-resource-type", "unit_test"]
# Every data test but the scoped key tests waits for the tier (the project's generic tests too).
WHOLE_TABLE_TESTS = [
    "--exclude", "test_type:singular", "test_name:accepted_values", "test_name:equality",
    "test_name:non_negative", "test_name:not_null", "test_name:relationships", "test_name:unique",
    "test_name:unique_combination_of_columns"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every table loaded once and built whole (which builds the periodic tier too)."""
    for name, value in {"TW_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
                        "TW_RAW_SCHEMA": "raw", "TW_PERIODIC_EVERY_MINUTES": "15"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path)
    loaded = "select range as id, '1763850000.1' as _dlt_load_id from range(5)"
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute("create schema raw; " + "; ".join(
            f"create table raw.{table} as {loaded}" for table in TABLES))
    record_build(settings, plan_build(settings, "duckdb", TABLES), ok=True)  # the whole build
    return settings


def _insert(settings: Settings, table: str, row_id: int) -> None:
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute(f"insert into raw.{table} values ({row_id}, '1763850{row_id}.1')")


def _cycle(settings: Settings) -> cycle_build.BuildPlan:
    plan = plan_build(settings, "duckdb", TABLES)
    if not plan.skip:
        record_build(settings, plan, ok=True)
    return plan


def _state(settings: Settings) -> dict:
    state = cycle_build._read_state(settings)
    assert state is not None
    return state


def test_cycles_leave_the_tier_out_until_due_then_build_it_from_every_pending_table(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _state(home)["periodic_built_at"]
    assert whole and _state(home)["periodic_pending"] == []  # a whole build is the tier's too

    _insert(home, "orders", 100)
    first = _cycle(home)
    assert not first.periodic
    assert first.args == ["build", "--select", "source:platform.orders+", *EXCLUDES,
                          "--exclude", "tag:periodic+", *WHOLE_TABLE_TESTS,
                          "--exclude", "tag:audit"]
    assert "periodic tier not due (pending: orders)" in first.reason
    _insert(home, "messages", 101)
    second = _cycle(home)
    assert "periodic tier not due (pending: messages, orders)" in second.reason
    assert _state(home)["periodic_pending"] == ["messages", "orders"]
    assert _state(home)["periodic_built_at"] == whole  # not built: the time stays

    # Nothing changed, tier not due: no build, the reason says what waits.
    idle = _cycle(home)
    assert idle.skip and "periodic tier not due (pending: messages, orders)" in idle.reason

    # Due with a change to messages: messages' whole path, and orders' periodic nodes.
    monkeypatch.setenv("TW_PERIODIC_EVERY_MINUTES", "0")
    _insert(home, "messages", 102)
    due = _cycle(home)
    assert due.periodic and due.reason.startswith("built from messages; periodic tier due")
    assert due.args == ["build", "--select", "source:platform.messages+",
                        "source:platform.orders+,tag:periodic",
                        "source:platform.orders+,resource_type:test", *EXCLUDES,
                        "--exclude", "tag:audit"]
    assert _state(home)["periodic_pending"] == []
    assert _state(home)["periodic_built_at"] == due.started_at


def test_a_due_tier_with_no_change_builds_only_the_periodic_nodes_of_the_pending_tables(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _insert(home, "contacts", 100)
    _insert(home, "orders", 100)
    assert not _cycle(home).periodic
    # The tier's last build is older than the interval (a clock that moved on).
    state_file = home.home / cycle_build.STATE_FILE
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)).isoformat()
    state_file.write_text(state_file.read_text().replace(_state(home)["periodic_built_at"], old))
    assert "due at the next cycle" in periodic_tier_status(home)
    assert "pending: contacts, orders" in periodic_tier_status(home)

    catch_up = _cycle(home)
    assert catch_up.args == ["build", "--select", "source:platform.contacts+,tag:periodic",
                             "source:platform.contacts+,resource_type:test",
                             "source:platform.orders+,tag:periodic",
                             "source:platform.orders+,resource_type:test", *EXCLUDES,
                             "--exclude", "tag:audit"]
    assert "periodic tier due: built from contacts, orders" in catch_up.reason
    assert _state(home)["periodic_pending"] == []
    assert _cycle(home).skip  # nothing changed, nothing pending
    assert "pending: none; due in 15 min" in periodic_tier_status(home)


def test_a_failed_cycle_forgets_the_pending_tables_and_the_next_build_is_whole(
    home: Settings,
) -> None:
    _insert(home, "orders", 100)
    assert not _cycle(home).periodic
    _insert(home, "orders", 101)
    plan = plan_build(home, "duckdb", TABLES)
    record_build(home, plan, ok=False)
    whole = plan_build(home, "duckdb", TABLES)
    assert whole.args == ["build"] and whole.periodic
    record_build(home, whole, ok=True)
    assert _state(home)["periodic_pending"] == []
    assert "no successful build" not in periodic_tier_status(home)


def test_audits_due_bring_the_tier_and_a_state_from_before_the_tier_makes_it_due(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _insert(home, "orders", 100)
    monkeypatch.setenv("TW_AUDIT_EVERY_MINUTES", "0")
    audited = _cycle(home)  # the audit `assert_every_row_is_loaded_or_quarantined` reads dim_contacts
    assert audited.audits and audited.periodic
    assert audited.args == selection_args(["orders"])
    monkeypatch.setenv("TW_AUDIT_EVERY_MINUTES", "60")

    state_file = home.home / cycle_build.STATE_FILE
    state = _state(home)
    del state["periodic_built_at"], state["periodic_pending"]
    state_file.write_text(json.dumps(state))
    _insert(home, "orders", 101)
    assert _cycle(home).periodic


def test_the_interval_must_be_minutes(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_PERIODIC_EVERY_MINUTES", "quarterly")
    _insert(home, "orders", 100)
    with pytest.raises(ValueError, match="TW_PERIODIC_EVERY_MINUTES"):
        plan_build(home, "duckdb", TABLES)
