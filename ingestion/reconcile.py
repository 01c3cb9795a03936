"""Find what incremental reads cannot see, by comparing the source with raw key by key.

An incremental read only sees rows whose cursor moved forward. Two things escape it:
- hard deletes (erased contacts, items removed from a cart): the row is simply gone;
- late commits older than the lag window: the row changed but its cursor is behind the window.
Reconciliation reads (primary key, cursor) from both sides in key ranges of bounded size and
returns the keys gone from the source (to delete) and the keys whose cursor differs or that raw
lacks (to re-read in full). Both sides are plain two-column scans; memory stays bounded by the
range size whatever the table size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.config import TableConfig
from ingestion.destination import DestinationView
from ingestion.readers.base import SourceReader

# Keys compared per range: two int64+timestamp columns of this many rows per side (~32 MB),
# and few enough ranges that a destination without an index on the key scans raw a few times.
RANGE_ROWS = 1_000_000
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


def differences(
    reader: SourceReader,
    destination: DestinationView,
    table: TableConfig,
    instance: str,
    exclude: pa.Array | None = None,
    range_rows: int = RANGE_ROWS,
) -> Iterator[Differences]:
    """Differences range by range (each range read from both sides, then released)."""
    for low, high in key_ranges(reader.key_bounds(table), range_rows):
        source = reader.read_versions(table, low, high)
        raw = destination.versions(table, instance, low=low, high=high)
        found = compare(source, raw, table, exclude)
        if len(found.deleted) or len(found.changed):
            yield found


def _unique(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.unique(values)
