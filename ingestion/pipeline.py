"""run_ingestion: one ingestion run of the selected instances and tables into the raw dataset.

Flow: lock -> dlt settings -> sync state with the destination -> load any package a crashed run
left pending -> raw rows and newest cursor per instance -> extract (source problems are recorded
per table, never raised) -> normalize -> extract the run records -> load both packages ->
prune local packages. A failed load is recorded by writing the run records again on their own.

No change: before any of dlt's steps, when no package is pending, `extract.probe_unchanged`
reads every table's window and finds nothing raw lacks: the run then appends its run records
to raw._tw_ingestion_runs with one INSERT and ends (no extract, normalize or load; no dlt state
or watermark moves; raw's tables are untouched, so the cycle's build plan skips dbt too). This is
what makes an idle watch cycle cost ~a query per table instead of a dlt run. When only some
tables changed, the normal run reads only those: the others keep the probe's records and count
a run in their state, without being read again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from ingestion.config import IngestionConfig, TableConfig, load_config
from ingestion.destination import (
    DESTINATIONS,
    DestinationView,
    loader_file_format,
    make_destination,
)
from ingestion.errors import DestinationError
from ingestion.extract import (
    ProgressCallback,
    ProgressEvent,
    ReaderPool,
    RunContext,
    probe_unchanged,
)
from ingestion.lock import RunLock
from ingestion.platform_source import SOURCE_NAME, ingestion_runs, platform_source, resource_name
from ingestion.run_log import RUN_LOG_SCHEMA, RUN_LOG_TABLE, RunRecord, utc_now
from ingestion.sources.quarantine import quarantine_resource
from tenant_warehouse.settings import Settings

logger = logging.getLogger(__name__)

PIPELINE_PREFIX = "tenant_warehouse"
LOCK_FILE = "ingestion.lock"
# Runs the no-change fast path recorded since the last run that loaded, per resource.
SKIPPED_RUNS_FILE = "ingestion_skipped_runs.json"
# Destinations whose run log the fast path can append to with SQL (BigQuery: always dlt).
FAST_PATH_DESTINATIONS = ("duckdb", "postgres")
# Loaded packages keep only metadata (jobs are deleted after loading), but a run a minute adds
# one each; keep the last few for debugging.
KEEP_LOADED_PACKAGES = 5
# A load merging more rows than this runs each dlt client in its own DuckDB (_phase).
HOLD_MAX_MERGED_ROWS = 500_000


@dataclass(frozen=True)
class TableCounts:
    status: str
    rows_extracted: int
    rows_loaded: int
    rows_deleted: int
    bad_values: int


@dataclass
class IngestionReport:
    run_id: str
    destination: str
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    records: list[RunRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Run-level failures (destination, load, run log); per-table ones are in `records`."""
    unchanged: bool = False
    """Nothing to load anywhere: recorded without running dlt (the no-change fast path)."""

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.ok for r in self.records)

    @property
    def rows_extracted(self) -> int:
        return sum(r.rows_extracted for r in self.records)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.records)

    @property
    def rows_deleted(self) -> int:
        return sum(r.rows_deleted for r in self.records)

    @property
    def tables(self) -> dict[tuple[str, str], TableCounts]:
        """Per (instance, table): incremental and reconciliation records added together; the
        status is the worst of them."""
        merged: dict[tuple[str, str], TableCounts] = {}
        rank = {"failed": 3, "skipped": 1, "success": 0, "running": 2}
        for r in self.records:
            key = (r.instance_id, r.table_name)
            prior = merged.get(key, TableCounts("success", 0, 0, 0, 0))
            status = prior.status if rank[prior.status] >= rank[r.status] else r.status
            if r.is_reconciliation and r.status == "skipped":
                status = prior.status  # a skipped reconciliation is not a problem of the table
            merged[key] = TableCounts(
                status,
                prior.rows_extracted + r.rows_extracted,
                prior.rows_loaded + r.rows_loaded,
                prior.rows_deleted + r.rows_deleted,
                prior.bad_values + len(r.bad_values),
            )
        return merged

    @property
    def failures(self) -> list[str]:
        """Every error message of the run, run-level first."""
        return self.errors + [
            r.error_message or "failed" for r in self.records if r.status == "failed"
        ]

    def summary(self) -> str:
        lines = [
            f"ingestion run {self.run_id} -> {self.destination}: "
            f"{'ok' if self.ok else 'FAILED'}, {self.rows_extracted} rows read, "
            f"{self.rows_loaded} loaded, {self.rows_deleted} deleted"
        ]
        for (instance, table), counts in sorted(self.tables.items()):
            bad = f", {counts.bad_values} bad values" if counts.bad_values else ""
            lines.append(
                f"  {instance}.{table}: {counts.status}, read {counts.rows_extracted}, "
                f"loaded {counts.rows_loaded}, deleted {counts.rows_deleted}{bad}"
            )
        lines += [
            f"  {r.instance_id}.{r.table_name}: {r.rows_inserted} inserted, {r.rows_updated} "
            f"updated, {r.rows_deleted} deleted (read whole)"
            for r in self.records
            if r.rows_inserted is not None and r.status == "success"
        ]
        lines += [f"  schema change: {message}" for message in self.notices]
        lines += [f"  error: {message}" for message in self.failures]
        return "\n".join(lines)

    @property
    def notices(self) -> list[str]:
        """Source schema changes the run went on with, each naming instance and table."""
        return [
            f"instance {r.instance_id}, table {r.table_name}: {notice}"
            for r in self.records
            for notice in r.notices
        ]


def run_ingestion(
    settings: Settings,
    destination: str = "duckdb",
    instances: Iterable[str] | None = None,
    tables: Iterable[str] | None = None,
    reconcile: bool | None = None,
    progress: Any = None,
    config: IngestionConfig | None = None,
    since: dt.datetime | None = None,
) -> IngestionReport:
    """Ingest the selected instances and tables (all configured ones by default).

    since: backfill window start: re-read and reload every selected row with cursor >= since
    (used by `warehouse backfill`; None = the normal incremental window).
    reconcile: None follows each table's `reconcile_every`; True forces a reconciliation of
    every selected table (hard deletes and late commits older than the lag); False skips it.
    progress: a callable receiving ProgressEvent, or a rich.progress.Progress.
    Raises ConfigError for an unknown instance/table and IngestionLocked when another run holds
    the lock; every other failure is reported in the returned report (`.ok` is False).
    """
    if destination not in DESTINATIONS:
        raise ValueError(
            f"unknown destination {destination!r} (expected one of {', '.join(DESTINATIONS)})"
        )
    config = config or load_config()
    selected_instances = config.select_instances(instances)
    selected_tables = config.select_tables(tables)

    with RunLock(settings.home / LOCK_FILE):
        configure_dlt(settings)
        run_id = uuid.uuid4().hex
        report = IngestionReport(run_id, destination, utc_now())
        ctx = RunContext(
            run_id=run_id,
            salt=settings.pii_salt(),
            readers=ReaderPool({i: settings.source_url(i) for i in selected_instances}),
            destination=None,  # type: ignore[arg-type] - set once the pipeline exists
            extracted_at=report.started_at,
            config=config,
            reconcile=reconcile,
            since=since,
            progress=_progress_callback(progress),
        )
        report.records = ctx.records
        pipeline = None
        try:
            pipeline = dlt.pipeline(
                pipeline_name=pipeline_name(destination),
                pipelines_dir=str(settings.pipelines_dir),
                destination=make_destination(settings, destination),
                dataset_name=settings.raw_schema,
            )
            ctx.destination = DestinationView(pipeline)
            _read_skipped_runs(settings, ctx)
            with _phase(ctx, destination):
                if _nothing_to_load(ctx, pipeline, destination, selected_instances,
                                    selected_tables):
                    _count_skipped_run(settings, ctx)
                    report.unchanged = True
                    report.ended_at = utc_now()
                    return report
                _prepare(pipeline)
                with ctx.destination.connected():
                    ctx.raw_stats = {
                        t.name: ctx.destination.instance_stats(t) for t in selected_tables
                    }
        except Exception as exc:
            message = f"destination {destination}: {_explain(exc)}"
            report.errors.append(message)
            _fail_all(ctx, selected_instances, selected_tables, message)
            if pipeline is not None:
                _write_run_log(pipeline, destination, report)
            report.ended_at = utc_now()
            return report

        append_tables = [
            t.name
            for t in selected_tables
            # A table without a key is always merged on instance_id (its marker row must not
            # be appended).
            if t.has_key
            and not any(stats.rows for stats in ctx.raw_stats.get(t.name, {}).values())
        ]
        source = platform_source(ctx, selected_instances, selected_tables, append_tables)
        file_format = loader_file_format(destination)
        try:
            with ctx.destination.connected(), _timed("extract"):
                pipeline.extract(source, loader_file_format=file_format)
        except Exception as exc:
            # A table's own failures are recorded by its resource; this is dlt refusing what
            # was extracted, which discards the whole package (and its state changes).
            message = f"extraction aborted, nothing loaded: {_explain(exc)}"
            report.errors.append(message)
            _fail_loaded(ctx.records, message)
            _fail_all(ctx, selected_instances, selected_tables, message)
            _write_run_log(pipeline, destination, report)
            report.ended_at = utc_now()
            return report
        _close_records(report)
        try:
            # The run records are loaded by the same load() call as the data; they are written
            # again, marked failed, if that load fails.
            merged = sum(r.rows_loaded for r in ctx.records if r.table_name not in append_tables)
            # Normalize, the run log and the load in one connection, unless the load merges
            # many rows (below).
            with _phase(ctx, destination, hold=merged <= HOLD_MAX_MERGED_ROWS):
                with _timed("normalize"):
                    pipeline.normalize()
                # Normalized on its own: a second extract would change the schema under the
                # first package before it is normalized.
                pipeline.extract(
                    [ingestion_runs(report.records),
                     quarantine_resource(ctx.quarantine, run_id, report.started_at)],
                    loader_file_format=file_format,
                )
                pipeline.normalize()
                with _timed("load"):
                    pipeline.load()
        except Exception as exc:
            message = f"load into {destination} failed: {_explain(exc)}"
            report.errors.append(message)
            _fail_loaded(ctx.records, message)
            _write_run_log(pipeline, destination, report)
        _prune_loaded_packages(pipeline)
        if not report.errors:  # the skipped runs are in the states this load committed
            _remember(settings, {}, {key: counter for key, counter in ctx.verified_counters.items()
                                     if tuple(key.split("@")[0].split("__", 1)) in ctx.unchanged})
        report.ended_at = utc_now()
        return report


def _nothing_to_load(
    ctx: RunContext, pipeline: dlt.Pipeline, destination: str, instances: list[str],
    tables: list[TableConfig],
) -> bool:
    """The no-change fast path (module doc): True when the run's records were written without
    dlt. Any doubt (a pending package, a probe that fails) leaves the decision to the full run."""
    if destination not in FAST_PATH_DESTINATIONS or ctx.since is not None or ctx.reconcile:
        return False
    started = time.perf_counter()
    try:
        _remove_unfinished_extracts(pipeline)
        _finish_interrupted_normalize(pipeline)
        if pipeline.has_pending_data:
            return False
        resources = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("resources", {})
        pairs = [
            (instance, ctx.config.for_instance(table, instance) if ctx.config else table)
            for table in tables for instance in instances
            if not table.instances or instance in table.instances
        ]
        with ctx.destination.connected():
            ctx.raw_stats = {t.name: ctx.destination.instance_stats(t) for t in tables}
            unchanged = probe_unchanged(
                ctx, lambda i, t: resources.get(resource_name(i, t), {}), pairs
            )
            if len(unchanged) < len(pairs):
                # Some tables changed: the normal run reads only those (extract_table).
                ctx.unchanged = unchanged
                return False
            records = [r for i, t in pairs for r in unchanged[(i, t.name)]]
            ctx.records.extend(records)
            for record in records:
                if not record.is_reconciliation:
                    ctx.notify(record.instance_id, record.table_name, "done", record.rows_extracted)
            _append_run_log(pipeline, records)  # borrows the connection open here
    except Exception as exc:  # the full run reports what is wrong
        logger.info("no-change probe not conclusive: %s", _explain(exc))
        ctx.records.clear()
        ctx.unchanged = {}
        ctx.windows = {}
        return False
    logger.info("nothing changed: recorded without dlt in %.2f s", time.perf_counter() - started)
    return True


def _append_run_log(pipeline: dlt.Pipeline, records: list[RunRecord]) -> None:
    """The run records, appended to raw._tw_ingestion_runs by SQL (the columns it has: dlt adds
    later ones on its next load), in one transaction."""
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(RUN_LOG_TABLE)
        with client.execute_query(f"SELECT * FROM {table} WHERE 1 = 0") as cursor:
            present = {str(column[0]) for column in cursor.description}
        names = [f.name for f in RUN_LOG_SCHEMA if f.name in present]
        load_id = f"{time.time():.6f}"  # dlt's form; no dlt load is recorded for it
        columns = names + [c for c in ("_dlt_load_id", "_dlt_id") if c in present]
        if not records:
            return
        values: list[Any] = []
        for record in records:
            row = record.as_row()
            values += [row[name] for name in names]
            values += [load_id] if "_dlt_load_id" in present else []
            values += [uuid.uuid4().hex[:14]] if "_dlt_id" in present else []
        placeholders = f"({', '.join(['%s'] * len(columns))})"
        # One statement for every record: one round trip instead of one per table.
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES {', '.join([placeholders] * len(records))}")
        with client.begin_transaction():
            client.execute_sql(sql, *values)


def _read_skipped_runs(settings: Settings, ctx: RunContext) -> None:
    """The fast path's memory since the last run that loaded: runs skipped, source counters."""
    try:
        kept = json.loads((settings.home / SKIPPED_RUNS_FILE).read_text())
        ctx.skipped_runs = {str(k): int(v) for k, v in kept["skipped"].items()}
        ctx.verified_counters = {str(k): [int(n) for n in v] for k, v in kept["verified"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ctx.skipped_runs, ctx.verified_counters = {}, {}


def _count_skipped_run(settings: Settings, ctx: RunContext) -> None:
    counts = dict(ctx.skipped_runs)
    for record in ctx.records:
        if not record.is_reconciliation:
            key = resource_name(record.instance_id, record.table_name)
            counts[key] = counts.get(key, 0) + 1
    _remember(settings, counts, ctx.verified_counters)


def _remember(settings: Settings, skipped: dict[str, int], verified: dict[str, list[int]]) -> None:
    """Runs skipped since the last load, and each table's counter when it last equalled raw (kept
    across loads for the tables a load left unread: they still equal raw)."""
    path = settings.home / SKIPPED_RUNS_FILE
    if not skipped and not verified:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"skipped": skipped, "verified": verified}))
    temporary.replace(path)


def pipeline_name(destination: str) -> str:
    # One pipeline (state, watermarks) per destination kind. A warehouse that is replaced or
    # emptied is detected (dlt drops local state when the dataset is gone; an instance with no
    # raw rows is read in full); one restored from an older backup is read again from its newest
    # cursor (only deletions made since the backup wait for a reconciliation).
    return f"{PIPELINE_PREFIX}_{destination}"


def configure_dlt(settings: Settings) -> None:
    """dlt reads its configuration from the environment; these are the settings every run needs."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ.setdefault("DLT_DATA_DIR", str(settings.home / "dlt"))
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    # Privacy: no loaded rows stay in the local package files or in the staging dataset.
    os.environ["LOAD__DELETE_COMPLETED_JOBS"] = "true"
    os.environ["LOAD__TRUNCATE_STAGING_DATASET"] = "true"
    # A job that fails for good aborts its package and restores the state (watermarks) from
    # before the extraction, so the next run reads those rows again instead of skipping them.
    os.environ["LOAD__AUTO_ABORT_ON_TERMINAL_ERROR"] = "true"
    os.environ["NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"] = "true"
    # `_dlt_id` is generated during extraction (ingestion/shape.py explains why).
    os.environ["NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID"] = "false"
    # One resource after the other: one open source statement at a time, bounded memory.
    os.environ.setdefault("EXTRACT__NEXT_ITEM_MODE", "fifo")


def _prepare(pipeline: dlt.Pipeline) -> None:
    # What `pipeline.run` does first: adopt the destination's state if it is newer (or wipe
    # the local one if the dataset is gone), then finish packages a crashed run left behind.
    _remove_unfinished_extracts(pipeline)
    _finish_interrupted_normalize(pipeline)
    pipeline.sync_destination()
    if pipeline.has_pending_data:
        pipeline.normalize()
        try:
            pipeline.load()
        except Exception as exc:
            raise DestinationError(
                f"a load package left by an earlier run could not be loaded: {_explain(exc)}"
            ) from exc


# dlt's extract step writes into a folder named by a random 16-hex id under normalize/ and moves
# the package to normalize/extracted only when it is complete.
_EXTRACT_FOLDER = re.compile(r"^[0-9a-f]{16}$")


def _remove_unfinished_extracts(pipeline: dlt.Pipeline) -> None:
    """Delete the half-written packages of extractions that were killed.

    A process killed while extracting leaves its package (raw rows, hashed personal data
    included) in that folder, which dlt never reads or removes again: files would pile up and
    outlive an erasure. Under the run lock no other extraction of this home is running, so every
    such folder is an orphan; its rows are read again because the watermarks only moved in the
    package's own state, which was never committed."""
    root = Path(pipeline.working_dir) / "normalize"
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.is_dir() and _EXTRACT_FOLDER.match(entry.name):
            logger.warning("removing the unfinished extraction %s left by a killed run", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _finish_interrupted_normalize(pipeline: dlt.Pipeline) -> None:
    """Complete a normalization that was killed while dlt committed it.

    dlt commits a normalized package by renaming load/new/<id> to load/normalized/<id>, then
    deletes the extracted package normalize/extracted/<id> ("do not kill this process"). Killed
    in between, the extracted copy stays, and every later run normalizes it again and fails on
    the rename ("Directory not empty"): ingestion would be stuck for good. The normalized
    package is complete once renamed, so the extracted copy is what dlt was deleting."""
    root = Path(pipeline.working_dir)
    extracted = root / "normalize" / "extracted"
    if not extracted.is_dir():
        return
    for package in extracted.iterdir():
        committed = [root / "load" / state / package.name for state in ("normalized", "loaded")]
        if package.is_dir() and any(path.is_dir() for path in committed):
            logger.warning("removing extracted package %s, normalized before a kill", package)
            shutil.rmtree(package, ignore_errors=True)


def _fail_all(
    ctx: RunContext, instances: list[str], tables: list[TableConfig], message: str
) -> None:
    """A failed record for every selected table the run did not reach."""
    reached = {(r.instance_id, r.table_name) for r in ctx.records}
    for table in tables:
        for instance in instances:
            if table.instances and instance not in table.instances:
                continue
            if (instance, table.name) not in reached:
                ctx.record(instance, table.name).fail(
                    f"instance {instance}, table {table.name}: not ingested: {message}"
                )


def _fail_loaded(records: list[RunRecord], message: str) -> None:
    """After a run-level failure nothing of this run is known to be loaded: the watermarks are
    back where they were, and the next run reads these rows again."""
    for record in records:
        if record.status in ("success", "running"):
            record.rows_loaded = record.rows_deleted = 0
            if record.rows_inserted is not None:
                record.rows_inserted = record.rows_updated = 0
            record.fail(f"instance {record.instance_id}, table {record.table_name}: {message}")


def _close_records(report: IngestionReport) -> None:
    for record in report.records:
        if record.status == "running":  # extraction stopped before reaching its end
            record.fail(f"instance {record.instance_id}, table {record.table_name}: interrupted")


def _write_run_log(pipeline: dlt.Pipeline, destination: str, report: IngestionReport) -> None:
    """Write the run records on their own (after a failure). A package the failed load left
    pending is loaded first by dlt, which is then the only thing this call does."""
    _close_records(report)
    if pipeline.has_pending_data:
        report.errors.append(
            "run log not written: an unloaded package is pending; the next run loads it first"
        )
        return
    try:
        pipeline.run(
            ingestion_runs(report.records), loader_file_format=loader_file_format(destination)
        )
    except Exception as exc:
        report.errors.append(f"run log not written to {destination}: {_explain(exc)}")


def _prune_loaded_packages(pipeline: dlt.Pipeline) -> None:
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    if not loaded.is_dir():
        return
    packages = sorted(p for p in loaded.iterdir() if p.is_dir())
    for package in packages[:-KEEP_LOADED_PACKAGES]:
        shutil.rmtree(package, ignore_errors=True)


def _phase(ctx: RunContext, destination: str, hold: bool = True) -> Any:
    """Hold a DuckDB connection through one phase of the run (set-up; normalize to load): dlt
    opens and closes the file for each of its clients (16 times in a full load), and while a
    connection is held, each of those reuses the open database instead of opening the file and
    checkpointing it on close. Released between phases, so memory DuckDB kept from the
    extraction's queries is freed before the load, as when every client had its own.
    `hold=False` leaves each client its own database: a load that merges more than
    HOLD_MAX_MERGED_ROWS rows (SF10's 10% delta, 2M rows) ran out of DuckDB's memory limit in
    the merge with the staging copy still in the shared buffer pool (dlt retried it)."""
    return ctx.destination.connected() if destination == "duckdb" and hold else nullcontext()


@contextmanager
def _timed(step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        logger.info("ingestion %s took %.2f s", step, time.perf_counter() - started)


def _explain(exc: BaseException) -> str:
    """The innermost useful message of dlt's wrapped step exceptions."""
    seen = exc
    while getattr(seen, "__cause__", None) is not None and type(seen).__name__ in (
        "PipelineStepFailed",
    ):
        seen = seen.__cause__  # type: ignore[assignment]
    text = str(seen).strip().splitlines()
    return f"{type(seen).__name__}: {text[0] if text else ''}".rstrip(": ")


def _progress_callback(progress: Any) -> ProgressCallback | None:
    if progress is None:
        return None
    if hasattr(progress, "add_task") and hasattr(progress, "update"):
        return _RichProgress(progress)
    if callable(progress):
        return progress
    raise TypeError("progress must be a callable taking a ProgressEvent or a rich Progress")


class _RichProgress:
    """Adapts a rich.progress.Progress: one task per (instance, table)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str], Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.instance, event.table)
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(f"{event.instance}.{event.table}", total=None)
        description = f"{event.instance}.{event.table} ({event.phase})"
        self.progress.update(self.tasks[key], completed=event.rows, description=description)
        if event.phase in ("done", "failed"):
            self.progress.update(self.tasks[key], total=event.rows)
