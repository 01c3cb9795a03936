"""`warehouse status`: the state of every instance and table, and of the last dbt runs.

Reads the observability views (as of now). Every configured (instance, table) gets a line, even
one that never ran. A failing line is red, a stale or never-loaded one yellow. The exit code is 1
when anything is failing, so `warehouse status` can gate a script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tenant_warehouse.monitoring.alert_config import AlertConfig, load_alert_config
from tenant_warehouse.monitoring.store import MonitoringUnavailable, Warehouse, open_warehouse
from tenant_warehouse.settings import Settings

console = Console()


@dataclass(frozen=True)
class TableState:
    instance_id: str
    table_name: str
    state: str  # ok, failing, stale, never run
    row: dict[str, Any]

    @property
    def is_failing(self) -> bool:
        return self.state == "failing"


def table_states(
    warehouse: Warehouse,
    config: AlertConfig,
    instances: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
) -> list[TableState]:
    """One state per configured (instance, table) plus any other the run log knows."""
    known: dict[tuple[str, str], dict[str, Any]] = {}
    if warehouse.has_view("pipeline_status"):
        for row in warehouse.query("select * from observability.pipeline_status"):
            known[(row["instance_id"], row["table_name"])] = row
    configured_instances, configured_tables = _configured()
    keys = {(i, t) for i in configured_instances for t in configured_tables} | set(known)
    states = []
    for instance, table in sorted(keys, key=lambda k: (k[0], _table_order(k[1], configured_tables))):
        if instances and instance not in instances:
            continue
        if tables and table not in tables:
            continue
        row = known.get((instance, table), {})
        if not row:
            state = "never run"
        elif row["is_failing"]:
            state = "failing"
        elif row["lag_seconds"] is not None and (
            row["lag_seconds"] > config.lag_threshold_minutes(table) * 60
        ):
            state = "stale"
        else:
            state = "ok"
        states.append(TableState(instance, table, state, row))
    return states


def print_status(
    settings: Settings,
    target: str,
    instances: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    tenant: str | None = None,
) -> int:
    config = load_alert_config()
    try:
        with open_warehouse(settings, target, read_only=True) as warehouse:
            if tenant:
                return _print_tenant(warehouse, tenant)
            states = table_states(warehouse, config, instances, tables)
            _print_tables(states)
            failing_nodes = _print_dbt(warehouse)
            _print_open_alerts(warehouse)
    except MonitoringUnavailable as exc:
        console.print(f"[red]status unavailable:[/red] {exc}")
        return 2
    failing = [s for s in states if s.is_failing]
    if failing or failing_nodes:
        console.print(
            f"[red bold]{len(failing)} table(s) and {failing_nodes} dbt node(s) failing[/red bold]"
            " - `warehouse rerun --failed` retries the failed tables"
        )
        return 1
    console.print("[green]everything is running[/green]")
    return 0


def _print_tables(states: list[TableState]) -> None:
    table = Table(title="ingestion: state per instance and table", title_justify="left")
    for column, justify in (
        ("instance", "left"), ("table", "left"), ("state", "left"), ("last success", "left"),
        ("failing since", "left"), ("lag", "right"), ("rows", "right"),
        ("last run rows", "right"), ("error", "left"),
    ):  # fmt: skip
        wrap = {"no_wrap": True, "overflow": "ellipsis"} if column == "error" else {}
        table.add_column(column, justify=justify, **wrap)  # type: ignore[arg-type]
    styles = {"failing": "red", "stale": "yellow", "never run": "yellow", "ok": ""}
    for state in states:
        row = state.row
        error = (row.get("last_error_message") or "") if state.is_failing else ""
        # The line already says where: keep the cause.
        error = error.removeprefix(f"instance {state.instance_id}, table {state.table_name}: ")
        table.add_row(
            escape(state.instance_id), escape(state.table_name),
            state.state.upper() if state.is_failing else state.state,
            ago(row.get("last_success_at")), ago(row.get("failing_since")),
            duration(row.get("lag_seconds")), _count(row.get("row_count")),
            _count(row.get("last_rows_extracted")), escape(_clip(error, 110)),
            style=styles[state.state],
        )  # fmt: skip
    console.print(table)


def _print_dbt(warehouse: Warehouse) -> int:
    if not warehouse.has_view("dbt_invocations"):
        console.print("[yellow]dbt: no results recorded yet (run `warehouse build`)[/yellow]")
        return 0
    latest = warehouse.query(
        "select command, status, started_at, nodes, failed_nodes, warned_nodes, skipped_nodes,"
        " stale_sources from observability.dbt_invocations"
        " where command in ('build', 'run', 'test', 'source', 'freshness')"
        " order by completed_at desc limit 3"
    )
    for run in latest:
        colour = {"failed": "red", "warned": "yellow"}.get(run["status"], "green")
        stale = f", {run['stale_sources']} stale source(s)" if run["stale_sources"] else ""
        console.print(
            f"[{colour}]dbt {run['command']}: {run['status']}[/{colour}] {ago(run['started_at'])}"
            f" - {run['nodes']} nodes, {run['failed_nodes']} failed, {run['warned_nodes']} warned,"
            f" {run['skipped_nodes']} skipped{stale}", highlight=False,
        )
    nodes = warehouse.query(
        "select resource_type, node_name, last_status, failing_since, last_message"
        " from observability.dbt_node_status where failing_since is not null"
        " order by is_failing desc, resource_type, node_name"
    )
    if nodes:
        table = Table(title="dbt: failing or warning nodes", title_justify="left")
        for column in ("type", "node", "status", "since", "message"):
            table.add_column(column)
        for node in nodes[:30]:
            table.add_row(
                node["resource_type"], escape(node["node_name"]), node["last_status"],
                ago(node["failing_since"]), escape(_clip(node["last_message"], 80)),
                style="red" if node["last_status"] in ("error", "fail") else "yellow",
            )  # fmt: skip
        console.print(table)
    return sum(1 for node in nodes if node["last_status"] in ("error", "fail", "runtime error"))


def _print_open_alerts(warehouse: Warehouse) -> None:
    if not warehouse.has("alerts"):
        return
    rows = warehouse.query(
        f"select alert_key, event, title from {warehouse.relation('alerts')}"
        f" where event in ('fired', 'resolved') order by recorded_at"
    )
    latest: dict[str, dict[str, Any]] = {row["alert_key"]: row for row in rows}
    open_alerts = [row for row in latest.values() if row["event"] == "fired"]
    if open_alerts:
        console.print(f"[bold]open alerts ({len(open_alerts)}):[/bold]")
        for row in open_alerts[-10:]:
            console.print(f"  {row['title']}", markup=False, highlight=False)


def _print_tenant(warehouse: Warehouse, tenant: str) -> int:
    if not warehouse.has_view("pipeline_status_by_tenant"):
        console.print("[yellow]observability.pipeline_status_by_tenant does not exist yet[/yellow]")
        return 2
    rows = warehouse.query(
        "select * from observability.pipeline_status_by_tenant where tenant_id = %s"
        " order by table_name",
        (tenant,),
    )
    if not rows:
        console.print(f"[yellow]no tenant {tenant} in the warehouse[/yellow]")
        return 2
    table = Table(title=f"tenant {tenant}", title_justify="left")
    for column in ("table", "rows", "last changed", "last loaded", "ingestion", "lag"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            escape(row["table_name"]), _count(row["tenant_rows"]), ago(row["last_changed_at"]),
            ago(row["last_loaded_at"]), row["last_status"] or "never run",
            duration(row["lag_seconds"]), style="red" if row["is_failing"] else "",
        )  # fmt: skip
    console.print(table)
    return 1 if any(row["is_failing"] for row in rows) else 0


def _configured() -> tuple[list[str], list[str]]:
    try:
        from ingestion.config import load_config

        config = load_config()
        return list(config.instances), list(config.tables)
    except Exception:  # status still shows what the run log knows
        return [], []


def _table_order(table: str, configured: list[str]) -> int:
    return configured.index(table) if table in configured else len(configured)


def ago(value: Any, now: dt.datetime | None = None) -> str:
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    seconds = ((now or dt.datetime.now(dt.UTC)) - value).total_seconds()
    stamp = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp} ({duration(seconds)} ago)"


def duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _clip(text: Any, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
