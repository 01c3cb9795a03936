"""Extraction of one (instance, table) per run: the body of each dlt resource.

Watermark semantics (kept in the resource's dlt state, which dlt commits with the load):
- `cursor` is the highest cursor value read from the source so far (the high watermark).
- A run reads `cursor >= watermark - lag` (inclusive), ordered by (cursor, key), in one
  statement, so rows sharing a timestamp at any chunk edge are all read, and a transaction that
  commits late with a cursor up to `lag` behind the watermark is still seen.
- Rows of that window whose (key, cursor) raw already holds are dropped before dlt: re-reading
  the window is what makes late commits safe, re-loading it would only churn the warehouse.
  A run with no source changes therefore loads nothing and leaves raw untouched.
- Version first: the window's (key, cursor) versions are read first (`read_window`: the same
  predicate in one statement, two columns instead of every column), and those raw lacks are
  fetched by key (`read_rows`) when they are few (at most FETCH_BY_KEY_SHARE of the window and
  FETCH_BY_KEY_ROWS); otherwise (a first read, a big delta, a backfill) the window is read
  whole in one pass as above. The no-change probe's version read (below) is the run's: a
  table it finds changed is read from those versions and raw's (`RunContext.windows`) instead
  of reading both again; raw cannot have changed in between (the probe runs only when no
  package is pending, under the run lock), and the argument below holds for a version read
  made any time before the fetch. Why this is as exact as the one-pass read:
  * the version read is one statement, one snapshot: it sees exactly the rows the one-pass read
    would have seen at that moment (late commits and equal timestamps at a chunk edge
    included), so "which versions does raw lack" is decided on the same set;
  * the watermark is the highest cursor of that version read, never of the fetch, so it is
    what the one-pass read would have set: everything committed before the version read with
    a cursor below it is in raw or loaded by this run;
  * a row updated between the version read and the fetch comes back with its newer cursor (or
    an older one, if the cursor was moved back): the current row is loaded, which the merge on
    the key makes the row's state, and its newer version is at or above the watermark minus
    the lag, so the next window sees it again (and drops it, raw holding that version). Other
    rows committed in between are not fetched, but their cursors are later than the version
    read, so above the watermark and read by the next run;
  * a row deleted between the two reads is simply absent from the fetch: raw keeps what it
    had (nothing, for a new row), exactly as if the delete came right after a one-pass read,
    and reconciliation removes it;
  * the fetched rows are checked against raw's versions again (drop_known), and each key is
    fetched once, so nothing is loaded twice into one package.
  Bad values are reported by the read of the row itself (the fetch), not by the version read.
- The watermark only moves when the table was read to the end; a failed read keeps the old one,
  so the next run re-reads from there (loads are idempotent merges on (instance_id, key)).
- An instance with no rows in raw (first run, or raw was dropped) is read in full, and one
  whose newest raw cursor is behind the watermark (raw restored from an older backup) is read
  from that cursor: the state never makes a run skip rows raw does not have.
Reconciliation (hard deletes, late commits older than the lag) runs every `reconcile_every`
runs, or when forced, after the incremental read; see ingestion/reconcile.py.

No-change fast path (`probe_unchanged`, before dlt is involved): when every selected table is
read incrementally from a database, raw holds rows of every instance and no schema drift is
seen, the run reads each table's window versions (`read_window`: key and cursor of the same
`cursor >= watermark - lag` statement) and drops what raw holds, exactly as above, and, where a
reconciliation is due, compares the bucket checksums (and the keys of differing buckets)
exactly as it would; if nothing is left to load or delete anywhere, pipeline.py records the run
without running dlt at all.
A table whose window was found all in raw is not read again while nothing moved: its window
stamp (SourceReader.window_stamp: the source's write counter, newest cursor and server start;
raw's row count and newest cursor; the window's start), read before that window read, is kept
with the verified counters, and an equal stamp skips the window read. A commit stamped with its
own time moves the newest cursor at once; one with an older cursor (a late commit, an equal
timestamp) moves the write counter once its statistics arrive (PostgreSQL: within ~1-10 s),
while its cursor is still in the lag window, so it is read a cycle later at worst, never
skipped. Raw changed by ingestion only moves towards the source (raw's versions of rows the
window holds stay), so a stamp stays true across the loads of other tables; raw changed by
hand (rows lost, a restored backup) moves raw's count or newest cursor. Runs skipped so count
towards `reconcile_every` (`RunContext.skipped_runs`, added to the state's `runs` by the next
run that loads), so reconciliation keeps its schedule in an otherwise idle source.

Tables without a change cursor are read whole every run instead:
- `cursor: none` (with a primary key): each row's digest (shape.row_hashes) is compared with the
  one raw keeps in `_tw_row_hash`; only new and changed rows are loaded, keys gone from the
  source are deleted, unchanged rows are not rewritten. The run record counts each.
- `primary_key: none`: nothing identifies a row, so the instance's rows are replaced whole in
  one merge (instance_id is the merge key; ingestion/platform_source.py), or left alone when
  the content digest equals the last loaded one.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.config import TableConfig
from ingestion.destination import DestinationView, RawStats
from ingestion.drift import check_drift
from ingestion.errors import SourceError, SourceUnavailable
from ingestion.readers import SourceReader, open_reader
from ingestion.readers.convert import max_timestamp
from ingestion.reconcile import BucketStats, differences
from ingestion.run_log import RunRecord
from ingestion.schema import ROW_HASH_COLUMN
from ingestion.shape import deletions, replace_marker, row_hashes, to_raw

# Version-first incremental reads (module doc): the unknown rows are fetched by key when they
# are at most this share of the window, and at most this many (the keys are held in memory).
FETCH_BY_KEY_SHARE = 0.25
FETCH_BY_KEY_ROWS = 200_000
SHARE_AFTER_ROWS = 10_000
# Suffix of the key under which RunContext.verified_counters keeps a table's window stamp.
WINDOW_STAMP = "@window"


@dataclass(frozen=True)
class ProgressEvent:
    instance: str
    table: str
    phase: str  # "extract" | "reconcile" | "done" | "failed"
    rows: int  # rows read so far in this phase


ProgressCallback = Callable[[ProgressEvent], None]


class ReaderPool:
    """Opens one reader (connection) per table, and remembers an instance that cannot be reached
    so its other tables fail at once with the same error instead of each waiting a timeout."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.unavailable: dict[str, SourceUnavailable] = {}

    def open(self, instance: str) -> SourceReader:
        if instance in self.unavailable:
            raise self.unavailable[instance]
        try:
            return open_reader(instance, self.urls[instance])
        except SourceUnavailable as exc:
            self.unavailable[instance] = exc
            raise


@dataclass
class RunContext:
    """Everything the resources of one run share."""

    run_id: str
    salt: str
    readers: ReaderPool
    destination: DestinationView
    extracted_at: dt.datetime
    reconcile: bool | None = None
    progress: ProgressCallback | None = None
    # Backfill (`warehouse backfill`): re-read every row with cursor >= since, whatever the
    # watermark, and load them all again (merge on the key: nothing is duplicated).
    since: dt.datetime | None = None
    raw_stats: dict[str, dict[str, RawStats]] = field(default_factory=dict)
    records: list[RunRecord] = field(default_factory=list)
    # The run's config (instance kinds and their options: ingestion/sources) and the spreadsheet
    # rows quarantined this run (written to raw._tw_quarantine with the run records).
    config: Any = None
    quarantine: list[Any] = field(default_factory=list)
    # Runs the no-change fast path recorded since the last run that loaded, per resource
    # (`<instance>__<table>`): they count towards reconcile_every.
    skipped_runs: dict[str, int] = field(default_factory=dict)
    # The source's change counter (SourceReader.change_counter) read right before the fast
    # path last found the table equal to raw whole, per resource.
    verified_counters: dict[str, list[int]] = field(default_factory=dict)
    # (instance, table) the probe found with nothing to load, with their run records: the
    # normal run leaves them unread (only the others changed).
    unchanged: dict[tuple[str, str], list[RunRecord]] = field(default_factory=dict)
    # (instance, table) the probe found with unknown versions: (window start, the window's
    # versions against raw or None when too many to fetch by key, raw's versions), which the
    # run's read of the table starts from.
    windows: dict[tuple[str, str], tuple[dt.datetime, Window | None, pa.Table]] = field(
        default_factory=dict
    )

    def record(self, instance: str, table: str, is_reconciliation: bool = False) -> RunRecord:
        record = RunRecord(self.run_id, instance, table, is_reconciliation=is_reconciliation)
        self.records.append(record)
        return record

    def notify(self, instance: str, table: str, phase: str, rows: int) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(instance, table, phase, rows))


def extract_table(
    ctx: RunContext, instance: str, table: TableConfig, state: MutableMapping[str, Any]
) -> Iterator[pa.Table]:
    """Yield raw batches for one instance's table and update its state; never raises for a
    source problem (it is recorded, and the other tables go on)."""
    skipped = ctx.skipped_runs.get(f"{instance}__{table.name}", 0)
    if skipped:  # committed with this run's load, with the watermark
        state["runs"] = state.get("runs", 0) + skipped
    probed = ctx.unchanged.get((instance, table.name))
    if probed is not None:  # nothing to load: its records are the probe's, its state a run more
        ctx.records.extend(probed)
        state["runs"] = state.get("runs", 0) + 1
        ctx.notify(instance, table.name, "done", probed[0].rows_extracted)
        return
    record = ctx.record(instance, table.name)
    raw = ctx.raw_stats.get(table.name, {}).get(instance, RawStats(0, None))
    if not table.is_incremental:
        yield from _extract_whole(ctx, instance, table, state, record, raw)
        return
    watermark = _parse(state.get("cursor"))
    full = watermark is None or raw.rows == 0
    if not full and raw.highest_cursor is not None and raw.highest_cursor < watermark:
        # Raw is behind the state (restored from a backup, rows removed by hand): read from
        # what raw actually holds, so the gap is filled instead of skipped.
        watermark = raw.highest_cursor
    reconcile_due = _reconcile_due(ctx.reconcile, table, state)
    rebuilt = full and raw.rows == 0  # nothing in raw to reconcile against
    try:
        reader = ctx.readers.open(instance)
    except Exception as exc:
        _fail(ctx, record, _describe(exc, instance, table.name))
        if reconcile_due:
            ctx.record(instance, table.name, True).skip("source unavailable; see the extract record")
        return
    with reader:
        # Keys loaded by the incremental pass, which reconciliation must not emit again into the
        # same load (kept only when a reconciliation follows).
        emitted: list[pa.Table] | None = [] if reconcile_due and not rebuilt else None
        try:
            yield from _incremental(ctx, reader, table, record, state, watermark, full, emitted)
        except Exception as exc:
            _fail(ctx, record, _describe(exc, instance, table.name))
            if reconcile_due:
                ctx.record(instance, table.name, True).skip("incremental read failed this run")
            return
        if not reconcile_due:
            return
        recon = ctx.record(instance, table.name, is_reconciliation=True)
        if rebuilt:
            recon.skip("raw had no rows of this instance; the full read rebuilt them")
            return
        try:
            # After a full read only deletions are left to find: every current row was emitted.
            yield from _reconcile(ctx, reader, table, recon, emitted, deletions_only=full)
        except Exception as exc:
            _fail(ctx, recon, _describe(exc, instance, table.name))
            return
        state["last_reconcile_run"] = state.get("runs", 0)


def _incremental(
    ctx: RunContext,
    reader: SourceReader,
    table: TableConfig,
    record: RunRecord,
    state: MutableMapping[str, Any],
    watermark: dt.datetime | None,
    full: bool,
    emitted: list[pa.Table] | None,
) -> Iterator[pa.Table]:
    instance = reader.instance
    since = None if full or watermark is None else watermark - dt.timedelta(seconds=table.lag_seconds)
    backfill = ctx.since is not None and since is not None
    if backfill:
        since = min(since, ctx.since)
    record.cursor_from = since
    columns = reader.column_types(table)
    if columns is not None:  # check_drift raises unless every configured column is there
        record.notices.extend(check_drift(reader.engine, instance, table, columns, state))
    else:
        reader.check_table(table)
    # What the no-change probe of this run read of the same window (raw cannot have changed
    # since: the probe runs only when no package is pending, and the run lock is held).
    probed = ctx.windows.pop((instance, table.name), None)
    if probed is not None and (probed[0] != since or backfill):
        probed = None
    # A backfill reloads the window as the source has it, unchanged versions included.
    known = (
        None if since is None or backfill
        else probed[2] if probed is not None
        # One chunk: drop_known looks every batch up in it without copying it again.
        else ctx.destination.versions(table, instance, since=since).combine_chunks()
    )
    highest: dt.datetime | None = None
    batches: Iterator[pa.Table] | None = None
    if since is not None and known is not None:  # version-first (module doc)
        window = probed[1] if probed is not None else unknown_versions(reader, table, since, known)
        reader.take_issues()  # a bad value is reported by the read of its row (or was, once)
        if window is not None:
            record.rows_extracted, highest = window.rows, window.highest
            keys = window.keys()
            batches = reader.read_rows(table, keys.to_pylist()) if len(keys) else iter(())
    for batch in reader.read_changes(table, since) if batches is None else batches:
        if batches is None:  # one pass: the window itself, every column
            record.rows_extracted += batch.num_rows
            batch_highest = max_timestamp(batch.column(table.cursor))
            if batch_highest is not None and (highest is None or batch_highest > highest):
                highest = batch_highest
        if known is not None and known.num_rows:
            batch = drop_known(batch, known, table)
        ctx.notify(instance, table.name, "extract", record.rows_extracted)
        if batch.num_rows == 0:
            continue
        if emitted is not None:  # (key, cursor) of what this run loads
            emitted.append(batch.select([table.primary_key, table.cursor]))
        record.rows_loaded += batch.num_rows
        yield to_raw(batch, table, instance, ctx.salt, ctx.extracted_at)

    record.bad_values.extend(reader.take_issues())
    # A full read sees the source as it is, so its maximum is the truth even if an older state
    # (say, of a source since regenerated) was ahead; an incremental read never moves back.
    if not full and watermark is not None and (highest is None or highest < watermark):
        highest = watermark
    state["cursor"] = highest.isoformat() if highest is not None else None
    state["runs"] = state.get("runs", 0) + 1
    if full:
        state["last_reconcile_run"] = state["runs"]
    record.cursor_to = highest
    record.succeed()
    ctx.notify(instance, table.name, "done", record.rows_extracted)


def _extract_whole(
    ctx: RunContext,
    instance: str,
    table: TableConfig,
    state: MutableMapping[str, Any],
    record: RunRecord,
    raw: RawStats,
) -> Iterator[pa.Table]:
    """A table without a cursor (`cursor: none`) or without a key (`primary_key: none`)."""
    try:
        reader = ctx.readers.open(instance)
    except Exception as exc:
        _fail(ctx, record, _describe(exc, instance, table.name))
        return
    with reader:
        try:
            columns = reader.column_types(table)
            if columns is not None:  # raises unless every configured column is there
                record.notices.extend(check_drift(reader.engine, instance, table, columns, state))
            else:
                reader.check_table(table)
            if table.compares_rows:
                yield from _compare_rows(ctx, reader, table, record)
            else:
                yield from _replace_rows(ctx, reader, table, record, state, raw)
        except Exception as exc:
            _fail(ctx, record, _describe(exc, instance, table.name))
            return
    record.bad_values.extend(reader.take_issues())
    state["runs"] = state.get("runs", 0) + 1
    record.succeed()
    ctx.notify(instance, table.name, "done", record.rows_extracted)


def _compare_rows(
    ctx: RunContext, reader: SourceReader, table: TableConfig, record: RunRecord
) -> Iterator[pa.Table]:
    """`cursor: none`: load the rows whose digest raw lacks or holds another one for, delete
    the keys gone from the source."""
    instance, key = reader.instance, table.primary_key or ""
    known = ctx.destination.row_hashes(table, instance)
    known = known.append_column("_tw_known", pa.repeat(pa.scalar(True), known.num_rows))
    record.rows_inserted = record.rows_updated = 0
    seen: list[pa.Array] = []
    for batch in reader.read_changes(table, None):
        record.rows_extracted += batch.num_rows
        ctx.notify(instance, table.name, "extract", record.rows_extracted)
        keys = batch.column(key).combine_chunks()
        seen.append(keys)
        hashes = row_hashes(batch, ctx.salt)
        probe = pa.table({key: keys, "_tw_hash": hashes, "_tw_row": pa.array(range(len(keys)))})
        joined = probe.join(known, keys=key, join_type="left outer")
        is_new = pc.is_null(joined.column("_tw_known"))
        is_changed = pc.and_(
            pc.invert(is_new),
            pc.fill_null(pc.not_equal(joined.column("_tw_hash"), joined.column(ROW_HASH_COLUMN)),
                         True),
        )
        record.rows_inserted += pc.sum(is_new.cast(pa.int64())).as_py() or 0
        record.rows_updated += pc.sum(is_changed.cast(pa.int64())).as_py() or 0
        rows = joined.filter(pc.or_(is_new, is_changed)).column("_tw_row")
        if len(rows) == 0:
            continue
        rows = pc.take(rows, pc.sort_indices(rows))  # in the order they were read
        record.rows_loaded += len(rows)
        yield to_raw(batch.take(rows), table, instance, ctx.salt, ctx.extracted_at,
                     hashes=hashes.take(rows))
    present = pa.concat_arrays(seen) if seen else pa.array([], pa.int64())
    raw_keys = known.column(key)
    gone = pc.unique(raw_keys.filter(pc.invert(pc.is_in(raw_keys, present))).combine_chunks())
    if len(gone):
        record.rows_deleted += len(gone)
        yield deletions(gone, table, instance, ctx.extracted_at)


def _replace_rows(
    ctx: RunContext,
    reader: SourceReader,
    table: TableConfig,
    record: RunRecord,
    state: MutableMapping[str, Any],
    raw: RawStats,
) -> Iterator[pa.Table]:
    """`primary_key: none`: one pass computes the content digest; when it differs from the
    loaded one (or raw lost rows), a second pass loads every row after a marker that makes the
    merge delete the instance's old rows in the same transaction."""
    instance = reader.instance
    rows, digest = 0, 0
    for batch in reader.read_changes(table, None):
        rows += batch.num_rows
        digest = _add_digest(digest, batch, ctx.salt)
        ctx.notify(instance, table.name, "extract", rows)
    record.rows_extracted = rows
    reader.take_issues()  # reported by the pass that loads
    fingerprint = f"{rows}:{digest:032x}"
    if state.get("content") == fingerprint and raw.rows == rows:
        record.rows_inserted = record.rows_updated = record.rows_deleted = 0
        return
    record.rows_deleted = raw.rows
    record.rows_updated = 0
    yield replace_marker(table, instance, ctx.extracted_at)
    rows, digest = 0, 0
    for batch in reader.read_changes(table, None):
        rows += batch.num_rows
        digest = _add_digest(digest, batch, ctx.salt)
        yield to_raw(batch, table, instance, ctx.salt, ctx.extracted_at)
    # The table's rows (read twice: the digest pass, then this one).
    record.rows_extracted = rows
    record.rows_loaded = record.rows_inserted = rows
    state["content"] = f"{rows}:{digest:032x}"


def _add_digest(digest: int, batch: pa.Table, salt: str) -> int:
    """Order-independent digest of a multiset of rows: the sum of their 128-bit digests."""
    for value in row_hashes(batch, salt).to_pylist():
        digest = (digest + int(value, 16)) % (1 << 128)
    return digest


def _reconcile(
    ctx: RunContext,
    reader: SourceReader,
    table: TableConfig,
    record: RunRecord,
    emitted: list[pa.Table] | None,
    deletions_only: bool = False,
) -> Iterator[pa.Table]:
    instance = reader.instance
    loaded = pa.concat_tables(emitted) if emitted else None
    exclude = loaded.column(table.primary_key).combine_chunks() if loaded is not None else None
    stats = BucketStats()
    for found in differences(
        reader, ctx.destination, table, instance, exclude, stats=stats, loaded=loaded
    ):
        if len(found.deleted):
            record.rows_deleted += len(found.deleted)
            yield deletions(found.deleted, table, instance, ctx.extracted_at)
        if len(found.changed) and not deletions_only:
            for batch in reader.read_rows(table, found.changed.to_pylist()):
                record.rows_extracted += batch.num_rows
                record.rows_loaded += batch.num_rows
                yield to_raw(batch, table, instance, ctx.salt, ctx.extracted_at)
        ctx.notify(instance, table.name, "reconcile", record.rows_extracted + record.rows_deleted)
    record.bad_values.extend(reader.take_issues())
    record.buckets = stats
    record.succeed()


def drop_known(batch: pa.Table, known: pa.Table, table: TableConfig) -> pa.Table:
    """Remove rows whose (key, cursor) raw already has: that exact version is loaded.

    Raw holds one row per key and instance (loads merge on it), so each row is looked up by
    key in a hash of raw's keys and kept unless raw's cursor for that key is equal: several
    times faster than a join, and the read order is kept. (Were a key in raw twice, the first
    match decides: at worst a known version is loaded again, never an unknown one dropped.)"""
    key, cursor = table.primary_key, table.cursor
    if not known.num_rows:
        return batch
    keys, cursors = batch.column(key), batch.column(cursor)
    found = pc.index_in(keys, value_set=_single_array(known.column(key), keys.type))
    theirs = pc.take(_single_array(known.column(cursor), cursors.type), found)
    same = pc.fill_null(pc.equal(cursors, theirs), False)
    if not pc.any(same).as_py():
        return batch
    return batch.filter(pc.invert(same))


def _single_array(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return array if array.type == kind else array.cast(kind)


@dataclass
class Window:
    """The lag window's versions (readers' read_window) against raw: what raw lacks."""

    rows: int = 0
    highest: dt.datetime | None = None
    unknown: list[pa.Table] = field(default_factory=list)  # (key, cursor) raw does not hold
    unknown_rows: int = 0

    def keys(self) -> pa.Array:
        """The primary keys of the unknown versions, each once."""
        if not self.unknown:
            return pa.array([], pa.int64())
        return pc.unique(pa.concat_tables(self.unknown).column(0).combine_chunks())


def unknown_versions(
    reader: SourceReader, table: TableConfig, since: dt.datetime, known: pa.Table,
    limit: int = FETCH_BY_KEY_ROWS, share: float = FETCH_BY_KEY_SHARE,
) -> Window | None:
    """Read the window's (key, cursor) versions (one statement) and keep those raw lacks; None
    when more than `limit` are unknown or more than `share` of the window (judged on what was
    read so far once that is SHARE_AFTER_ROWS: versions come in no particular order): the caller
    then reads the window in one pass."""
    window = Window()
    for batch in reader.read_window(table, since):
        window.rows += batch.num_rows
        batch_highest = max_timestamp(batch.column(table.cursor))
        if batch_highest is not None and (window.highest is None or batch_highest > window.highest):
            window.highest = batch_highest
        unseen = drop_known(batch, known, table) if known.num_rows else batch
        if unseen.num_rows:
            window.unknown.append(unseen)
            window.unknown_rows += unseen.num_rows
            if window.unknown_rows > limit or (
                window.rows >= SHARE_AFTER_ROWS and window.unknown_rows > share * window.rows
            ):
                return None
    return window if window.unknown_rows <= share * window.rows else None


def probe_unchanged(
    ctx: RunContext,
    states: Callable[[str, str], Mapping[str, Any]],
    pairs: list[tuple[str, TableConfig]],
) -> dict[tuple[str, str], list[RunRecord]]:
    """The no-change fast path (module doc): per (instance, table) with nothing to load or
    delete, the run records a run would write for it; the pairs left out may have something or
    cannot be probed (the normal run reads them, and reports any problem). `states(instance,
    table)` is the resource's dlt state; `pairs` the (instance, table) the run would read, tables
    resolved for the instance. One source connection per instance; a reader that fails leaves
    the rest of that instance to the normal run."""
    unchanged: dict[tuple[str, str], list[RunRecord]] = {}
    with ExitStack() as stack:
        readers: dict[str, SourceReader | None] = {}
        for instance, table in pairs:
            if not table.is_incremental or ctx.since is not None:
                continue
            if ctx.config is not None and ctx.config.instance(instance).kind != "database":
                continue
            state = states(instance, table.name)
            watermark = _parse(state.get("cursor"))
            raw = ctx.raw_stats.get(table.name, {}).get(instance, RawStats(0, None))
            if watermark is None or raw.rows == 0:
                continue
            if raw.highest_cursor is not None and raw.highest_cursor < watermark:
                watermark = raw.highest_cursor
            if instance not in readers:
                try:
                    readers[instance] = stack.enter_context(ctx.readers.open(instance))
                except Exception:
                    readers[instance] = None
            reader = readers[instance]
            if reader is None:
                continue
            try:
                found = _probe_table(ctx, reader, table, state, watermark, raw)
            except Exception:
                readers[instance] = None  # the connection may be unusable now
                continue
            if found is not None:
                unchanged[(instance, table.name)] = found
    return unchanged


def _probe_table(
    ctx: RunContext, reader: SourceReader, table: TableConfig, state: Mapping[str, Any],
    watermark: dt.datetime, raw: RawStats,
) -> list[RunRecord] | None:
    """One table of probe_unchanged: its incremental record (and reconciliation record when one
    is due), or None when the run would load or delete something."""
    raw_rows = raw.rows
    instance = reader.instance
    counted = {**state, "runs": state.get("runs", 0)
               + ctx.skipped_runs.get(f"{instance}__{table.name}", 0)}
    record = RunRecord(ctx.run_id, instance, table.name)
    record.cursor_from = watermark - dt.timedelta(seconds=table.lag_seconds)
    columns = reader.column_types(table)
    if columns is not None:  # check_drift raises unless every configured column is there
        probe = copy.deepcopy(dict(state))
        if check_drift(reader.engine, instance, table, columns, probe) or probe != state:
            return None  # a schema change: the run that loads reports and keeps it
    else:
        reader.check_table(table)
    # Read before the window: a write after it moves the stamp (module doc, no-change).
    stamp = reader.window_stamp(table)
    seen = None if stamp is None else [
        *stamp, raw_rows, _micros(raw.highest_cursor), _micros(record.cursor_from)]
    stamp_key = f"{instance}__{table.name}{WINDOW_STAMP}"
    if seen is None or ctx.verified_counters.get(stamp_key) != seen:
        known = ctx.destination.versions(table, instance, since=record.cursor_from).combine_chunks()
        window = unknown_versions(reader, table, record.cursor_from, known)
        if window is None or window.unknown_rows:
            # The run reads this table, starting from what was read here (None: too many).
            ctx.windows[(instance, table.name)] = (record.cursor_from, window, known)
            return None
        record.rows_extracted = window.rows
        if seen is not None:
            ctx.verified_counters[stamp_key] = seen
    records = [record]
    if _reconcile_due(ctx.reconcile, table, counted):
        recon = RunRecord(ctx.run_id, instance, table.name, is_reconciliation=True)
        resource = f"{instance}__{table.name}"
        # Read before the comparison: a write after it moves the counter (if its commit came
        # before, the comparison saw it).
        # Raw's row count beside it: rows lost from raw (by hand) are compared again.
        counter = reader.change_counter(table) if stamp is None else stamp[:3]
        counter = None if counter is None else (*counter, raw_rows)
        if counter is None or list(counter) != ctx.verified_counters.get(resource):
            recon.buckets = BucketStats()  # the same bucketed comparison as a reconciliation
            for found in differences(reader, ctx.destination, table, instance,
                                     stats=recon.buckets):
                if len(found.deleted) or len(found.changed):
                    return None
            if counter is not None:
                ctx.verified_counters[resource] = list(counter)
        recon.succeed()  # (counter unchanged since the last comparison: nothing written)
        records.append(recon)
    reader.take_issues()  # reported when these rows were loaded
    record.cursor_to = watermark
    record.succeed()
    return records


def _reconcile_due(forced: bool | None, table: TableConfig, state: MutableMapping[str, Any]) -> bool:
    if forced is not None:
        return forced
    if table.reconcile_every <= 0:
        return False
    runs_since = state.get("runs", 0) + 1 - state.get("last_reconcile_run", 0)
    return runs_since >= table.reconcile_every


def _fail(ctx: RunContext, record: RunRecord, message: str) -> None:
    record.fail(message)
    ctx.notify(record.instance_id, record.table_name, "failed", record.rows_extracted)


def _describe(exc: BaseException, instance: str, table: str) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    return f"instance {instance}, table {table}: {type(exc).__name__}: {exc}"


def _micros(value: dt.datetime | None) -> int:
    if value is None:
        return -1
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
