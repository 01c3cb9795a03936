"""The run log in the warehouse: dbt node results and freshness checks recorded by the hooks."""

from __future__ import annotations

from pathlib import Path

from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings


def test_hooks_record_every_dbt_invocation(warehouse_copy: Path, tw_settings: Settings) -> None:
    with open_warehouse(tw_settings, "duckdb", read_only=True) as warehouse:
        invocations = warehouse.query(
            "select command, status, nodes, failed_nodes from observability.dbt_invocations"
            " order by started_at"
        )
        assert [(i["command"], i["status"]) for i in invocations] == [
            ("build", "success"), ("freshness", "success"), ("build", "failed"),
        ]
        results = warehouse.query(
            "select resource_type, status, started_at, completed_at, execution_seconds,"
            " rows_affected, message, attached_node from raw._tw_dbt_results"
        )
    types = {r["resource_type"] for r in results}
    assert {"model", "test", "seed", "source"} <= types
    for result in results:
        if result["status"] != "skipped":
            assert result["started_at"] <= result["completed_at"]
            assert result["execution_seconds"] >= 0
    # Seeds report the rows they inserted; the failing test says what failed.
    assert any(r["resource_type"] == "seed" and (r["rows_affected"] or 0) > 0 for r in results)
    failed = [r for r in results if r["status"] == "fail"]
    assert len(failed) == 1
    assert failed[0]["attached_node"] == "model.tenant_warehouse.stg_monitoring__row_counts"
    freshness = [r for r in results if r["resource_type"] == "source"]
    assert [r["status"] for r in freshness] == ["error"]  # extracted months ago
