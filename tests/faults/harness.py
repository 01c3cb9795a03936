"""The fault matrix's pipeline: tests.support.pipeline.Pipeline plus what crash and fault tests
need — clones of a loaded home, ingestion in a child process (killable), dbt builds that can be
killed, and exact checks of raw, staging and marts against the sources.

Checks count rather than assert, so a scenario can report "0 lost, 0 duplicated" in its result:
- raw:     per table, source keys missing from raw (lost), keys raw holds more than once
           (duplicated), keys raw holds that the source no longer has (stale: a hard delete not
           yet propagated), and keys whose version (every non-personal column) differs.
- staging: the same, on the dbt staging views (deduplicated, one row per key), plus the
           quarantine reason of every row.
- marts:   tests.support.verify.compare_marts (the oracle) for every metric mart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_platform import truth
from reference_platform.database import Database
from reference_platform.seeds import Seeds
from tenant_warehouse.dbt_runner import DbtResult, dbt_env, dbt_executable
from tenant_warehouse.settings import PROJECT_DIR
from tenant_warehouse.warehouse_sql import connect, query
from tests.faults.crash import ChildRun, KillPlan, dbt_stage, ingestion_command, run_child
from tests.support.pipeline import RAW_TABLES, Pipeline
from tests.support.verify import MartComparison, normalise

FULL = os.environ.get("TW_FAULT_MATRIX", "").strip().lower() == "full"
PERSONAL = {"name", "email", "phone", "body"}
STAGING_KEYS = {
    "organizations": "organization_id", "users": "user_id", "contacts": "contact_id",
    "orders": "order_id", "order_items": "order_item_id", "messages": "message_id",
}
# dbt build as a scheduled cycle runs it. Monitoring hooks are left on (they are part of build).
BUILD_ARGS = ("build",)


@dataclass
class TableCheck:
    table: str
    expected: int = 0
    actual: int = 0
    lost: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    stale: list[Any] = field(default_factory=list)
    different: list[tuple[Any, str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.stale or self.different)

    def describe(self, limit: int = 5) -> str:
        if self.ok:
            return f"{self.table}: {self.actual} rows match"
        return (
            f"{self.table}: expected {self.expected} rows, found {self.actual}: "
            f"{len(self.lost)} lost {self.lost[:limit]}, "
            f"{len(self.duplicated)} duplicated {self.duplicated[:limit]}, "
            f"{len(self.stale)} stale {self.stale[:limit]}, "
            f"{len(self.different)} different {self.different[:limit]}"
        )


@dataclass
class Checks:
    """Results of one comparison pass; `lost` and `duplicated` add up every table."""

    tables: list[TableCheck | MartComparison] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def lost(self) -> int:
        return sum(len(t.lost) for t in self.tables if isinstance(t, TableCheck))

    @property
    def duplicated(self) -> int:
        return sum(len(t.duplicated) for t in self.tables if isinstance(t, TableCheck))

    def describe(self) -> str:
        return "\n".join(t.describe() for t in self.tables if not t.ok) or "all match"

    def __add__(self, other: Checks) -> Checks:
        return Checks(self.tables + other.tables)


def compare_keyed(
    name: str, expected: Mapping[Any, Mapping[str, Any]], actual: Iterable[tuple[Any, dict]],
    stale_ok: bool = False,
) -> TableCheck:
    """`expected`: key -> row; `actual`: (key, row) pairs as the warehouse holds them."""
    check = TableCheck(name, expected=len(expected))
    seen: Counter[Any] = Counter()
    rows: dict[Any, dict] = {}
    for key, row in actual:
        seen[key] += 1
        rows[key] = row
        check.actual += 1
    check.duplicated = sorted((k for k, n in seen.items() if n > 1), key=repr)
    check.lost = sorted((k for k in expected if k not in seen), key=repr)
    if not stale_ok:
        check.stale = sorted((k for k in seen if k not in expected), key=repr)
    for key, want in expected.items():
        got = rows.get(key)
        if got is None:
            continue
        for column, value in want.items():
            if normalise(value) != normalise(got.get(column)):
                check.different.append((key, column, value, got.get(column)))
                break
    return check


@dataclass
class FaultPipeline(Pipeline):
    """A Pipeline with crash injection and counting checks."""

    def clone(self, home: Path) -> FaultPipeline:
        """A copy of this pipeline's whole home (sources, warehouse, dlt state, snapshots):
        a loaded starting point in a second instead of a load and a build."""
        if home.exists():
            shutil.rmtree(home)
        shutil.copytree(self.home, home, ignore=shutil.ignore_patterns("dbt_logs", "*.lock"))
        return FaultPipeline(home=home, warehouse=self.warehouse, env=dict(self.env),
                             instances=self.instances)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"TW_HOME": str(self.home), "DLT_DATA_DIR": str(self.home / "dlt"),
                    "PYTHONPATH": str(PROJECT_DIR), **self.env})
        return env

    # --- runs ------------------------------------------------------------------------------

    def ingest_child(
        self, plan: KillPlan | None = None, instances: Sequence[str] | None = None,
        tables: Sequence[str] | None = None, reconcile: str = "schedule",
    ) -> ChildRun:
        """run_ingestion in a child process, SIGKILLed as `plan` says."""
        return run_child(ingestion_command(instances, tables, reconcile), self.child_env(), plan)

    def run_ingestion(self, **kwargs: Any) -> Any:
        """In-process run_ingestion that returns the report whatever it says."""
        from ingestion.pipeline import run_ingestion

        with self.environment() as settings:
            return run_ingestion(settings, destination=self.warehouse, **kwargs)

    def build_child(self, plan: KillPlan | None = None, args: Sequence[str] = BUILD_ARGS) -> tuple[ChildRun, DbtResult]:
        """`dbt build` as a child process (what run_dbt does), SIGKILLed as `plan` says."""
        with self.environment() as settings:
            env = dbt_env(settings, self.warehouse)
        run = run_child([dbt_executable(), *args], env, plan, stage_of=dbt_stage)
        return run, DbtResult([*args], run.returncode or 0, run.output(20000))

    # --- checks ----------------------------------------------------------------------------

    def check_raw(self, tables: Sequence[str] = RAW_TABLES, stale_ok: bool = False,
                  instances: Sequence[str] | None = None) -> Checks:
        """Raw against the sources' current rows, on every non-personal column (only the
        given instances' rows when `instances` is set)."""
        checks = Checks()
        urls = {i: u for i, u in self.source_urls().items() if not instances or i in instances}
        with self.environment() as settings, connect(settings, self.warehouse) as con:
            for table in tables:
                expected: dict[Any, dict] = {}
                for instance, url in urls.items():
                    for row in truth.latest_rows(url, table):
                        kept = {k: v for k, v in row.items() if k not in PERSONAL}
                        expected[(instance, row["id"])] = kept
                columns = ["instance_id", *next(iter(expected.values()), {"id": 0}).keys()]
                rows = query(con, f"select {', '.join(columns)} from raw.{table}")
                actual = (((r[0], r[1]), dict(zip(columns, r, strict=True))) for r in rows
                          if r[0] in urls)
                checks.tables.append(compare_keyed(f"raw.{table}", expected, actual, stale_ok))
        return checks

    def check_staging(self, stale_ok: bool = False) -> Checks:
        """The staging layer (cleaned: renamed, deduplicated, quarantine reason) against the
        sources: one row per key, the source's updated_at and the row's own quarantine reason
        (the contract's rules as reference_platform.truth applies them; an organization's
        time zone is checked by the product downstream, so its staging row has no reason). The
        large staging models are incremental tables: they are brought up to date first (`dbt
        run` of the reference profile's staging), which is also what proves their incremental
        logic after each fault."""
        self.dbt("run", "--select", "path:platforms/reference/models/staging")
        checks = Checks()
        seeds = Seeds.load()
        urls = self.source_urls()
        expected: dict[str, dict[Any, dict]] = {t: {} for t in RAW_TABLES}
        for instance, url in urls.items():
            database = Database(url)
            organizations = {}
            for row in truth._fetch(database, "organizations",
                                    truth.TABLES["organizations"].column_names):
                invalid_zone = row["time_zone"] not in seeds.time_zones
                organizations[row["id"]] = truth.Organization(
                    row["id"], row["kind"], row["plan"], row["time_zone"], row["created_at"],
                    row["deleted_at"], row["time_zone"], invalid_zone)
                expected["organizations"][(instance, row["id"])] = {
                    "updated_at": row["updated_at"], "quarantine_reason": None}
            for table in RAW_TABLES[1:]:
                columns = truth.READ_COLUMNS.get(table, ("id", "organization_id"))
                columns = tuple(dict.fromkeys((*columns, "updated_at")))
                for row in truth._fetch(database, table, columns):
                    reason = truth._reason(table, row, organizations) if table in (
                        "orders", "messages", "contacts") else (
                        "missing_tenant" if row["organization_id"] is None else None)
                    if reason == "unknown_organization":
                        reason = None
                    expected[table][(instance, row["id"])] = {
                        "updated_at": row["updated_at"], "quarantine_reason": reason}
        with self.environment() as settings, connect(settings, self.warehouse) as con:
            for table in RAW_TABLES:
                key = STAGING_KEYS[table]
                reason = "null" if table == "organizations" else "quarantine_reason"
                rows = query(con, f"select instance_id, {key}, updated_at, {reason} "
                                  f"from staging.stg_platform__{table}")
                actual = (((r[0], r[1]), {"updated_at": _utc_text(r[2]),
                                          "quarantine_reason": r[3]}) for r in rows)
                checks.tables.append(compare_keyed(
                    f"staging.stg_platform__{table}", expected[table], actual, stale_ok))
        return checks

    def check_marts(self) -> Checks:
        """Every metric mart against the oracle, and the incremental facts row by row."""
        return Checks(list(self.compare_marts())) + self.check_facts()

    def check_facts(self) -> Checks:
        """fct_orders and fct_messages (incremental models) hold exactly the valid orders and
        messages of the sources, each at its current version."""
        seeds = Seeds.load()
        expected: dict[str, dict[Any, dict]] = {"orders": {}, "messages": {}}
        for instance, url in self.source_urls().items():
            source = truth.Source.read(instance, url, seeds)
            for row in source.orders:
                # fct_orders carries the contract's canonical state: a reference cart is `open`.
                state = "open" if row["state"] == "cart" else row["state"]
                expected["orders"][(instance, row["id"])] = {
                    "state": state, "total_cents": row["total_cents"],
                    "completed_at": row["completed_at"], "updated_at": row["updated_at"]}
            for row in source.messages:
                expected["messages"][(instance, row["id"])] = {
                    "status": row["status"], "updated_at": row["updated_at"]}
        checks = Checks()
        with self.environment() as settings, connect(settings, self.warehouse) as con:
            for table, columns in (("orders", ("state", "total_cents", "completed_at")),
                                   ("messages", ("status",))):
                key = STAGING_KEYS[table]
                names = [*columns, "updated_at"]
                rows = query(con, f"select instance_id, {key}, {', '.join(names)} "
                                  f"from marts.fct_{table}")
                actual = (((r[0], r[1]), {n: _utc_text(v) for n, v in zip(names, r[2:],
                                                                          strict=True)})
                          for r in rows)
                checks.tables.append(compare_keyed(f"marts.fct_{table}", expected[table], actual))
        return checks

    def check_all(self, marts: bool = True) -> Checks:
        checks = self.check_raw() + self.check_staging()
        return checks + self.check_marts() if marts else checks

    # --- warehouse scans -------------------------------------------------------------------

    def warehouse_tables(self) -> list[tuple[str, str]]:
        with self.environment() as settings, connect(settings, self.warehouse) as con:
            return [(s, t) for s, t in query(
                con, "select table_schema, table_name from information_schema.tables "
                     "where table_schema not in ('information_schema', 'pg_catalog')")]

    def find_values(self, needles: Iterable[str]) -> list[str]:
        """Every warehouse table (schema.table) with a value containing one of `needles`, and
        every file under TW_HOME (dlt packages and state, dbt artifacts, logs) except the
        sources and the warehouse file itself. Views are skipped: they hold no data of their
        own, and every table they read is searched."""
        needles = [n for n in needles if n]
        found: list[str] = []
        text = "varchar" if self.warehouse == "duckdb" else "text"
        mark = "?" if self.warehouse == "duckdb" else "%s"
        with self.environment() as settings, connect(settings, self.warehouse) as con:
            columns: dict[tuple[str, str], list[str]] = {}
            for schema, table, column in query(
                    con, "select c.table_schema, c.table_name, c.column_name from "
                         "information_schema.columns c join information_schema.tables t on "
                         "t.table_schema = c.table_schema and t.table_name = c.table_name "
                         "where t.table_type = 'BASE TABLE' and c.table_schema not in "
                         "('information_schema', 'pg_catalog')"):
                columns.setdefault((schema, table), []).append(column)
            for (schema, table), names in columns.items():
                clauses = [f'cast("{c}" as {text}) like {mark}' for c in names for _ in needles]
                params = tuple(f"%{n}%" for _ in names for n in needles)
                hits = query(con, f'select count(*) from "{schema}"."{table}" where '
                                  + " or ".join(clauses), params)
                if hits and hits[0][0]:
                    found.append(f"{schema}.{table}")
        source_dir = self.home / "source"
        for path in self.home.rglob("*"):
            if not path.is_file() or source_dir in path.parents or path.suffix == ".duckdb":
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [str(path) for n in needles if n.encode() in data]
        return found

    def leftover_files(self) -> list[str]:
        """Row data dlt still holds on disk under TW_HOME/dlt (unfinished extractions, job
        files). After a successful run there must be none: loaded jobs are deleted and the
        extraction a killed run left half-written is removed by the next run."""
        data = (".parquet", ".jsonl", ".gz", ".csv", ".insert_values")
        # dlt's .pending_transitions markers are named after their job file but hold a state.
        return sorted(str(p) for p in (self.home / "dlt").rglob("*")
                      if p.is_file() and p.name.endswith(data)
                      and ".pending_transitions" not in p.parts)

    # --- source helpers --------------------------------------------------------------------

    def source_url(self, instance: str) -> str:
        return self.source_urls()[instance]

    def source_query(self, instance: str, sql: str, params: tuple = ()) -> list[tuple]:
        return Database(self.source_url(instance)).query(sql, params)


def _utc_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def replace(obj: Any, **changes: Any) -> Any:
    return dataclasses.replace(obj, **changes)


__all__ = ["FULL", "Checks", "FaultPipeline", "KillPlan", "TableCheck", "subprocess"]
