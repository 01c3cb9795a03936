"""`warehouse status`: the state of every instance and table, and of the last dbt runs.

Reads the command journal first (monitoring/journal.py: a command in progress, a cycle killed
or failed), then the observability views (as of now). Every configured (instance, table) gets a
line, even one that never ran. A failing line is red, a stale or never-loaded one yellow;
tenants with a data problem (an invalid time zone, rows of an unknown organization) are red.
While a build holds the DuckDB file, status answers within a second or two from the journal
(the open alerts as of the last evaluation) and says a build is in progress. The exit code is 1
when anything is failing, so `warehouse status` can gate a script.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from tenant_warehouse.monitoring.alert_config import AlertConfig, load_alert_config
from tenant_warehouse.monitoring.journal import Journal
from tenant_warehouse.monitoring.output import clip, is_plain, make_console
from tenant_warehouse.monitoring.store import (
    MonitoringUnavailable,
    Warehouse,
    WarehouseBusy,
    open_warehouse,
)
from tenant_warehouse.settings import Settings

console = make_console()  # plain, complete lines when not on a terminal
# How long status and report wait for a DuckDB file a build holds before answering from the
# journal instead.
BUSY_WAIT_SECONDS = 1.0


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
    journal = Journal(settings)
    cycle_failed = _print_journal(settings, journal)
    _print_periodic_tier(settings)
    try:
        with open_warehouse(
            settings, target, read_only=True, lock_wait_seconds=busy_wait(settings, journal)
        ) as warehouse:
            if tenant:
                return max(_print_tenant(warehouse, tenant), int(cycle_failed))
            states = table_states(warehouse, config, instances, tables)
            _print_tables(states)
            failing_nodes = _print_dbt(warehouse)
            problems = _print_tenant_problems(warehouse)
            _print_open_alerts(warehouse)
    except WarehouseBusy as exc:
        return _print_from_journal(journal, str(exc), cycle_failed, tenant)
    except MonitoringUnavailable as exc:
        console.print(f"[red]status unavailable:[/red] {exc}")
        return 2
    failing = [s for s in states if s.is_failing]
    if failing or failing_nodes or problems or cycle_failed:
        parts = [f"{len(failing)} table(s)", f"{failing_nodes} dbt node(s)"]
        if problems:
            parts.append(f"{problems} tenant(s) with a data problem")
        if cycle_failed:
            parts.append("the last cycle")
        console.print(
            f"[red bold]failing: {', '.join(parts)}[/red bold]"
            " - `warehouse rerun --failed` retries the failed tables"
        )
        return 1
    console.print("[green]everything is running[/green]")
    return 0


def busy_wait(settings: Settings, journal: Journal) -> float:
    """How long to wait for the DuckDB file: not at all while a journaled build holds it (it
    may take minutes), briefly otherwise (another process's short read or write)."""
    return 0.0 if journal.in_progress(settings) is not None else BUSY_WAIT_SECONDS


def _print_journal(settings: Settings, journal: Journal) -> bool:
    """The command in progress and the last cycle's outcome, from the journal (no warehouse
    needed). True when the last cycle failed or was interrupted."""
    if not journal.exists:
        return False
    running = journal.in_progress(settings)
    if running is not None:
        step = f", step {running.step}" if running.step else ""
        console.print(
            f"[yellow bold]build in progress since {running.started:%H:%M} UTC:[/yellow bold] "
            f"warehouse {running.command} (pid {running.pid}{step})", highlight=False,
        )
    abandoned = [e for e in journal.abandoned(settings) if e.command == "run"]
    last = abandoned[0] if abandoned else journal.last_cycle()
    if last is not None and last.status in ("failed", "interrupted"):
        console.print(f"[red bold]last cycle {last.status.upper()}:[/red bold] {escape(last.describe())}"
                      " - until the next good cycle", highlight=False)
        return True
    return False


def _print_periodic_tier(settings: Settings) -> None:
    """The periodic tier's marts (cycle_build.py): last built, tables pending, next due."""
    from tenant_warehouse.cycle_build import periodic_tier_status

    try:
        line = periodic_tier_status(settings)
    except ValueError as exc:  # TW_PERIODIC_EVERY_MINUTES unreadable: cycles fail the same way
        line = f"periodic tier: {exc}"
    console.print(f"[dim]{escape(line)}[/dim]", highlight=False)


def _print_from_journal(journal: Journal, cause: str, cycle_failed: bool, tenant: str | None) -> int:
    """The warehouse is locked by a build: what the journal knows, at once."""
    console.print(f"[yellow]the warehouse is busy ({escape(cause.splitlines()[0])}); showing the "
                  "journal[/yellow]", highlight=False)
    for entry in journal.latest(5):
        colour = {"ok": "green", "running": "yellow"}.get(entry.status, "red")
        console.print(f"  [{colour}]{escape(entry.describe())}[/{colour}]", highlight=False)
    snapshot = journal.snapshot("open_alerts")
    alerts = snapshot[1] if snapshot else []
    if tenant:
        alerts = [a for a in alerts if a.get("tenant_id") == tenant]
    if snapshot:
        console.print(f"[bold]open alerts as of {snapshot[0]} ({len(alerts)}):[/bold]")
        for alert in alerts[:20]:
            console.print(f"  {alert['title']}", markup=False, highlight=False)
    # The rules status itself exits 1 for: failing tables or nodes, tenants' data problems.
    failing = any(a["rule"] in ("instance_failed", "run_failed", "tenant_data_problem")
                  for a in alerts)
    return 1 if failing or cycle_failed else 0


def _print_tables(states: list[TableState]) -> None:
    table = Table(title="ingestion: state per instance and table", title_justify="left")
    for column, justify in (
        ("instance", "left"), ("table", "left"), ("state", "left"), ("last success", "left"),
        ("failing since", "left"), ("lag", "right"), ("rows", "right"),
        ("last run rows", "right"), ("error", "left"),
    ):  # fmt: skip
        # One line per table on a terminal; whole in a log (monitoring/output.py).
        wrap = {"no_wrap": True, "overflow": "ellipsis"} if column == "error" and not is_plain(console) else {}
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
    problems = _tenant_problem_lines(warehouse, tenant)
    for line in problems:
        console.print(f"[red bold]data problem:[/red bold] {escape(line)}", highlight=False)
    _print_tenant_quarantine(warehouse, tenant)
    if problems or any(row["is_failing"] for row in rows):
        console.print(f"[red bold]tenant {escape(tenant)} is not healthy[/red bold]")
        return 1
    console.print(f"[green]tenant {escape(tenant)} is healthy[/green]")
    return 0


def _tenant_problem_lines(warehouse: Warehouse, tenant: str | None = None) -> list[str]:
    """One line per tenant-level data problem (the alert rule tenant_data_problem's causes)."""
    lines: list[str] = []
    where = " and tenant_id = %s" if tenant else ""
    params = (tenant,) if tenant else ()
    if warehouse.relation_exists("marts", "dim_organizations"):
        try:
            rows = warehouse.query(
                "select tenant_id, source_time_zone, time_zone, updated_at"
                f" from marts.dim_organizations where is_time_zone_fallback{where}"
                " order by tenant_id", params,
            )
        except Exception:  # built before the column existed
            if warehouse.target == "postgres":
                warehouse.connection.rollback()
            rows = []
        for row in rows:
            value = row["source_time_zone"]
            lines.append(
                f"organization {row['tenant_id']} has invalid time zone {value!r} since "
                f"{ago(row['updated_at'])}; its rows are counted in {row['time_zone']}"
            )
    if warehouse.relation_exists("marts", "dq_quarantined_rows"):
        rows = warehouse.query(
            "select tenant_id, count(*) as row_count from marts.dq_quarantined_rows"
            f" where quarantine_reason = 'unknown_organization'{where}"
            " group by tenant_id order by tenant_id", params,
        )
        lines += [
            f"{int(row['row_count']):,} row(s) of tenant {row['tenant_id']} name an organization "
            "the warehouse does not have (kept out of the marts)"
            for row in rows
        ]
    return lines


def _print_tenant_problems(warehouse: Warehouse) -> int:
    lines = _tenant_problem_lines(warehouse)
    if lines:
        console.print(f"[red bold]tenants with a data problem ({len(lines)}):[/red bold]")
        for line in lines:
            console.print(f"  [red]{escape(line)}[/red]", highlight=False)
    return len(lines)


def _print_tenant_quarantine(warehouse: Warehouse, tenant: str) -> None:
    if not warehouse.relation_exists("marts", "dq_quarantined_rows"):
        return
    rows = warehouse.query(
        "select table_name, quarantine_reason, count(*) as row_count"
        " from marts.dq_quarantined_rows where tenant_id = %s"
        " group by table_name, quarantine_reason order by table_name, quarantine_reason",
        (tenant,),
    )
    if rows:
        console.print("quarantined rows: " + ", ".join(
            f"{r['table_name']} {r['quarantine_reason']} {int(r['row_count']):,}" for r in rows
        ), highlight=False)


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
    return clip(console, " ".join(str(text or "").split()), limit)
