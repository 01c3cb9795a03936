"""The demo's closing summary: raw rows per instance and table, the marts the build made for the
platform profile (with their row counts), and a few lines from the marts that exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from tenant_warehouse.monitoring.output import make_console
from tenant_warehouse.settings import Settings
from tenant_warehouse.warehouse_sql import connect, query, relation_exists

console = make_console()  # plain, complete lines when not on a terminal


def print_summary(settings: Settings, warehouse: str, incremental: bool) -> None:
    if warehouse not in ("duckdb", "postgres"):
        console.print(f"(no summary for {warehouse}: query it with its own console)")
        return
    from ingestion.config import load_config
    from tenant_warehouse.dbt_runner import dbt_env

    manifest = Path(dbt_env(settings, warehouse)["DBT_TARGET_PATH"]) / "manifest.json"
    with connect(settings, warehouse) as connection:
        _raw_table(connection, list(load_config().tables))
        _last_run(connection, incremental)
        _built_marts(connection, settings.platform, built_marts(manifest))
        _marts(connection)


def built_marts(manifest: Path) -> list[tuple[str, str]]:
    """(schema, name) of every mart model the platform's dbt project has enabled (a mart whose
    entity the profile lacks is disabled, so not in the manifest), from the last dbt run."""
    try:
        nodes = json.loads(manifest.read_text())["nodes"].values()
    except (OSError, ValueError, KeyError):
        return []
    return sorted(
        (node["schema"], node.get("alias") or node["name"]) for node in nodes
        if node.get("resource_type") == "model"
        and node.get("original_file_path", "").startswith("models/marts/")
    )


def _raw_table(connection: Any, tables: list[str]) -> None:
    table = Table(title="raw layer: rows per instance")
    table.add_column("table")
    counts: dict[str, dict[str, int]] = {}
    instances: set[str] = set()
    for name in tables:
        if not relation_exists(connection, "raw", name):
            continue
        rows = query(connection, f"select instance_id, count(*) from raw.{name} group by 1")
        counts[name] = {instance: int(count) for instance, count in rows}
        instances.update(counts[name])
    ordered = sorted(instances)
    for instance in ordered:
        table.add_column(instance, justify="right")
    table.add_column("total", justify="right")
    for name, per_instance in counts.items():
        values = [per_instance.get(instance, 0) for instance in ordered]
        table.add_row(name, *(f"{value:,}" for value in values), f"{sum(values):,}")
    console.print(table)


def _built_marts(connection: Any, platform: str, marts: list[tuple[str, str]]) -> None:
    table = Table(title=f"marts built for the {platform} platform")
    for column in ("mart", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for schema, name in marts:
        if relation_exists(connection, schema, name):
            count = query(connection, f"select count(*) from {schema}.{name}")[0][0]
            table.add_row(f"{schema}.{name}", f"{int(count):,}")
    console.print(table)


def _last_run(connection: Any, incremental: bool) -> None:
    if not relation_exists(connection, "raw", "_tw_ingestion_runs"):
        return
    rows = query(
        connection,
        "select is_reconciliation, status, count(*), sum(rows_extracted) from raw._tw_ingestion_runs"
        " where run_id = (select r.run_id from raw._tw_ingestion_runs as r"
        "   order by r.started_at desc limit 1) group by 1, 2 order by 1, 2",
    )
    # Rows read include the lag window an incremental pass re-reads: not rows changed.
    parts = [
        f"{'reconciliation' if reconciliation else 'incremental'} passes: {count} {status}"
        f" ({int(read or 0):,} rows read)"
        for reconciliation, status, count, read in rows
    ]
    kind = "incremental run" if incremental else "first (full) run"
    console.print(f"last ingestion ({kind}): " + ", ".join(parts))


def _marts(connection: Any) -> None:
    if relation_exists(connection, "marts", "turnover_by_instance_month"):
        rows = query(
            connection,
            "select t.instance_id, t.month_start, t.currency, t.completed_orders, t.turnover"
            " from marts.turnover_by_instance_month as t"
            " where t.month_start = (select max(l.month_start)"
            "   from marts.turnover_by_instance_month as l"
            "   where l.instance_id = t.instance_id and l.month_start < ("
            "     select max(m.month_start) from marts.turnover_by_instance_month as m"
            "     where m.instance_id = t.instance_id))"
            " order by 1",
        )
        table = Table(title="last closed month's turnover per instance")
        for column in ("instance", "month", "currency", "completed orders", "turnover"):
            table.add_column(column, justify="right" if column in ("completed orders", "turnover") else "left")
        for instance, month, currency, orders, turnover in rows:
            table.add_row(instance, str(month), currency, f"{orders:,}", f"{turnover:,.2f}")
        console.print(table)
    if relation_exists(connection, "marts", "active_users_by_instance"):
        rows = query(
            connection,
            "select a.instance_id, a.period_start, a.active_contacts"
            " from marts.active_users_by_instance as a"
            " where a.period = 'month' and a.period_start = (select max(b.period_start)"
            "   from marts.active_users_by_instance as b"
            "   where b.instance_id = a.instance_id and b.period = 'month')"
            " order by 1",
        )
        table = Table(title="active users in the latest month per instance")
        for column in ("instance", "month", "active contacts"):
            table.add_column(column)
        for instance, month, active in rows:
            table.add_row(instance, str(month), f"{active:,}")
        console.print(table)
