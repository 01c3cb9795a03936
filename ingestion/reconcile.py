"""Find what incremental reads cannot see, by comparing the source with raw key by key.

An incremental read only sees rows whose cursor moved forward. Two things escape it:
- hard deletes (erased contacts, items removed from a cart): the row is simply gone;
- late commits older than the lag window: the row changed but its cursor is behind the window.
Reconciliation reads (primary key, cursor) from both sides in key ranges of bounded size and
returns the keys gone from the source (to delete) and the keys whose cursor differs or that raw
lacks (to re-read in full). Both sides are plain two-column scans; memory stays bounded by the
range size whatever the table size.

Cheap enough to run every run: keys are first grouped into buckets (key / width, about
BUCKET_ROWS keys each) and each database computes, per bucket, a row count and an
order-independent checksum of (key, cursor seconds) itself (readers.base.bucket_checksum_sql).
Only the key ranges of buckets whose numbers differ are read and compared key by key, so a run
after a few changes moves a few small result sets instead of every key. A source that cannot
compute the checksum (SQLite with a non-UTC source_time_zone) is compared range by range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.config import TableConfig
from ingestion.destination import DestinationView
from ingestion.readers.base import SourceReader

# Keys compared per range: two int64+timestamp columns of this many rows per side (~32 MB),
# and few enough ranges that a destination without an index on the key scans raw a few times.
RANGE_ROWS = 1_000_000
# Keys per checksum bucket: small enough that a changed bucket costs little to compare, large
# enough that the bucket list of a 100M-row table (5,000 rows per side) is cheap to move.
BUCKET_ROWS = 20_000
# Rows loaded by the incremental pass that are taken out of the bucket numbers (their raw
# versions are read by key); beyond this a catch-up run simply compares those buckets.
MAX_ADJUSTED_ROWS = 200_000
_PRESENT = "_tw_present"
_RAW_SUFFIX = "_tw_raw"


@dataclass(frozen=True)
class Differences:
    deleted: pa.Array
    """Keys in raw that the source no longer has."""
    changed: pa.Array
    """Keys the source has with another cursor than raw, or that raw lacks."""


def key_ranges(bounds: tuple[int, int, int] | None, range_rows: int = RANGE_ROWS) -> list[
    tuple[int | None, int | None]
]:
    """Half-open key ranges covering every possible key: the first and last are open-ended so
    raw keys outside the source's current bounds are compared too."""
    if bounds is None:
        return [(None, None)]
    low, high, count = bounds
    parts = max(1, math.ceil(count / range_rows))
    width = max(1, math.ceil((high - low + 1) / parts))
    edges = [low + width * i for i in range(1, parts)]
    starts: list[int | None] = [None, *edges]
    ends: list[int | None] = [*edges, None]
    return list(zip(starts, ends, strict=True))


def compare(
    source: pa.Table, raw: pa.Table, table: TableConfig, exclude: pa.Array | None = None
) -> Differences:
    """Diff two (key, cursor) tables of the same key range. `exclude` holds keys already
    emitted in this run, which must not be emitted twice into the same load."""
    key, cursor = table.primary_key, table.cursor
    deleted = raw.column(key).filter(pc.invert(pc.is_in(raw.column(key), source.column(key))))

    marked = raw.append_column(_PRESENT, pa.repeat(pa.scalar(True), raw.num_rows))
    joined = source.join(marked, keys=key, join_type="left outer", right_suffix=_RAW_SUFFIX)
    ours, theirs = joined.column(cursor), joined.column(cursor + _RAW_SUFFIX)
    present = pc.fill_null(joined.column(_PRESENT), False)
    same_cursor = pc.fill_null(
        pc.or_kleene(pc.equal(ours, theirs), pc.and_(pc.is_null(ours), pc.is_null(theirs))), False
    )
    changed = joined.column(key).filter(pc.invert(pc.and_(present, same_cursor)))

    deleted, changed = _unique(deleted), _unique(changed)
    if exclude is not None and len(exclude):
        deleted = deleted.filter(pc.invert(pc.is_in(deleted, exclude)))
        changed = changed.filter(pc.invert(pc.is_in(changed, exclude)))
    return Differences(deleted=deleted, changed=changed)


@dataclass
class BucketStats:
    """What a reconciliation compared: buckets in total and those whose numbers differed (None
    when the source could not compute checksums and every range was compared)."""

    buckets: int | None = None
    differing: int | None = None
    ranges: int = 0


def bucket_width(bounds: tuple[int, int, int] | None, bucket_rows: int = BUCKET_ROWS) -> int:
    if bounds is None:
        return 1
    low, high, count = bounds
    return max(1, math.ceil((high - low + 1) * bucket_rows / max(count, 1)))


def bucket_range(bucket: int, width: int) -> tuple[int, int]:
    """Half-open key range [low, high) of a bucket; division truncates toward zero in every
    engine, so bucket 0 holds the keys of (-width, width)."""
    if bucket > 0:
        return bucket * width, (bucket + 1) * width
    if bucket == 0:
        return -width + 1, width
    return (bucket - 1) * width + 1, bucket * width + 1


def differing_ranges(
    source: dict[int, tuple[int, int]],
    raw: dict[int, tuple[int, int]],
    width: int,
    max_buckets: int,
) -> list[tuple[int | None, int | None]]:
    """Key ranges covering the buckets whose (count, checksum) differ, neighbours merged (at
    most `max_buckets` per range)."""
    differing = sorted(b for b in set(source) | set(raw) if source.get(b) != raw.get(b))
    ranges: list[tuple[int | None, int | None]] = []
    run_start: int | None = None
    previous: int | None = None
    run_length = 0
    for bucket in differing:
        if previous is not None and bucket == previous + 1 and run_length < max_buckets:
            run_length += 1
        else:
            if run_start is not None and previous is not None:
                ranges.append((bucket_range(run_start, width)[0], bucket_range(previous, width)[1]))
            run_start, run_length = bucket, 1
        previous = bucket
    if run_start is not None and previous is not None:
        ranges.append((bucket_range(run_start, width)[0], bucket_range(previous, width)[1]))
    return ranges


def checksums(versions: pa.Table, table: TableConfig, width: int) -> dict[int, tuple[int, int]]:
    """readers.base.bucket_checksum_sql computed in Python over (key, cursor) rows."""
    if versions.num_rows == 0:
        return {}
    keys = versions.column(table.primary_key).to_numpy(zero_copy_only=False).astype(np.int64)
    micros = pc.fill_null(
        versions.column(table.cursor).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), 0
    ).to_numpy(zero_copy_only=False)
    seconds = np.floor_divide(micros, 1_000_000)
    # Truncating division and remainder (sign of the dividend), as every engine computes them.
    buckets = np.sign(keys) * (np.abs(keys) // width)
    rows = np.fmod(np.fmod(keys, 1000003) * 2654435 + np.fmod(seconds, 1000000007) * 31,
                   2147483647)
    out: dict[int, tuple[int, int]] = {}
    for bucket, row in zip(buckets.tolist(), rows.tolist(), strict=True):
        count, total = out.get(bucket, (0, 0))
        out[bucket] = (count + 1, total + row)
    return out


def _without(
    sums: dict[int, tuple[int, int]], rows: dict[int, tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    adjusted = dict(sums)
    for bucket, (count, total) in rows.items():
        have_count, have_total = adjusted.get(bucket, (0, 0))
        adjusted[bucket] = (have_count - count, have_total - total)
        if adjusted[bucket] == (0, 0):
            del adjusted[bucket]
    return adjusted


def differences(
    reader: SourceReader,
    destination: DestinationView,
    table: TableConfig,
    instance: str,
    exclude: pa.Array | None = None,
    range_rows: int = RANGE_ROWS,
    stats: BucketStats | None = None,
    bucket_rows: int | None = None,
    loaded: pa.Table | None = None,
) -> Iterator[Differences]:
    """Differences range by range (each range read from both sides, then released), reading
    only the ranges of buckets whose count or checksum differ.

    `loaded`: (key, cursor) of the rows this run's incremental pass loads (not in raw until the
    load). Their buckets would differ on every run that changed anything; instead they are
    taken out of both sides' numbers (the source's new versions, raw's old ones, read for those
    keys only), so a bucket differs only for what the incremental pass cannot see."""
    stats = stats if stats is not None else BucketStats()
    bucket_rows = bucket_rows or BUCKET_ROWS
    bounds = reader.key_bounds(table)
    ranges = key_ranges(bounds, range_rows)
    if bounds is not None:
        width = bucket_width(bounds, bucket_rows)
        source = reader.bucket_checksums(table, width)
        if source is not None:
            raw = destination.bucket_checksums(table, instance, width)
            if loaded is not None and 0 < loaded.num_rows <= MAX_ADJUSTED_ROWS:
                keys = pc.unique(loaded.column(table.primary_key).combine_chunks())
                if len(keys) == loaded.num_rows:
                    old = destination.versions_of(table, instance, keys)
                    source = _without(source, checksums(loaded, table, width))
                    raw = _without(raw, checksums(old, table, width))
            ranges = differing_ranges(source, raw, width, max(1, range_rows // bucket_rows))
            stats.buckets = len(set(source) | set(raw))
            stats.differing = sum(
                1 for b in set(source) | set(raw) if source.get(b) != raw.get(b)
            )
    stats.ranges = len(ranges)
    for low, high in ranges:
        source = reader.read_versions(table, low, high)
        raw = destination.versions(table, instance, low=low, high=high)
        found = compare(source, raw, table, exclude)
        if len(found.deleted) or len(found.changed):
            yield found


def _unique(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.unique(values)
