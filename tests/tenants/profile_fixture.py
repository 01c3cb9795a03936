"""A built warehouse as a platform profile without orders (a chatbot platform) leaves it.

From a home built by dbt (reference profile: every mart), a copy where the order, turnover and
billing marts are what dbt writes for a profile whose `platform_has('orders')` is false: in the
manifest they move from `nodes` to `disabled` (dbt's shape for disabled models), and in the
warehouse they do not exist, except `STALE`, left from an earlier build with another profile:
a table the doors must not serve, because the active profile does not build it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

ORDER_MARTS = (
    "fct_orders",
    "turnover_by_organization_month",
    "turnover_by_instance_month",
    "turnover_global_month",
    "billing_by_organization_month",
    "billing_reported_by_organization_month",
)
# Left in the warehouse by an earlier build, disabled in the manifest.
STALE = "billing_by_organization_month"
# Catalog relations (tenant-facing names) of the order marts.
ORDER_RELATIONS = {
    "orders", "turnover_by_organization_month", "billing_by_organization_month",
    "billing_reported_by_organization_month",
}  # fmt: skip


def disable_models(manifest: dict, names: tuple[str, ...]) -> dict:
    """The manifest with the models `names` moved to `disabled`, as dbt writes disabled ones."""
    nodes, disabled = dict(manifest["nodes"]), dict(manifest.get("disabled") or {})
    for unique_id, node in manifest["nodes"].items():
        if node.get("resource_type") == "model" and node["name"] in names:
            disabled[unique_id] = [{**nodes.pop(unique_id), "config": {
                **node.get("config", {}), "enabled": False}}]
    return {**manifest, "nodes": nodes, "disabled": disabled}


def without_orders(built_home: Path, home: Path, target: str = "duckdb") -> Path:
    """Copy of `built_home` (warehouse.duckdb, the dbt manifest, logins) as a profile without
    orders would have built it; returns `home`."""
    shutil.copytree(built_home, home, ignore=shutil.ignore_patterns(
        "dlt", "source", "dbt_logs", "*.lock", "compiled", "run"))
    manifest_file = home / f"dbt_target_{target}" / "manifest.json"
    manifest = json.loads((built_home / f"dbt_target_{target}" / "manifest.json").read_text())
    manifest_file.write_text(json.dumps(disable_models(manifest, ORDER_MARTS)))
    with duckdb.connect(str(home / "warehouse.duckdb")) as connection:
        for name, kind in connection.execute(
            "select table_name, table_type from information_schema.tables"
            " where table_schema = 'marts'"
        ).fetchall():
            if name in ORDER_MARTS and name != STALE:
                connection.execute(f"drop {'view' if kind == 'VIEW' else 'table'} marts.{name}")
    return home
