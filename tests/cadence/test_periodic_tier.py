"""The periodic tier end to end (cycle_build.py): real ingestion and dbt on the reference
platform. A cycle where the tier is not due leaves its marts stale and every other mart exact;
the first cycle after it is due, with nothing new in the sources, makes them exact again from
the tables changed in the skipped cycle."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from tenant_warehouse.dbt_runner import warm_dbt
from tests.faults.harness import FaultPipeline
from tests.support.pipeline import assert_all_match
from tests.support.verify import compare_marts

SEED = 23
SCALE = 0.002
PERIODIC_MARTS = ("active_users_by_organization", "active_users_by_instance", "active_users_global")
FRESH_MARTS = ("turnover_by_organization_month", "message_delivery_by_organization_month",
               "billing_by_organization_month", "dq_quarantined_rows")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> FaultPipeline:
    """The reference platform ingested and built whole by a first cycle (which records the
    periodic tier as built)."""
    pipeline = FaultPipeline(home=tmp_path_factory.mktemp("cadence_built"))
    pipeline.generate(seed=SEED, scale=SCALE)
    with warm_dbt():  # dbt in this process, as the watch loop runs it: no start-up per call
        pipeline.cycle()
    return pipeline


def _state(pipeline: FaultPipeline) -> dict:
    return json.loads((pipeline.home / "build_state.json").read_text())


def _inbound_message_now(pipeline: FaultPipeline) -> None:
    """A new inbound message of an existing contact, created at the newest instant in the
    source: a new active user day for the active-users marts, a new row in fct_messages."""
    with sqlite3.connect(pipeline.home / "source" / "uk.sqlite") as source:
        source.execute(
            "INSERT INTO messages (id, organization_id, contact_id, direction, status, body,"
            " created_at, updated_at) SELECT (SELECT max(id) + 1 FROM messages), organization_id,"
            " contact_id, 'inbound', 'received', 'hi', (SELECT max(updated_at) FROM messages),"
            " (SELECT max(updated_at) FROM messages) FROM messages WHERE direction = 'inbound'"
            " ORDER BY updated_at DESC LIMIT 1")


def test_a_skipped_tier_leaves_its_marts_stale_and_a_due_one_catches_up_with_no_new_change(
    built: FaultPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = built.clone(tmp_path / "home")
    assert _state(pipeline)["periodic_pending"] == []
    monkeypatch.setenv("TW_PERIODIC_EVERY_MINUTES", "15")
    with warm_dbt():
        _skip_then_catch_up(pipeline)


def _skip_then_catch_up(pipeline: FaultPipeline) -> None:
    # Cycle 2: the platform moved on (every table); the tier is not due.
    pipeline.simulate(seed=SEED + 1, ticks=1, tick_hours=12)
    _inbound_message_now(pipeline)
    pipeline.cycle()
    pending = _state(pipeline)["periodic_pending"]
    assert {"messages", "orders", "contacts"} <= set(pending), pending
    # The only data tests of a minute cycle are the scoped key tests.
    tests = _tests_run(pipeline)
    assert tests and all(t.startswith("unique_keys_written_last_") for t in tests), tests
    # The minute path is exact: raw, staging, the facts and the marts tenants look at.
    checks = pipeline.check_raw() + pipeline.check_staging() + pipeline.check_facts()
    assert checks.ok, checks.describe()
    with pipeline.environment() as settings:
        urls = pipeline.source_urls()
        assert_all_match(compare_marts(settings, "duckdb", urls, FRESH_MARTS))
        stale = compare_marts(settings, "duckdb", urls, PERIODIC_MARTS)
    assert not all(comparison.ok for comparison in stale), "a periodic mart was built"

    # The tier is due (its last build is older than the interval); nothing new in the sources.
    state_file = pipeline.home / "build_state.json"
    state = _state(pipeline)
    state["periodic_built_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)).isoformat()
    state_file.write_text(json.dumps(state))
    signatures = state["signatures"]
    pipeline.cycle()
    after = _state(pipeline)
    assert after["signatures"] == signatures  # no raw change: only the pending tables' tier
    assert after["periodic_pending"] == []
    # The tests the skipped cycle left out ran on what it wrote (here: a fact's keys).
    assert "not_null_fct_messages_message_id" in _tests_run(pipeline)
    checks = pipeline.check_all()  # every mart against the oracle, periodic ones included
    assert checks.ok, checks.describe()


def _tests_run(pipeline: FaultPipeline) -> list[str]:
    """Names of the data tests the last dbt build ran."""
    results = json.loads((pipeline.home / "dbt_target_duckdb" / "run_results.json").read_text())
    return sorted(r["unique_id"].split(".")[2] for r in results["results"]
                  if r["unique_id"].startswith("test."))


def test_nothing_but_periodic_nodes_reads_a_periodic_model(built: FaultPipeline) -> None:
    """Leaving `tag:periodic+` out of a cycle must never leave a minute-path model reading a
    stale periodic one: every model, snapshot or seed downstream of a periodic node is one."""
    manifest = json.loads((built.home / "dbt_target_duckdb" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    periodic = {uid for uid, node in nodes.items() if "periodic" in node["config"].get("tags", [])}
    assert {uid.split(".")[-1] for uid in periodic if uid.startswith("model.")} == {
        "int_contact_activities_unioned", "dim_contacts", "active_users_by_organization",
        "active_users_by_instance", "active_users_global"}
    readers = {child for uid in periodic for child in manifest["child_map"].get(uid, [])
               if child.split(".")[0] in {"model", "snapshot", "seed"}}
    assert readers <= periodic, sorted(readers - periodic)
