"""The `warehouse` command: generate and simulate a demo platform, ingest, build, run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich_argparse import RichHelpFormatter

from ingestion.errors import IngestionLocked
from tenant_warehouse.monitoring.output import make_console
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError

console = make_console()  # plain, complete lines when not on a terminal
WAREHOUSE_CHOICES = ("duckdb", "postgres", "bigquery")
# sysexits EX_TEMPFAIL: another run holds the lock; try again later.
EXIT_LOCKED = 75
SCALE_HELP = ("source volume (default: the platform demo's; reference 0.02, where 1.0 is about "
              "1M messages)")


def _names(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _instances(value: str | None) -> list[str]:
    """--instances checked against the ingestion config (ConfigError names an unknown one);
    none given: every instance the config lists (there is no other list of instances)."""
    from ingestion.config import load_config

    return load_config().select_instances(_names(value) or None)


class _Parser(argparse.ArgumentParser):
    """A command-line mistake is one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _check_selection(args: argparse.Namespace) -> None:
    """Refuse unknown instances and tables before anything runs: no lock taken, no run-log
    row, no row count, no alert (ConfigError names the file, the key and what is configured)."""
    names = {"instances": _names(getattr(args, "instances", None)),
             "tables": _names(getattr(args, "tables", None))}
    table = getattr(args, "table", None)
    if isinstance(table, str):
        names["tables"].append(table)
    if not names["instances"] and not names["tables"]:
        return
    from ingestion.config import load_config

    config = load_config()
    config.select_instances(names["instances"] or None)
    config.select_tables(names["tables"] or None)


def _use_postgres_sources() -> None:
    """Point every instance at a PostgreSQL database tw_source_<instance> on the TW_PG_* server."""
    from tenant_warehouse.settings import DEFAULT_PLATFORM, postgres_url_template

    if "TW_SOURCE_URL_TEMPLATE" in os.environ:
        return
    platform = os.environ.get("TW_PLATFORM") or DEFAULT_PLATFORM
    prefix = "tw_source" if platform == DEFAULT_PLATFORM else f"tw_{platform}"
    os.environ["TW_SOURCE_URL_TEMPLATE"] = postgres_url_template(prefix + "_{instance}")


def _choose_platform(args: argparse.Namespace) -> None:
    """--platform / TW_PLATFORM (default reference), checked against platforms/ (PlatformError
    lists the profiles) and exported, so every dbt child reads the profile's models. Another
    profile than reference: its tables.yml is the config unless --config / TW_CONFIG is given,
    and its PostgreSQL warehouse database is tenant_warehouse_<name> unless TW_PG_DATABASE is."""
    from ingestion.config import CONFIG_ENV
    from tenant_warehouse.platforms import check_platform, current_platform, platform_config
    from tenant_warehouse.settings import DEFAULT_PLATFORM, PLATFORM_ENV

    name = check_platform(getattr(args, "platform", None) or current_platform())
    os.environ[PLATFORM_ENV] = name
    if name == DEFAULT_PLATFORM:
        return
    os.environ.setdefault("TW_PG_DATABASE", f"tenant_warehouse_{name}")
    if not getattr(args, "config", None) and not os.environ.get(CONFIG_ENV):
        os.environ[CONFIG_ENV] = str(platform_config(name))


# --- commands ---------------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    operations.generate_platform(
        settings, _instances(args.instances), seed=args.seed, scale=args.scale, force=args.force
    )
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    operations.simulate_platform(
        settings, _instances(args.instances), ticks=args.ticks, seed=args.seed,
        tick_hours=args.tick_hours,
    )
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    report = operations.ingest(
        settings, args.warehouse, _instances(args.instances),
        tables=_names(args.tables) or None, reconcile=args.reconcile,
    )
    code = 0 if report.ok else 1
    if getattr(args, "exit_fast", False):
        _exit_fast(code)
    return code


def _exit_fast(code: int) -> NoReturn:
    """End the process once its work is committed and reported: exit handlers run and output is
    flushed, but the interpreter's teardown is skipped (its garbage collections over every
    module dlt, pyarrow and pandas loaded cost ~0.5 s of a `warehouse ingest`)."""
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    return 0 if operations.build(settings, args.warehouse, args.select) else 1


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    if args.watch:  # one warm process: imports and dbt's parsed project kept (cycle_build.watch)
        from tenant_warehouse.cycle_build import watch

        watch(settings, args.warehouse, _instances(args.instances), args.watch,
              full_build=args.full_build)
        return 0
    ok = operations.run_cycle(
        settings, args.warehouse, _instances(args.instances), full_build=args.full_build
    )
    code = 0 if ok else 1
    if getattr(args, "exit_fast", False):  # a cycle a minute: no interpreter teardown
        _exit_fast(code)
    return code


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.monitoring.status import print_status

    return print_status(
        settings, args.warehouse, instances=_instances(args.instances) if args.instances else None,
        tables=_names(args.tables) or None, tenant=args.tenant,
    )


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    outcome = operations.send_alerts(settings, args.warehouse)
    return 1 if outcome is None or outcome.undelivered else 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.monitoring.report import write_report

    path = write_report(settings, args.warehouse, output=args.output, days=args.days)
    console.print(f"report written to [bold]{path}[/bold] (open it in a browser, works offline)")
    return 0


def cmd_rerun(args: argparse.Namespace, settings: Settings) -> int:
    from ingestion.config import load_config
    from tenant_warehouse import operations
    from tenant_warehouse.monitoring.control import (
        SelectionError,
        failed_selection,
        group_selection,
        parse_selection,
    )
    from tenant_warehouse.monitoring.store import open_warehouse

    config = load_config()
    if not args.failed and not args.select:
        console.print("[red]say what to rerun: --failed and/or --select INSTANCE|TABLE|INSTANCE.TABLE[/red]")
        return 2
    try:
        selection = parse_selection(args.select or [], config.instances, list(config.tables))
    except SelectionError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    if args.failed:
        with open_warehouse(settings, args.warehouse, read_only=True) as store:
            for instance, tables in failed_selection(store).items():
                selection.setdefault(instance, set()).update(tables)
    if args.instances:  # --instances narrows the selection (e.g. --failed --instances uk)
        selection = {i: t for i, t in selection.items() if i in _instances(args.instances)}
    groups = group_selection(selection, list(config.tables))
    if not groups:
        console.print("[green]nothing to rerun: no table is failing[/green]")
        return 0
    ok = operations.reload(settings, args.warehouse, groups, reconcile=args.reconcile)
    return 0 if ok else 1


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from ingestion.config import load_config
    from tenant_warehouse import operations
    from tenant_warehouse.monitoring.control import SelectionError, parse_since

    config = load_config()
    try:
        since = parse_since(args.since)
        instances = config.select_instances(_instances(args.instances) if args.instances else None)
        config.select_tables([args.table])
    except (SelectionError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    ok = operations.reload(settings, args.warehouse, [(instances, [args.table])], since=since)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse import operations

    return 0 if operations.demo(settings, args.warehouse, scale=args.scale, seed=args.seed) else 1


def cmd_lint_sql(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.sql_lint import lint_sql

    return lint_sql(settings)


def cmd_check_bigquery(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.bigquery_check import check_bigquery

    findings = check_bigquery(settings)
    for finding in findings:
        console.print(f"[red]{finding}[/red]")
    console.print(
        "[green]BigQuery compile check passed[/green]" if not findings
        else f"[red]{len(findings)} BigQuery problem(s)[/red]"
    )
    return 1 if findings else 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.web.server import serve_command

    return serve_command(
        settings, args.warehouse, args.host, args.port, args.secure_cookie, console
    )


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.dbt_runner import generate_docs, serve_docs
    from tenant_warehouse.monitoring.journal import warehouse_write

    # dbt reads the warehouse's catalog (DuckDB: opens the file): not during a build.
    with warehouse_write(settings, "docs") as write:
        result, site = generate_docs(settings, args.warehouse)
        write.ok = result.ok
    if not result.ok:
        console.print("[red]dbt docs generate failed[/red] (its output is above)")
        return 1
    console.print(f"dbt docs generated in [bold]{site}[/bold] (index.html, manifest.json, catalog.json)")
    if args.no_serve:
        return 0
    console.print(f"serving on http://{args.host}:{args.port} (Ctrl-C to stop)")
    return 0 if serve_docs(settings, args.warehouse, args.host, args.port).ok else 1


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from tenant_warehouse.bench import config_from_args, print_result, run_bench

    result = run_bench(config_from_args(args), log=console.print)
    print_result(result, console)
    return 0 if all(r.ok for r in result.cycles) else 1


# --- parser -----------------------------------------------------------------------------------


def _add_config(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    # SUPPRESS on subcommands: `warehouse --config X ingest` and `warehouse ingest --config X`
    # both work (a subcommand's default would otherwise erase the value given before it).
    parser.add_argument(
        "--config", metavar="PATH", default=default,
        help="ingestion config (instances, tables); default: $TW_CONFIG, else the platform's "
             "platforms/<name>/tables.yml",
    )
    parser.add_argument(
        "--platform", metavar="NAME", default=default,
        help="platform profile in platforms/ (default: $TW_PLATFORM, else reference)",
    )


def _add_common(parser: argparse.ArgumentParser, warehouse: bool = True) -> None:
    parser.add_argument(
        "--source", choices=("sqlite", "postgres"), default=None,
        help="where the reference platform lives (default: SQLite files, or TW_SOURCE_* urls)",
    )
    parser.add_argument("--instances", help="comma-separated instance ids (default: all)")
    if warehouse:
        parser.add_argument(
            "--warehouse", choices=WAREHOUSE_CHOICES,
            default=os.environ.get("TW_WAREHOUSE", "duckdb"),
            help="destination warehouse (default: duckdb, or TW_WAREHOUSE)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="warehouse",
        description="tenant_warehouse: keep a warehouse in sync with multi-tenant platforms.",
        formatter_class=RichHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, formatter_class=RichHelpFormatter
        )
        sub.set_defaults(handler=handler)
        return sub

    generate = command("generate", "Create the demo platform's databases.", cmd_generate)
    _add_common(generate, warehouse=False)
    generate.add_argument("--scale", type=float, default=None, help=SCALE_HELP)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("--force", action="store_true", help="recreate existing databases")

    simulate = command("simulate", "Advance the platform's activity by some ticks.", cmd_simulate)
    _add_common(simulate, warehouse=False)
    simulate.add_argument("--ticks", type=int, default=1)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--tick-hours", type=float, default=6.0)

    ingest = command("ingest", "Load changed rows of every instance into the raw layer (dlt).",
                     cmd_ingest)
    _add_common(ingest)
    ingest.add_argument("--tables", help="comma-separated tables (default: all configured)")
    ingest.add_argument(
        "--reconcile", action=argparse.BooleanOptionalAction, default=None,
        help="force (or skip) primary-key reconciliation for hard deletes this run",
    )

    build = command("build", "Run dbt build (seeds, snapshots, models, tests).", cmd_build)
    _add_common(build)
    build.add_argument("--select", nargs="*", default=None, help="dbt selection")

    run = command(
        "run", "One monitored cycle: ingest, row counts, freshness, dbt build of what the "
        "changed raw tables feed, alerts; --watch repeats it.", cmd_run,
    )  # fmt: skip
    _add_common(run)
    run.add_argument("--full-build", action="store_true",
                     help="build the whole project (unit tests and macro tests included) "
                     "instead of what the changed raw tables feed")
    run.add_argument("--watch", type=float, default=0, metavar="SECONDS",
                     help="repeat every SECONDS; a failed cycle does not stop the loop")

    status = command("status", "State of every instance and table, and of the last dbt runs "
                     "(exit 1 when something is failing).", cmd_status)
    _add_common(status)
    status.add_argument("--tables", help="comma-separated tables (default: all)")
    status.add_argument("--tenant", help="one tenant's view, e.g. uk:42")

    alerts = command("alerts", "Evaluate the alert rules (alerts.yml) and send what is new.",
                     cmd_alerts)
    _add_common(alerts)

    report = command("report", "Write the static HTML data-quality report.", cmd_report)
    _add_common(report)
    report.add_argument("--output", type=Path, default=None,
                        help="HTML file to write (default: $TW_HOME/report/index.html)")
    report.add_argument("--days", type=int, default=30, help="days the plots cover")

    rerun = command("rerun", "Reload failed or selected instances/tables, rebuild what depends "
                    "on them, alert.", cmd_rerun)
    _add_common(rerun)
    rerun.add_argument("--failed", action="store_true",
                       help="every (instance, table) whose latest run failed")
    rerun.add_argument("--select", nargs="+", default=None, metavar="SELECTOR",
                       help="uk | orders | uk.orders | *.orders | uk.* (several allowed)")
    rerun.add_argument("--reconcile", action=argparse.BooleanOptionalAction, default=None,
                       help="force (or skip) primary-key reconciliation of the reloaded tables")

    backfill = command("backfill", "Reload one table's rows changed since a date (all or some "
                       "instances), rebuild what depends on it.", cmd_backfill)
    _add_common(backfill)
    backfill.add_argument("--table", required=True, help="the table to reload")
    backfill.add_argument("--since", required=True, metavar="DATE",
                          help="YYYY-MM-DD (UTC midnight) or an ISO timestamp")

    demo = command("demo", "Generate (or advance) the demo platform, ingest, build, summarise.",
                   cmd_demo)
    _add_common(demo)
    demo.add_argument("--scale", type=float, default=None, help=SCALE_HELP)
    demo.add_argument("--seed", type=int, default=1)

    command("lint-sql", "sqlfluff lint over models, macros, snapshots and dbt tests.",
            cmd_lint_sql)
    command("check-bigquery", "Compile the project for BigQuery offline and check the SQL.",
            cmd_check_bigquery)
    docs = command("docs", "Generate the dbt docs (models, columns, metric definitions, "
                   "lineage) and serve them.", cmd_docs)
    _add_common(docs)
    docs.add_argument("--no-serve", action="store_true", help="generate only")
    docs.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    docs.add_argument("--port", type=int, default=8080, help="port to serve on (default 8080)")
    serve = command("serve", "Serve the tenant dashboard: a tenant logs in and sees its own "
                    "numbers, statements and dumps; an operator sees every instance.", cmd_serve)
    serve.add_argument("--warehouse", choices=("duckdb", "postgres"),
                       default=os.environ.get("TW_WAREHOUSE", "duckdb"),
                       help="warehouse the dashboard reads (default: duckdb, or TW_WAREHOUSE)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    serve.add_argument("--secure-cookie", action="store_true",
                       help="mark the session cookie Secure (behind an HTTPS proxy)")
    from tenant_warehouse.exports import commands as exports_commands

    exports_commands.add_export_arguments(command(
        "export", "Dump everything a tenant may see (its marts and cleaned records) as csv, "
        "xlsx, parquet or duckdb, streamed, with a manifest and checksums; unchanged tenants "
        "are not rewritten.", exports_commands.cmd_export))  # fmt: skip
    exports_commands.add_deliver_arguments(command(
        "deliver", "Run the deliveries of deliveries.yml that are due (folders, email through "
        "Apprise); failed ones alert and are retried.", exports_commands.cmd_deliver))  # fmt: skip
    exports_commands.add_statements_arguments(command(
        "statements", "Billing statements per organization and month: an accounting CSV and a "
        "printable HTML statement each.", exports_commands.cmd_statements))  # fmt: skip
    from tenant_warehouse.tenants import commands as tenants_commands

    tenants_commands.add_arguments(command(
        "tenants", "Tenants' SQL endpoint (PostgreSQL schema `tenant`): grant, revoke, list, "
        "sync, apply, operator.", tenants_commands.cmd_tenants))  # fmt: skip
    bench = command("bench", "Benchmark: end-to-end loads vs COPY and peer tools, extraction, "
                    "incremental cycles vs delta size, freshness in watch mode, ingestion peak "
                    "memory.", cmd_bench)
    from tenant_warehouse.bench import add_arguments as add_bench_arguments

    add_bench_arguments(bench)
    _add_config(parser, default=None)
    for sub in commands.choices.values():
        if "--config" not in sub._option_string_actions:
            _add_config(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ingestion.config import CONFIG_ENV, ConfigError
    from tenant_warehouse.platforms import PlatformError

    parser = build_parser()
    args = parser.parse_args(argv)
    args.exit_fast = argv is None  # this process's own command line (_exit_fast)
    if getattr(args, "config", None):
        # Every part (ingestion, status, alerts, rerun) reads the config through TW_CONFIG.
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    try:
        _choose_platform(args)
    except PlatformError as exc:
        return _user_error(exc)
    try:
        if getattr(args, "config", None):
            from ingestion.config import load_config

            load_config()  # a file named on the command line is checked whatever the command
        _check_selection(args)
    except ConfigError as exc:
        return _user_error(exc)
    if getattr(args, "source", None) == "postgres":
        _use_postgres_sources()
    settings = Settings.from_env()
    try:
        return int(args.handler(args, settings))
    except ConfigError as exc:
        return _user_error(exc)
    except IngestionLocked as exc:
        # Another run holds the lock: refused, nothing done; a scheduler can retry later.
        console.print(f"[red]refused:[/red] {exc}", highlight=False, soft_wrap=True)
        return EXIT_LOCKED
    except TenantError as exc:
        # A user mistake (unknown tenant, bad tenants.yml or catalog): one line, exit 2.
        console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        return 2
    except TenantAccessError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        return 1
    except PlatformError as exc:  # e.g. `warehouse demo` for a profile without a demo package
        return _user_error(exc)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return 130


def _user_error(exc: Exception) -> int:
    """A configuration or selection mistake: one plain line naming file, key and cause; exit 2."""
    message = " ".join(str(exc).split())
    sys.stderr.write(f"error: {message}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
