"""What every source reader offers the extraction code."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType

import pyarrow as pa

from ingestion.config import TableConfig
from ingestion.errors import BadValue
from ingestion.schema import ARROW_TYPES

# Ids per `IN (...)` query when re-reading rows by key (reconciliation); well under SQLite's
# bound-parameter limit and short enough for a PostgreSQL statement.
IDS_PER_QUERY = 5_000


def quote(identifier: str) -> str:
    """Quote an identifier. Config validation already restricts names to [a-z0-9_]."""
    return '"' + identifier.replace('"', '""') + '"'


def versions_schema(table: TableConfig) -> pa.Schema:
    if table.primary_key is None or table.cursor is None:
        raise ValueError(f"table {table.name} has no (primary key, cursor) versions")
    return pa.schema(
        [
            pa.field(table.primary_key, pa.int64()),
            pa.field(table.cursor, ARROW_TYPES["timestamp"]),
        ]
    )


def _percent(left: str, right: str) -> str:
    return f"({left}) % {right}"


def bucket_checksum_sql(
    *,
    key: str,
    seconds: str,
    table: str,
    width: int,
    divide: str,
    where: str = "",
    mod: Callable[[str, str], str] = _percent,
) -> str:
    """`SELECT bucket, count(*), checksum ... GROUP BY bucket` over (key, cursor) rows.

    The one definition of the reconciliation checksum, so that every engine (source SQLite,
    PostgreSQL; warehouse DuckDB, PostgreSQL, BigQuery) computes the same numbers: bucket =
    key / width (integer division truncating toward zero: `divide` is `/`, `//` or `DIV`);
    checksum = sum over the bucket's rows of ((key mod 1000003) * 2654435 + (cursor epoch
    seconds mod 1000000007) * 31) mod 2147483647, an order-independent sum that fits 64 bits in
    every engine. A changed cursor (by a whole second or more) changes the sum; a deleted or
    added key changes the count. Buckets that agree are skipped; only keys of buckets that
    differ are fetched and compared exactly (microseconds included)."""
    bucket = f"DIV({key}, {width})" if divide == "DIV" else f"({key}) {divide} {width}"
    row = mod(
        f"{mod(key, '1000003')} * 2654435 + {mod(f'coalesce({seconds}, 0)', '1000000007')} * 31",
        "2147483647",
    )
    return f"SELECT {bucket} AS bucket, count(*) AS row_count, sum({row}) AS checksum FROM {table}{where} GROUP BY 1"


class SourceReader(ABC):
    """Reads one instance's application database. Batches come in the table's source schema
    (`ingestion.schema.source_schema`); values that cannot be read are kept as null or repaired
    and listed in `issues`."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.issues: list[BadValue] = []

    @abstractmethod
    def check_table(self, table: TableConfig) -> None:
        """Raise SourceTableMissing / SourceSchemaMismatch if the table cannot be read."""

    @abstractmethod
    def read_changes(self, table: TableConfig, since: dt.datetime | None) -> Iterator[pa.Table]:
        """Rows with cursor >= since (all rows when since is None), in chunks of about
        `table.chunk_rows`. Incremental reads are ordered by (cursor, primary key)."""

    @abstractmethod
    def read_rows(self, table: TableConfig, ids: Sequence[int]) -> Iterator[pa.Table]:
        """Current rows for the given primary keys (missing keys are simply absent)."""

    @abstractmethod
    def read_versions(self, table: TableConfig, low: int | None, high: int | None) -> pa.Table:
        """(primary key, cursor) of rows with low <= key < high (open bound when None)."""

    @abstractmethod
    def read_window(self, table: TableConfig, since: dt.datetime) -> Iterator[pa.Table]:
        """(primary key, cursor) of the rows `read_changes(table, since)` returns (the same
        `cursor >= since` predicate, one statement), in chunks, in no particular order: the
        versions of the lag window, read without the other columns (ingestion/extract.py)."""

    @abstractmethod
    def key_bounds(self, table: TableConfig) -> tuple[int, int, int] | None:
        """(min key, max key, row count), or None for an empty table."""

    @abstractmethod
    def close(self) -> None: ...

    # The source engine ("sqlite", "postgresql"): how declared column types are interpreted
    # (ingestion/drift.py).
    engine: str = ""

    def bucket_checksums(
        self, table: TableConfig, width: int
    ) -> dict[int, tuple[int, int]] | None:
        """bucket -> (row count, checksum) of the table's (key, cursor) rows, computed in the
        source (base.bucket_checksum_sql). None: this reader cannot, and reconciliation
        compares every key range instead."""
        return None

    def change_counter(self, table: TableConfig) -> tuple[int, ...] | None:
        """Cumulative counts of the rows the source database ever inserted, updated and deleted
        in the table (its own statistics, eventually complete), or None when this reader cannot
        tell. Unchanged since a moment the table was compared whole: nothing was written to it
        since, so a due reconciliation has nothing to find (ingestion/extract.py, no-change)."""
        return None

    def window_stamp(self, table: TableConfig) -> tuple[int, ...] | None:
        """What moves when a row is written to the table, or None when this reader cannot tell:
        change_counter's values first, then what resets them and the newest cursor (which a
        commit stamped with its own time moves at once, before the counter's statistics arrive). Unchanged
        since the lag window was found in raw: no version raw lacks can have appeared in it
        (ingestion/extract.py, no-change)."""
        return None

    def column_types(self, table: TableConfig) -> dict[str, str] | None:
        """Declared type of every column of the source table, in table order (None: this reader
        cannot tell, and schema drift is not checked). Raises SourceTableMissing."""
        return None

    def take_issues(self) -> list[BadValue]:
        issues, self.issues = self.issues, []
        return issues

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def rechunk(batches: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Combine small batches into tables of about `rows` rows (zero-copy concatenation), so
    dlt sees few, large items whatever the fetch size of the driver."""
    pending: list[pa.Table] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.concat_tables(pending)
            pending, count = [], 0
    if pending:
        yield pa.concat_tables(pending)
