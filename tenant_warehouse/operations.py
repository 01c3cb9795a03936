"""What the commands do, as functions: generate, simulate, ingest, build, one cycle, the demo."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tenant_warehouse.dbt_runner import run_dbt
from tenant_warehouse.settings import INSTANCES, Settings

console = Console()


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed:,.0f}"), TimeElapsedColumn(), console=console, transient=False,
    )


def source_exists(settings: Settings, instance: str) -> bool:
    from reference_platform.database import Database

    return Database(settings.source_url(instance)).exists()


def generate_platform(
    settings: Settings, instances: list[str], seed: int, scale: float, force: bool = False
) -> dict[str, dict[str, int]]:
    from reference_platform.generator import generate

    settings.source_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    with _progress() as progress:
        for instance in instances:
            if source_exists(settings, instance) and not force:
                console.print(f"{instance}: source exists, kept (use --force to recreate)")
                continue
            task = progress.add_task(f"generate {instance}", total=None)
            counts[instance] = generate(
                settings.source_url(instance), instance, seed=seed, scale=scale,
                progress=lambda message, task=task: progress.update(task, description=message),
            )
            total = sum(counts[instance].values())
            progress.update(task, description=f"generated {instance}: {total:,} rows")
    return counts


def simulate_platform(
    settings: Settings, instances: list[str], ticks: int, seed: int, tick_hours: float = 6.0
) -> None:
    from reference_platform.simulator import simulate

    with _progress() as progress:
        for instance in instances:
            task = progress.add_task(f"simulate {instance}", total=ticks)
            summary = simulate(
                settings.source_url(instance), instance, ticks=ticks, seed=seed,
                tick_hours=tick_hours,
                progress=lambda message, task=task: progress.update(
                    task, advance=1, description=message
                ),
            )
            progress.update(task, completed=ticks, description=f"simulated {instance}: {summary}")


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

    table = Table(title="ingestion", show_lines=False)
    for column in ("instance", "table", "status", "extracted", "deleted", "error"):
        table.add_column(column)
    for record in report.records:
        colour = "green" if record.status == "success" else "red"
        table.add_row(
            record.instance_id, record.table_name, f"[{colour}]{record.status}[/{colour}]",
            f"{record.rows_extracted:,}", f"{record.rows_deleted or 0:,}",
            (record.error_message or "")[:80],
        )
    console.print(table)
    rate = report.rows_extracted / seconds if seconds else 0.0
    console.print(
        f"ingested {report.rows_extracted:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)"
        + ("" if report.ok else " [red]with failures[/red]")
    )


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
    return result.ok


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


# One cycle at a time per TW_HOME (ingestion has its own lock, ingestion/lock.py): a second
# `warehouse run` is refused instead of building the warehouse twice at once.
CYCLE_LOCK_FILE = "cycle.lock"


def run_cycle(
    settings: Settings, warehouse: str, instances: list[str] | None = None,
    full_build: bool = False,
) -> bool:
    """One monitored cycle. Every step runs even when an earlier one failed (a failed ingestion
    still gets its row counts, build and alerts); a step that crashes is an alert itself.

    Raises IngestionLocked, before doing anything, when another cycle holds the cycle lock, and
    when another ingestion run (`warehouse ingest`, a rerun) is loading: building on top of a
    running load is refused too, so the cycle stops there."""
    from ingestion.lock import RunLock

    with RunLock(settings.home / CYCLE_LOCK_FILE, what="cycle (warehouse run)"):
        return _run_cycle(settings, warehouse, instances, full_build)


def cycle_build(settings: Settings, warehouse: str, full: bool = False) -> bool:
    """The cycle's build: what depends on the raw tables that changed (cycle_build.py)."""
    from ingestion.config import load_config
    from tenant_warehouse.cycle_build import plan_build, record_build

    plan = plan_build(settings, warehouse, load_config().tables, full=full)
    console.print(f"[dim]build plan: {plan.reason}[/dim]")
    if plan.skip:
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

    def step(name: str, action: Any) -> Any:
        nonlocal ok
        try:
            return action()
        except IngestionLocked:
            raise
        except Exception as exc:
            ok = False
            message = f"{type(exc).__name__}: {exc}"
            errors.append(CycleError(name, message))
            console.print(f"[red]{name} crashed:[/red] {message}")
            return None

    console.rule("[bold]ingest")
    report = step("ingest", lambda: ingest(settings, warehouse, instances))
    ok = ok and bool(report is not None and report.ok)
    step("row counts", lambda: record_row_counts(settings, warehouse, instances, report))
    console.rule("[bold]build")
    step("freshness", lambda: check_freshness(settings, warehouse))
    built = step("build", lambda: cycle_build(settings, warehouse, full_build))
    ok = ok and bool(built)
    console.rule("[bold]alerts")
    try:
        send_alerts(settings, warehouse, errors)
    except Exception as exc:
        ok = False
        console.print(f"[red]alerts crashed:[/red] {type(exc).__name__}: {exc}")
    if warehouse in ("duckdb", "postgres") and built:
        # Tenant dumps due after a cycle (deliveries.yml); never fails the cycle, alerts itself.
        from tenant_warehouse.exports.delivery import deliver_after_cycle

        deliver_after_cycle(settings, warehouse, log=lambda text: console.print(text, markup=False))
    console.print(f"cycle {'[green]ok' if ok else '[red]failed'}[/]")
    return ok


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


def demo(settings: Settings, warehouse: str, scale: float, seed: int) -> bool:
    """First run: generate and load everything. Later runs: advance the platform, load the delta."""
    instances = list(INSTANCES)
    first_run = not all(source_exists(settings, instance) for instance in instances)
    if first_run:
        console.rule("[bold]1. generate the reference platform")
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
