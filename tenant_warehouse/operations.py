"""What the commands do, as functions: generate, simulate, ingest, build, one cycle, the demo."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tenant_warehouse.dbt_runner import run_dbt
from tenant_warehouse.monitoring.journal import current_command, exclusive, warehouse_write
from tenant_warehouse.monitoring.output import make_console
from tenant_warehouse.settings import Settings

console = make_console()  # plain, complete lines when not on a terminal


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed:,.0f}"), TimeElapsedColumn(), console=console, transient=False,
    )


def source_exists(settings: Settings, instance: str) -> bool:
    from tenant_warehouse.platforms import demo_hooks

    return demo_hooks(settings.platform).source_exists(settings.source_url(instance))


def generate_platform(
    settings: Settings, instances: list[str], seed: int, scale: float | None,
    force: bool = False,
) -> dict[str, dict[str, int]]:
    """The platform's demo generator (its registered hooks, tenant_warehouse/platforms.py);
    scale None: the demo's own volume."""
    from tenant_warehouse.platforms import demo_hooks

    hooks = demo_hooks(settings.platform)
    scale = hooks.demo_scale if scale is None else scale
    settings.source_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    with _progress() as progress:
        for instance in instances:
            if source_exists(settings, instance) and not force:
                console.print(f"{instance}: source exists, kept (use --force to recreate)")
                continue
            task = progress.add_task(f"generate {instance}", total=None)
            counts[instance] = dict(hooks.generate(
                settings.source_url(instance), instance, seed, scale,
                lambda message, task=task: progress.update(task, description=message),
            ))
            total = sum(counts[instance].values())
            progress.update(task, description=f"generated {instance}: {total:,} rows")
    return counts


def simulate_platform(
    settings: Settings, instances: list[str], ticks: int, seed: int, tick_hours: float = 6.0
) -> None:
    from tenant_warehouse.platforms import demo_hooks

    hooks = demo_hooks(settings.platform)
    with _progress() as progress:
        for instance in instances:
            task = progress.add_task(f"simulate {instance}", total=ticks)
            summary = hooks.simulate(
                settings.source_url(instance), instance, ticks, seed, tick_hours,
                lambda message, task=task: progress.update(task, advance=1, description=message),
            )
            progress.update(task, completed=ticks, description=f"simulated {instance}: {summary}")


@exclusive("ingest")
def ingest(
    settings: Settings,
    warehouse: str,
    instances: list[str] | None = None,
    tables: list[str] | None = None,
    reconcile: bool | None = None,
    since: dt.datetime | None = None,
) -> Any:
    from ingestion.pipeline import run_ingestion

    if warehouse == "postgres":
        from tenant_warehouse.warehouse_sql import ensure_postgres_database

        ensure_postgres_database()
    started = time.perf_counter()
    window = {"since": since} if since is not None else {}
    with _progress() as progress:
        report = run_ingestion(
            settings, destination=warehouse, instances=instances, tables=tables,
            reconcile=reconcile, progress=progress, **window,
        )
    seconds = time.perf_counter() - started
    _print_ingestion_report(report, seconds)
    return report


def _print_ingestion_report(report: Any, seconds: float) -> None:
    from rich.table import Table

    from tenant_warehouse.monitoring.output import clip

    # "read" counts what the source returned (an incremental read includes the lag window it
    # re-reads), "loaded" the new or changed versions written; reconciliation passes are their
    # own lines. Errors (failed lines) and notes (schema changes, skipped passes) are apart.
    table = Table(title="ingestion", show_lines=False)
    for column in ("instance", "table", "pass", "status", "read", "loaded", "deleted", "error",
                   "note"):  # fmt: skip
        table.add_column(column, justify="right" if column in ("read", "loaded", "deleted") else "left")
    for record in report.records:
        colour = {"success": "green", "skipped": "dim"}.get(record.status, "red")
        message = record.error_message or ""
        failed = record.status == "failed"
        table.add_row(
            record.instance_id, record.table_name,
            "reconciliation" if record.is_reconciliation else "incremental",
            f"[{colour}]{record.status}[/{colour}]", f"{record.rows_extracted:,}",
            f"{record.rows_loaded:,}", f"{record.rows_deleted or 0:,}",
            clip(console, message, 80) if failed else "", "" if failed else clip(console, message, 60),
        )  # fmt: skip
    console.print(table)
    rate = report.rows_extracted / seconds if seconds else 0.0
    console.print(
        f"read {report.rows_extracted:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s), "
        f"loaded {report.rows_loaded:,} new or changed, deleted {report.rows_deleted:,}"
        + ("" if report.ok else " [red]with failures[/red]")
    )
    for error in getattr(report, "errors", []):
        console.print(f"[red]error:[/red] {error}", highlight=False)


@exclusive("build")
def build(
    settings: Settings, warehouse: str, select: list[str] | None = None,
    args: list[str] | None = None,
) -> bool:
    if warehouse == "postgres":
        from tenant_warehouse.warehouse_sql import ensure_postgres_database

        ensure_postgres_database()
    args = args or ["build"] + (["--select", *select] if select else [])
    started = time.perf_counter()
    console.print(f"[bold]dbt {' '.join(args)}[/bold] on {warehouse}")
    result = run_dbt(settings, args, target=warehouse, echo=True)
    console.print(
        f"dbt build {'[green]passed' if result.ok else '[red]failed'}[/] "
        f"in {time.perf_counter() - started:.1f} s"
    )
    if not result.ok:
        from tenant_warehouse.cycle_build import forget_builds

        forget_builds(settings)
    _refresh_tenant_access(settings, warehouse)
    return result.ok


def _refresh_tenant_access(settings: Settings, warehouse: str, only_if_broken: bool = False) -> None:
    """dbt replaced marts (and dropped the tenant views or BigQuery policies with them):
    re-apply now; TenantAccessError propagates so the cycle alerts on it (tenants/after_build.py)."""
    from tenant_warehouse.tenants.after_build import refresh_tenant_access

    note = refresh_tenant_access(settings, warehouse, only_if_broken=only_if_broken)
    if note:
        console.print(f"[dim]tenant access: {note}[/dim]", highlight=False)


# --- monitored cycle: ingest -> row counts -> freshness -> build -> alerts ---------------------


def monitoring_supported(warehouse: str) -> bool:
    from tenant_warehouse.monitoring.store import SUPPORTED_TARGETS

    return warehouse in SUPPORTED_TARGETS


def record_row_counts(
    settings: Settings, warehouse: str, instances: list[str] | None, report: Any = None
) -> None:
    """Append the raw row counts per instance and table (the row-count trend's data)."""
    if not monitoring_supported(warehouse):
        return
    from ingestion.config import load_config
    from tenant_warehouse.monitoring.capture import capture_row_counts, configured_tables
    from tenant_warehouse.monitoring.store import open_warehouse

    with open_warehouse(settings, warehouse) as store:
        rows = capture_row_counts(
            store, instances or list(load_config().instances), configured_tables(),
            ingestion_run_id=getattr(report, "run_id", None),
        )  # fmt: skip
    console.print(f"[dim]row counts: {len(rows)} recorded[/dim]")


def check_freshness(settings: Settings, warehouse: str) -> bool:
    """dbt source freshness (recorded by the on-run-end hook); stale sources are not a failure
    of the cycle, the alert rule stale_data reports them."""
    import json

    from tenant_warehouse.dbt_runner import dbt_env

    sources = Path(dbt_env(settings, warehouse)["DBT_TARGET_PATH"]) / "sources.json"
    sources.unlink(missing_ok=True)  # never report an earlier check as this one
    result = run_dbt(settings, ["source", "freshness"], target=warehouse)
    try:
        results = json.loads(sources.read_text())["results"]
    except (OSError, ValueError, KeyError):
        console.print("[red]dbt source freshness could not run[/red]")
        console.print(result.output[-2000:])
        return False
    counts: dict[str, int] = {}
    for item in results:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    colour = "green" if set(counts) <= {"pass"} else "yellow"
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    console.print(f"source freshness: [{colour}]{summary}[/{colour}]")
    return True


def send_alerts(
    settings: Settings, warehouse: str, cycle_errors: list[Any] | None = None
) -> Any:
    if not monitoring_supported(warehouse):
        console.print(f"[dim]alerts: not evaluated on {warehouse} (duckdb and postgres only)[/dim]")
        return None
    from tenant_warehouse.monitoring.alerts import evaluate_and_send

    return evaluate_and_send(settings, warehouse, cycle_errors=cycle_errors or [])


# Cycles take the one warehouse lock (ingestion.lock.WAREHOUSE_LOCK_FILE), like every command
# that writes the warehouse; the old name is kept for callers.
CYCLE_LOCK_FILE = "warehouse.lock"


def run_cycle(
    settings: Settings, warehouse: str, instances: list[str] | None = None,
    full_build: bool = False,
) -> bool:
    """One monitored cycle. Every step runs even when an earlier one failed (a failed ingestion
    still gets its row counts, build and alerts); a step that crashes is an alert itself.

    Raises IngestionLocked, before doing anything, when another command that writes the
    warehouse (a cycle, `warehouse build`, `ingest`, ...) holds the warehouse lock, and
    when another ingestion run (`warehouse ingest`, a rerun) is loading: building on top of a
    running load is refused too, so the cycle stops there."""
    # The one warehouse lock (a manual build, an ingest, another cycle: refused, exit 75) and
    # the journal entry that records the cycle outside the warehouse (monitoring/journal.py).
    with warehouse_write(settings, "run") as write:
        write.ok = _run_cycle(settings, warehouse, instances, full_build)
        return write.ok


def cycle_build(settings: Settings, warehouse: str, full: bool = False) -> bool:
    """The cycle's build: what depends on the raw tables that changed (cycle_build.py)."""
    from ingestion.config import load_config
    from tenant_warehouse.cycle_build import plan_build, record_build

    plan = plan_build(settings, warehouse, load_config().tables, full=full)
    console.print(f"[dim]build plan: {plan.reason}[/dim]")
    if plan.error:  # e.g. another process holds the DuckDB file: no dbt traceback, one line
        raise RuntimeError(plan.error)
    if plan.skip:
        # A dbt run outside the cycle (an engineer's `dbt build`) may have dropped tenant views.
        _refresh_tenant_access(settings, warehouse, only_if_broken=True)
        return True
    ok = build(settings, warehouse, args=plan.args)
    record_build(settings, plan, ok)
    return ok


def _run_cycle(
    settings: Settings, warehouse: str, instances: list[str] | None, full_build: bool
) -> bool:
    from ingestion.errors import IngestionLocked
    from tenant_warehouse.monitoring.alerts import CycleError

    errors: list[CycleError] = []
    ok = True
    write = current_command()  # the journal entry of this cycle (monitoring/journal.py)
    for gone in write.interrupted if write else []:
        # A cycle killed mid-way (kill -9, OOM): recorded now, alerted by this cycle.
        console.print(f"[red]previous command interrupted:[/red] {gone.describe()}", highlight=False)

    def step(name: str, action: Any) -> Any:
        nonlocal ok
        if write:
            write.step(name)
        try:
            return action()
        except IngestionLocked:
            raise
        except Exception as exc:
            ok = False
            message = f"{type(exc).__name__}: {exc}"
            errors.append(CycleError(name, message))
            if write:
                write.errors.append(f"{name}: {message}")
            console.print(f"[red]{name} crashed:[/red] {message}")
            return None

    console.rule("[bold]ingest")
    report = step("ingest", lambda: ingest(settings, warehouse, instances))
    ok = ok and bool(report is not None and report.ok)
    for error in getattr(report, "errors", None) or []:
        # Run-level failures (the warehouse unreachable, the run log not written) are in no
        # run-log row: the cycle alerts them itself.
        errors.append(CycleError("ingest", error))
        if write:
            write.errors.append(f"ingest: {error}")
    step("row counts", lambda: record_row_counts(settings, warehouse, instances, report))
    console.rule("[bold]build")
    from tenant_warehouse.cycle_build import freshness_due

    if step("freshness due", lambda: freshness_due(settings, report)) is not False:
        step("freshness", lambda: check_freshness(settings, warehouse))
    else:
        console.print("[dim]source freshness: not checked (nothing changed; checked "
                      "within TW_IDLE_FRESHNESS_MINUTES)[/dim]")
    # After an interrupted command, models may be half-built: build the whole project.
    whole = full_build or bool(write and write.interrupted)
    built = step("build", lambda: cycle_build(settings, warehouse, whole))
    ok = ok and bool(built)
    console.rule("[bold]alerts")
    if write:
        write.step("alerts")
    try:
        send_alerts(settings, warehouse, errors)
        if write:
            write.recorded = True  # this cycle's errors are in the warehouse's alert log
    except Exception as exc:
        ok = False
        console.print(f"[red]alerts crashed:[/red] {type(exc).__name__}: {exc}")
        if write:
            # The warehouse cannot take the alert: send it now; the journal keeps it until an
            # evaluation can record it there.
            from tenant_warehouse.monitoring.alerts import notify_unrecorded

            write.errors.append(f"alerts: {type(exc).__name__}: {exc}")
            write.alerted = notify_unrecorded(errors, f"{type(exc).__name__}: {exc}")
    if warehouse in ("duckdb", "postgres") and built:
        # Tenant dumps due after a cycle (deliveries.yml); never fails the cycle, alerts itself.
        from tenant_warehouse.exports.delivery import deliver_after_cycle

        deliver_after_cycle(settings, warehouse, log=lambda text: console.print(text, markup=False))
    console.print(f"cycle {'[green]ok' if ok else '[red]failed'}[/]")
    return ok


@exclusive("reload")
def reload(
    settings: Settings,
    warehouse: str,
    groups: list[tuple[list[str], list[str]]],
    since: dt.datetime | None = None,
    reconcile: bool | None = None,
) -> bool:
    """Ingest each (instances, tables) group, then rebuild only what depends on those tables,
    then alerts: `warehouse rerun` and `warehouse backfill`."""
    from tenant_warehouse.monitoring.alerts import CycleError
    from tenant_warehouse.monitoring.control import dbt_selectors

    ok, errors, touched = True, [], set()
    for instances, tables in groups:
        label = f"{', '.join(instances)}: {', '.join(tables)}"
        console.rule(f"[bold]reload {label}" + (f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""))
        try:
            report = ingest(settings, warehouse, instances, tables, reconcile=reconcile, since=since)
            ok = ok and bool(report.ok)
            record_row_counts(settings, warehouse, instances, report)
        except Exception as exc:
            ok = False
            errors.append(CycleError("ingest", f"{type(exc).__name__}: {exc}"))
            console.print(f"[red]reload of {label} crashed:[/red] {type(exc).__name__}: {exc}")
        touched.update(tables)
    if touched:
        ok = build(settings, warehouse, dbt_selectors(touched)) and ok
    send_alerts(settings, warehouse, errors)
    return ok


def _find_source_server(settings: Settings) -> None:
    """A profile other than reference keeps its demo sources in PostgreSQL databases
    tw_<platform>_<instance> on the TW_PG_* server (Settings.source_url). When neither TW_PG_*
    nor TW_SOURCE_URL_TEMPLATE say where, the demo uses the server on 127.0.0.1:5432, else starts
    a private cluster under TW_HOME/postgres (left running; the next demo adopts it), and points
    TW_PG_* (sources, and a PostgreSQL warehouse) at it."""
    import os

    from tenant_warehouse.settings import DEFAULT_PLATFORM

    given = ("TW_SOURCE_URL_TEMPLATE", "TW_PG_HOST", "TW_PG_PORT")
    if settings.platform == DEFAULT_PLATFORM or any(name in os.environ for name in given):
        return
    from tenant_warehouse.postgres import discover_server

    with discover_server(private_dir=settings.home / "postgres") as server:
        for name, value in server.warehouse_env("").items():
            if name != "TW_PG_DATABASE":
                os.environ[name] = value
    console.print(f"[dim]sources: PostgreSQL on {server.host}:{server.port} ({server.origin})[/dim]")


@exclusive("demo")
def demo(settings: Settings, warehouse: str, scale: float | None, seed: int) -> bool:
    """First run: generate and load everything. Later runs: advance the platform, load the delta."""
    from ingestion.config import load_config

    instances = list(load_config().instances_of_kind("database"))
    _find_source_server(settings)
    first_run = not all(source_exists(settings, instance) for instance in instances)
    if first_run:
        console.rule(f"[bold]1. generate the {settings.platform} platform")
        generate_platform(settings, instances, seed=seed, scale=scale, force=True)
    else:
        console.rule("[bold]1. sources exist: simulate one tick of activity (incremental run)")
        simulate_platform(settings, instances, ticks=1, seed=seed)
    console.rule(f"[bold]2. ingest with dlt into {warehouse} ({'full' if first_run else 'incremental'})")
    report = ingest(settings, warehouse, instances)
    try:
        record_row_counts(settings, warehouse, instances, report)
    except Exception as exc:  # the demo goes on; `warehouse run` reports this as an alert
        console.print(f"[yellow]row counts not recorded: {type(exc).__name__}: {exc}[/yellow]")
    console.rule("[bold]3. dbt build")
    built = build(settings, warehouse)
    console.rule("[bold]4. what landed")
    from tenant_warehouse.summary import print_summary

    print_summary(settings, warehouse, incremental=not first_run)
    return bool(report.ok and built)
