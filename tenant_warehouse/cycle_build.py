"""What one cycle's `dbt build` builds: only what depends on the raw tables that changed.

A full `dbt build` is ~350 nodes whatever the delta; a cycle a minute cannot afford that. The
cycle instead builds `source:platform.<table>+` for the raw tables that changed since the last
successful build, and leaves out what proves the code rather than the data (unit tests, the
macro-test models tagged `ci`), which `make test` and `warehouse build` run.

"Changed" is read from the warehouse, not from the ingestion report, so rows loaded by another
command (`warehouse ingest`, a rerun, a package a crashed run left and the next run loaded) are
never missed: each raw table's signature is (row count, newest dlt load id). A load that
inserts or updates rows gives them its new load id; a load that only deletes lowers the count.
The signatures at the start of the last successful build are kept in `TW_HOME/build_state.json`
with a fingerprint of the dbt project: the whole project is built when there is no such build,
the last build failed, or the project changed since (a deploy).

The audits (data tests tagged `audit`: whole-layer reconciliations such as "staging holds raw
exactly", which read every row of every layer whatever the delta) run in every whole-project
build and in a cycle's build when the last passed audit is older than TW_AUDIT_EVERY_MINUTES
(default 60); the other cycles leave them out. They prove the pipeline's logic rather than a
delta's data, so an hourly cadence bounds how long a logic fault can go unseen without paying
their full scans every minute. A failed audit fails the build, so the next cycle is whole again.

The periodic tier builds every TW_PERIODIC_EVERY_MINUTES (default 15; 0 = every cycle): the
whole-table models no alert, status or minute-path model reads (tag `periodic`: the
active-users marts and what they are built from), and the whole-table data tests: every data
test but the scoped key tests (`unique_keys_written_last`: the keys the model's last write
wrote, against the whole table), which run every cycle. A cycle where the tier is not due leaves
out `tag:periodic+` (the periodic nodes and what reads them), the singular tests and every
generic test but the scoped ones (by test name: dbt's four and those the project defines), and
adds the tables it built from to `periodic_pending` in the state; a due cycle builds from the
changed and the pending tables with the tier in (a pending table that did not change again:
only its periodic nodes and the tests downstream of it, `source:platform.<t>+,tag:periodic` and
`source:platform.<t>+,resource_type:test`), and a passed one clears them, so a periodic mart is
never more than the interval plus a cycle behind and exact when built, and a test left out of a
cycle runs within the interval on everything that cycle wrote. A cycle with the audits due has
the tier due too (an audit reads its marts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenant_warehouse.settings import PROJECT_DIR, Settings

STATE_FILE = "build_state.json"
# Code-only nodes a production cycle leaves out (they prove macros and logic, not data).
CODE_ONLY_EXCLUDES = ["--exclude", "tag:ci", "--exclude-resource-type", "unit_test"]
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests/dbt", "platforms")
AUDIT_EXCLUDE = ["--exclude", "tag:audit"]
DEFAULT_AUDIT_MINUTES = 60.0
# The periodic nodes and everything reading them (tests across models, the audits).
PERIODIC_EXCLUDE = ["--exclude", "tag:periodic+"]
# dbt's own generic tests; the project's are found in its files (`{% test <name>(`).
BUILTIN_GENERIC_TESTS = ("unique", "not_null", "accepted_values", "relationships")
# The data tests a cycle runs whether or not the tier is due: the keys it wrote, scoped.
CYCLE_TESTS = ("unique_keys_written_last",)
TEST_DEFINITION = re.compile(r"\{%-?\s*test\s+(\w+)\s*\(")
TEST_PARTS = ("macros", "tests/dbt", "platforms")
DEFAULT_PERIODIC_MINUTES = 15.0

Signature = tuple[int, str | None]


@dataclass
class BuildPlan:
    args: list[str] | None
    """dbt arguments; None when nothing changed (no build needed)."""
    reason: str
    signatures: dict[str, Signature] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    audits: bool = True
    """Whether the build runs the audit tests (a passed build then records the time)."""
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    last_audit: str | None = None
    periodic: bool = True
    """Whether the periodic tier is in the build (a passed build then clears the pending tables)."""
    periodic_pending: list[str] = field(default_factory=list)
    """Raw tables built from since the periodic tier last built (before this build)."""
    last_periodic: str | None = None
    error: str | None = None
    """Why no build can run now (the warehouse is held by another process): the step fails."""

    @property
    def skip(self) -> bool:
        return self.args is None


def project_fingerprint(root: Path = PROJECT_DIR) -> str:
    """A hash of every file dbt reads (a change means the last build is not this project's)."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        path = root / part
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def selection_args(
    tables: Iterable[str], audits: bool = True, periodic: bool = True,
    periodic_only: Iterable[str] = (),
) -> list[str]:
    """`dbt build` arguments for everything built from `tables`, code-only nodes out (and the
    audits, unless they are due; the periodic tier and what reads it, unless `periodic`), plus
    only the periodic nodes built from `periodic_only` (tables pending for the tier)."""
    tables = sorted(set(tables))
    selectors = [f"source:platform.{table}+" for table in tables]
    if periodic:
        for table in sorted(set(periodic_only) - set(tables)):
            selectors += [f"source:platform.{table}+,tag:periodic",
                          f"source:platform.{table}+,resource_type:test"]
    return ["build", "--select", *selectors, *CODE_ONLY_EXCLUDES,
            *([] if periodic else [*PERIODIC_EXCLUDE, *whole_table_test_excludes()]),
            *([] if audits else AUDIT_EXCLUDE)]


def whole_table_test_excludes(root: Path = PROJECT_DIR) -> list[str]:
    """`--exclude` arguments for the data tests a cycle leaves to the periodic tier: singular
    tests, and generic tests by name (dbt's and the project's own) but the scoped CYCLE_TESTS.
    A generic test defined later is left out too: it is found in the project's files."""
    names = set(BUILTIN_GENERIC_TESTS)
    for part in TEST_PARTS:
        for file in sorted((root / part).rglob("*.sql")):
            names.update(TEST_DEFINITION.findall(file.read_text(encoding="utf-8")))
    return ["--exclude", "test_type:singular",
            *(f"test_name:{name}" for name in sorted(names - set(CYCLE_TESTS)))]


def audit_interval() -> dt.timedelta:
    """TW_AUDIT_EVERY_MINUTES: how old the last passed audit may be before a cycle runs them."""
    return dt.timedelta(minutes=_minutes_setting("TW_AUDIT_EVERY_MINUTES", DEFAULT_AUDIT_MINUTES))


def _minutes_setting(name: str, default: float) -> float:
    text = os.environ.get(name, str(default))
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if minutes < 0:
        raise ValueError(f"{name} must be a number of minutes >= 0, not {text!r}")
    return minutes


def periodic_interval() -> dt.timedelta:
    """TW_PERIODIC_EVERY_MINUTES: how old the periodic tier's last build may be before a cycle
    builds it again (0: every cycle)."""
    return dt.timedelta(
        minutes=_minutes_setting("TW_PERIODIC_EVERY_MINUTES", DEFAULT_PERIODIC_MINUTES))


def audit_due(last_audit: str | None, now: dt.datetime | None = None) -> bool:
    return _due(last_audit, audit_interval(), now)


def periodic_due(last_built: str | None, now: dt.datetime | None = None) -> bool:
    return _due(last_built, periodic_interval(), now)


def _due(last: str | None, interval: dt.timedelta, now: dt.datetime | None) -> bool:
    """Whether `interval` has passed since `last` (an ISO time; none or unreadable: due)."""
    if not last:
        return True
    try:
        then = dt.datetime.fromisoformat(last)
    except ValueError:
        return True
    return (now or dt.datetime.now(dt.UTC)) - then >= interval


def raw_signatures(
    settings: Settings, warehouse: str, tables: Iterable[str]
) -> dict[str, Signature]:
    """(row count, newest `_dlt_load_id`) of each raw table that exists."""
    from tenant_warehouse.warehouse_sql import connect, query, relation_exists

    schema = settings.raw_schema
    found: dict[str, Signature] = {}
    with connect(settings, warehouse) as connection:
        for table in tables:
            if not relation_exists(connection, schema, table):
                continue
            count, newest = query(
                connection, f'select count(*), max("_dlt_load_id") from "{schema}"."{table}"'
            )[0]
            found[table] = (int(count), None if newest is None else str(newest))
        if warehouse == "postgres":
            connection.rollback()
    return found


def changed_tables(before: Mapping[str, Any], now: Mapping[str, Signature]) -> list[str]:
    """Tables whose signature differs from the recorded one (or that were not recorded)."""
    return sorted(t for t, sig in now.items() if tuple(before.get(t) or ()) != tuple(sig))


def plan_build(
    settings: Settings, warehouse: str, tables: Iterable[str], full: bool = False
) -> BuildPlan:
    """The build a cycle needs now. Only DuckDB and PostgreSQL are read for signatures; any other
    target, or a signature that cannot be read, gets the whole project."""
    tables = list(tables)
    try:
        signatures = raw_signatures(settings, warehouse, tables)
    except Exception as exc:  # the whole build is always correct; a failed probe costs time only
        if "could not set lock" in str(exc).lower():
            # DuckDB held by another process: dbt would fail on every node with a traceback.
            return BuildPlan(None, "no build: the warehouse is locked", error=(
                f"no build: the DuckDB warehouse is locked by another process "
                f"({' '.join(str(exc).split())[:400]})"))
        return BuildPlan(["build"], f"raw tables could not be compared ({type(exc).__name__}: "
                         f"{exc}): whole project")
    if full:
        return BuildPlan(["build"], "whole project (asked for)", signatures)
    state = _read_state(settings)
    if state is None:
        return BuildPlan(["build"], "whole project (no earlier successful build)", signatures)
    if state.get("project") != project_fingerprint():
        return BuildPlan(["build"], "whole project (the dbt project changed)", signatures)
    changed = changed_tables(state.get("signatures", {}), signatures)
    last_audit = state.get("audited_at")
    # A state written before the tier existed has no time: the tier is due (a full catch-up).
    last_periodic = state.get("periodic_built_at")
    pending = sorted(set(state.get("periodic_pending") or []))
    tier = {"last_audit": last_audit, "last_periodic": last_periodic, "periodic_pending": pending}
    periodic_now = periodic_due(last_periodic)
    if not changed:
        if pending and periodic_now:
            return BuildPlan(
                selection_args([], audits=False, periodic_only=pending),
                f"nothing changed in raw since the last build; periodic tier due: built from "
                f"{', '.join(pending)}", signatures, audits=False, **tier)
        return BuildPlan(None, "nothing changed in raw since the last build" + (
            f"; periodic tier not due (pending: {', '.join(pending)})" if pending else ""),
            signatures, periodic=False, **tier)
    audits = audit_due(last_audit)
    periodic = periodic_now or audits  # an audit reads the periodic marts: they must be exact
    if periodic:
        also = sorted(set(pending) - set(changed))
        tier_note = "periodic tier due" + (
            f" (its nodes built from {', '.join(also)} too)" if also else "")
    else:
        tier_note = f"periodic tier not due (pending: {', '.join(sorted({*pending, *changed}))})"
    reason = f"built from {', '.join(changed)}; {tier_note}" + ("" if audits else "; audits not due")
    return BuildPlan(selection_args(changed, audits, periodic, pending), reason, signatures,
                     changed, audits=audits, periodic=periodic, **tier)


def record_build(settings: Settings, plan: BuildPlan, ok: bool) -> None:
    """After the build: keep the signatures it started from if it passed; forget them if it
    failed, so the next cycle builds the whole project again."""
    path = settings.home / STATE_FILE
    if not ok:
        forget_builds(settings)
        return
    if not plan.signatures:
        return
    # Tables a selective build left out had these same signatures: recording all is right.
    signatures = {table: list(signature) for table, signature in plan.signatures.items()}
    state = {
        "project": project_fingerprint(),
        "signatures": signatures,
        "audited_at": plan.started_at if plan.audits else plan.last_audit,
        # The periodic tier: when it last built, and the raw tables built from since (which its
        # next build builds from, whether or not they change again).
        "periodic_built_at": plan.started_at if plan.periodic else plan.last_periodic,
        "periodic_pending": [] if plan.periodic else sorted(
            set(plan.periodic_pending) | set(plan.changed)),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(path)


def forget_builds(settings: Settings) -> None:
    """After any failed build (a cycle's, `warehouse build`, a rerun's): it may have left models
    half-built, so the next cycle builds the whole project."""
    (settings.home / STATE_FILE).unlink(missing_ok=True)


def periodic_tier_status(settings: Settings, now: dt.datetime | None = None) -> str:
    """One line for `warehouse status`: when the periodic tier last built, the raw tables built
    from since (its marts do not show their rows yet) and when it is due again."""
    interval = periodic_interval()
    every = "every cycle" if not interval else f"every {interval.total_seconds() / 60:g} min"
    state = _read_state(settings)
    if state is None:
        return f"periodic tier ({every}): no successful build recorded; the next cycle builds " \
               "the whole project"
    now = now or dt.datetime.now(dt.UTC)
    last = state.get("periodic_built_at")
    pending = state.get("periodic_pending") or []
    try:
        built = dt.datetime.fromisoformat(last) if last else None
    except ValueError:
        built = None
    if built is None:
        return f"periodic tier ({every}): not built by a cycle yet; due at the next build"
    age = now - built
    due_in = interval - age
    due = ("due at the next cycle" if due_in.total_seconds() <= 0
           else f"due in {_minutes(due_in)} (at the first cycle after)")
    return (f"periodic tier ({every}): last built {built:%Y-%m-%d %H:%M} UTC ({_minutes(age)} ago); "
            f"pending: {', '.join(pending) if pending else 'none'}; {due}")


def _minutes(delta: dt.timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _read_state(settings: Settings) -> dict[str, Any] | None:
    try:
        state = json.loads((settings.home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


# --- source freshness in idle cycles -----------------------------------------------------------

FRESHNESS_FILE = "freshness_checked_at"
DEFAULT_IDLE_FRESHNESS_MINUTES = 5.0


def freshness_due(settings: Settings, ingestion_report: Any) -> bool:
    """Whether this cycle runs `dbt source freshness`: always after an ingestion that ran dlt (or
    failed), and after one that found nothing changed (its no-change path) only when the last
    check is older than TW_IDLE_FRESHNESS_MINUTES (default 5): an idle cycle then costs no dbt
    call, and a source that stopped changing is still checked (and alerted stale) on time."""
    path = settings.home / FRESHNESS_FILE
    now = time.time()
    if getattr(ingestion_report, "unchanged", False):
        minutes = _minutes_setting("TW_IDLE_FRESHNESS_MINUTES", DEFAULT_IDLE_FRESHNESS_MINUTES)
        try:
            last = float(path.read_text())
        except (OSError, ValueError):
            last = 0.0
        if now - last < minutes * 60:
            return False
    path.write_text(f"{now:.3f}")
    return True


# --- the warm watch loop: `warehouse run --watch` ----------------------------------------------


@dataclass
class WatchSummary:
    cycles: int = 0
    failed: int = 0
    dbt_parses: list[str] = field(default_factory=list)
    """why dbt parsed the project in this process: once per target, again when it changed"""
    dbt_invocations: int = 0


def watch(
    settings: Settings, warehouse: str, instances: list[str] | None, interval: float,
    full_build: bool = False, cycles: int | None = None,
    sleep: Callable[[float], None] | None = None,
) -> WatchSummary:
    """`warehouse run --watch`: one monitored cycle (operations.run_cycle: the warehouse lock,
    the journal, alerts) every `interval` s, in this one process with dbt warm
    (dbt_runner.warm_dbt: imports and the parsed manifest kept), `cycles` times or until Ctrl-C.
    A failed or refused cycle does not stop the loop: the next one catches up (a crash mid-cycle
    is journaled and the next cycle builds the whole project)."""
    from ingestion.errors import IngestionLocked
    from tenant_warehouse.dbt_runner import warm_dbt
    from tenant_warehouse.operations import console, run_cycle

    summary = WatchSummary()
    sleep = sleep or time.sleep  # looked up per call: a test (or a caller) may replace it
    with warm_dbt() as warm:
        while True:
            started = time.monotonic()
            try:
                ok = run_cycle(settings, warehouse, instances, full_build=full_build)
            except IngestionLocked as exc:
                console.print(f"[yellow]cycle skipped:[/yellow] {exc}")
                ok = False
            except Exception:
                console.print_exception(max_frames=5)
                ok = False
            summary.cycles += 1
            summary.failed += 0 if ok else 1
            summary.dbt_parses, summary.dbt_invocations = list(warm.parses), warm.invocations
            if cycles is not None and summary.cycles >= cycles:
                return summary
            pause = max(0.0, interval - (time.monotonic() - started))
            console.print(f"[dim]next cycle in {pause:.0f} s (Ctrl-C to stop)[/dim]")
            sleep(pause)
