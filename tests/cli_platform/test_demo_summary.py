"""The demo's summary lists the marts the platform's dbt project built: the enabled mart models
of the last run's manifest, nothing the profile switched off, nothing outside models/marts."""

from __future__ import annotations

import json
from pathlib import Path

from tenant_warehouse.summary import built_marts


def _node(name: str, path: str, kind: str = "model", schema: str = "marts",
          alias: str | None = None) -> dict[str, object]:
    return {"resource_type": kind, "name": name, "alias": alias or name, "schema": schema,
            "original_file_path": path}


def test_built_marts_are_the_enabled_mart_models_of_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({
        "nodes": {
            "model.tw.fct_orders": _node("fct_orders", "models/marts/core/fct_orders.sql"),
            "model.tw.pipeline_status": _node(
                "pipeline_status", "models/marts/observability/pipeline_status.sql",
                schema="observability"),
            "model.tw.dim_x": _node("dim_x", "models/marts/core/dim_x.sql", alias="dim_x_v2"),
            "model.tw.stg_ofn__orders": _node(
                "stg_ofn__orders", "platforms/ofn/models/staging/stg_ofn__orders.sql",
                schema="staging"),
            "model.tw.contract_orders": _node(
                "contract_orders", "platforms/ofn/models/contract/contract_orders.sql",
                schema="contract"),
            "test.tw.not_null_fct_orders_id": _node(
                "not_null_fct_orders_id", "models/marts/core/_core__models.yml", kind="test"),
        },
        # A mart the profile switched off (platform_has) is not among the nodes.
        "disabled": {"model.tw.fct_messages": [_node("fct_messages",
                                                     "models/marts/core/fct_messages.sql")]},
    }))
    assert built_marts(manifest) == [
        ("marts", "dim_x_v2"), ("marts", "fct_orders"), ("observability", "pipeline_status")]


def test_no_manifest_lists_nothing(tmp_path: Path) -> None:
    assert built_marts(tmp_path / "missing.json") == []
    (tmp_path / "broken.json").write_text("{")
    assert built_marts(tmp_path / "broken.json") == []
