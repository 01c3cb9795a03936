"""`warehouse export`, `warehouse deliver` and `warehouse statements`: arguments and handlers
(registered by cli.py). User mistakes print one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tenant_warehouse.exports.result import FORMATS, ExportResult
from tenant_warehouse.settings import Settings

console = Console()
EXIT_USAGE = 2


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
        # A pipe or a log file gets the summary lines only, no bar frames.
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """User mistakes and unavailable warehouses: one line naming the cause, exit 2."""
    from tenant_warehouse.exports.delivery_config import DeliveryConfigError
    from tenant_warehouse.exports.result import ExportError
    from tenant_warehouse.monitoring.store import MonitoringUnavailable
    from tenant_warehouse.statements.lines import StatementError
    from tenant_warehouse.tenants.errors import TenantAccessError, TenantError

    try:
        yield
    except (TenantError, TenantAccessError, ExportError, StatementError, DeliveryConfigError,
            MonitoringUnavailable) as exc:  # fmt: skip
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(EXIT_USAGE) from None


def _tenants(args: argparse.Namespace, settings: Settings, include_deleted: bool = False) -> list[str]:
    from tenant_warehouse.exports.delivery import warehouse_tenants
    from tenant_warehouse.tenants.ids import normalize_tenant_id

    if args.all_tenants:
        return warehouse_tenants(settings, args.warehouse, include_deleted)
    if not args.tenant:
        console.print("[red]error:[/red] say which tenant: --tenant uk:42 (repeatable) or --all-tenants")
        raise SystemExit(EXIT_USAGE)
    return list(dict.fromkeys(normalize_tenant_id(t) for t in args.tenant))


# --- export -------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.exports.dump import (
        export_tenant,
        export_tenants,
        peak_rss_bytes,
        tenant_slug,
    )

    with _user_errors():
        tenants = _tenants(args, settings)
        one = len(tenants) == 1 and not args.all_tenants
        with _progress() as progress:
            overall = progress.add_task("tenants", total=len(tenants))
            current = progress.add_task("", total=None)
            done: dict[str, int] = {}

            def report(relation: str, rows: int, total: int) -> None:
                done[relation] = rows
                progress.update(current, completed=sum(done.values()), description=relation)

            def next_tenant(result: ExportResult) -> None:
                done.clear()
                progress.reset(current, total=None, description="")
                progress.advance(overall)

            if one:
                results = [export_tenant(
                    settings, args.warehouse, tenants[0], args.format, args.output, report,
                    force=args.force,
                )]  # fmt: skip
            else:
                results = export_tenants(
                    settings, args.warehouse, tenants, args.format,
                    lambda tenant_id: args.output / tenant_slug(tenant_id), report,
                    force=args.force, on_tenant=next_tenant,
                )  # fmt: skip
    table = Table(title=f"export ({args.format}) to {args.output}")
    for column in ("tenant", "status", "rows", "files", "MB", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column in ("tenant", "status") else "right")
    shown = results if len(results) <= 20 else sorted(results, key=lambda r: -r.total_rows)[:10]
    if len(shown) < len(results):
        table.caption = f"the 10 largest of {len(results)} tenants"
    failed = [r for r in results if r.error]
    results = [r for r in results if not r.error]
    shown = [r for r in shown if not r.error]
    for r in shown:
        rate = r.total_rows / r.seconds if r.seconds and not r.skipped else 0
        table.add_row(
            r.tenant_id, "unchanged" if r.skipped else "written", f"{r.total_rows:,}",
            str(len(r.files)), f"{r.bytes / 1e6:.2f}", f"{r.seconds:.2f}",
            f"{rate:,.0f}" if rate else "",
        )  # fmt: skip
    console.print(table)
    written = [r for r in results if not r.skipped]
    rows = sum(r.total_rows for r in written)
    seconds = sum(r.seconds for r in written)
    console.print(
        f"{len(written)} written, {len(results) - len(written)} unchanged"
        + (f", {len(failed)} failed" if failed else "") + f"; {rows:,} rows in"
        f" {seconds:.1f} s" + (f" ({rows / seconds:,.0f} rows/s)" if seconds else "")
        + f"; peak RSS {peak_rss_bytes() / 2**20:.0f} MiB"
    )
    for r in failed:
        console.print(f"[red]failed:[/red] {escape(r.error or '')}", highlight=False, soft_wrap=True)
    return 1 if failed else 0


# --- deliver ------------------------------------------------------------------------------------


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.exports.delivery import deliver

    schedules = ("after_cycle", "monthly") if args.schedule == "all" else (args.schedule,)
    with _user_errors():
        try:
            with _progress() as progress:
                task = progress.add_task("deliveries", total=None)
                report = deliver(
                    settings, args.warehouse, schedules=schedules, names=args.name or None,
                    tenants=args.tenant or None, force=args.force,
                    log=lambda message: progress.console.print(escape(message), highlight=False),
                    progress=lambda relation, rows, total: progress.update(
                        task, description=f"export {relation} {rows:,}/{total:,}"
                    ),
                )  # fmt: skip
                progress.update(task, description="deliveries done", total=1, completed=1)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            return EXIT_USAGE
    print_delivery_report(report)
    return 0 if report.ok else 1


def print_delivery_report(report: object) -> None:
    table = Table(title="deliveries")
    for column in ("delivery", "tenant", "status", "detail"):
        table.add_column(column)
    colours = {"delivered": "green", "failed": "red", "unchanged": "dim", "not_due": "dim"}
    for outcome in report.outcomes:  # type: ignore[attr-defined]
        colour = colours.get(outcome.status, "white")
        table.add_row(outcome.delivery, outcome.tenant_id, f"[{colour}]{outcome.status}[/{colour}]",
                      escape(outcome.detail[:160]))  # fmt: skip
    console.print(table)
    failed = len(report.failed)  # type: ignore[attr-defined]
    console.print(
        f"{len(report.outcomes)} checked, "  # type: ignore[attr-defined]
        + (f"[red]{failed} failed (alerted, retried next run)[/red]" if failed else "none failed")
    )


# --- statements ---------------------------------------------------------------------------------


def cmd_statements(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.statements.render import write_statements

    with _user_errors():
        if args.month:
            from tenant_warehouse.statements.lines import parse_month

            parse_month(None, args.month)
        tenants = _tenants(args, settings, include_deleted=True)
        with _progress() as progress:
            task = progress.add_task("statements", total=len(tenants))
            csv_path, html = write_statements(
                settings, args.warehouse, tenants, args.output, month=args.month,
                progress=lambda tenant_id: progress.update(task, advance=1, description=tenant_id),
            )  # fmt: skip
            progress.update(task, completed=len(tenants), description="statements done")
    console.print(f"{len(html)} statement(s) in {args.output}; accounting CSV: {csv_path}")
    return 0


# --- parser -------------------------------------------------------------------------------------


def _warehouse_argument(parser: argparse.ArgumentParser) -> None:
    import os

    parser.add_argument("--warehouse", choices=("duckdb", "postgres"),
                        default=os.environ.get("TW_WAREHOUSE", "duckdb"),
                        help="warehouse to read (default: duckdb, or TW_WAREHOUSE)")


def _tenant_arguments(parser: argparse.ArgumentParser) -> None:
    _warehouse_argument(parser)
    parser.add_argument("--tenant", action="append", metavar="TENANT_ID",
                        help="tenant id <instance>:<organization>, e.g. uk:42 (repeatable)")
    parser.add_argument("--all-tenants", action="store_true",
                        help="every organization in the warehouse (exports: not soft-deleted;"
                        " statements: soft-deleted ones too, for the months they were billed)")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    _tenant_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, required=True,
                        help="csv/parquet: a file per table; xlsx: one workbook, a sheet per table"
                        " plus definitions; duckdb: one database file")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="folder to write (several tenants: DIR/<tenant>/); manifest.json and"
                        " SHA256SUMS beside the files")
    parser.add_argument("--force", action="store_true",
                        help="rewrite even when the folder already holds this data")


def add_deliver_arguments(parser: argparse.ArgumentParser) -> None:
    _warehouse_argument(parser)
    parser.add_argument("--schedule", choices=("after_cycle", "monthly", "all"), default="all",
                        help="which deliveries of deliveries.yml to run (failed ones are always retried)")
    parser.add_argument("--name", action="append", metavar="NAME",
                        help="only this delivery (repeatable), whatever its schedule; --force: also when not due")
    parser.add_argument("--tenant", action="append", metavar="TENANT_ID",
                        help="only this tenant (repeatable)")
    parser.add_argument("--force", action="store_true",
                        help="deliver now even when not due or unchanged")


def add_statements_arguments(parser: argparse.ArgumentParser) -> None:
    _tenant_arguments(parser)
    parser.add_argument("--month", metavar="YYYY-MM",
                        help="one month's statements (default: every billed month)")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="folder for statements[-MONTH].csv and statement-<tenant>[-MONTH].html")
