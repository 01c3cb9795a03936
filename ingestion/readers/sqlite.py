"""SQLite source (the embedded demo platform): sqlite3, streamed with fetchmany.

Text is fetched as bytes (`text_factory = bytes`) and decoded by arrow in C, which is both the
fast path and the only way a row with invalid UTF-8 can be read without failing the whole batch:
such values are repaired, reported, and their rows still loaded.
"""

from __future__ import annotations

import datetime as dt
import gc
import sqlite3
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote as url_quote

import pyarrow as pa

from ingestion.config import TableConfig
from ingestion.errors import (
    BadValue,
    SourceError,
    SourceSchemaMismatch,
    SourceTableMissing,
    SourceUnavailable,
)
from ingestion.readers.base import (
    IDS_PER_QUERY,
    SourceReader,
    bucket_checksum_sql,
    rechunk,
    versions_schema,
)
from ingestion.readers.convert import Report, to_arrow
from ingestion.schema import source_schema

# Rows per fetchmany: large enough to amortise the call, small enough that the Python tuples
# of one fetch (the only per-row Python objects) stay a few tens of MB.
FETCH_ROWS = 20_000


class SqliteReader(SourceReader):
    def __init__(self, instance: str, path: str | None) -> None:
        super().__init__(instance)
        if not path or path == ":memory:":
            raise SourceUnavailable(instance, None, "the SQLite URL names no database file")
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceUnavailable(
                instance, None, f"SQLite database {self.path} does not exist"
            )
        try:
            # Read-only URI: never create or write the platform's file, even by accident.
            self.conn = sqlite3.connect(
                f"file:{url_quote(str(self.path))}?mode=ro", uri=True, check_same_thread=False
            )
            self.conn.text_factory = bytes
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SourceUnavailable(
                instance, None, f"cannot open SQLite database {self.path}: {exc}"
            ) from exc

    def close(self) -> None:
        self.conn.close()

    def check_table(self, table: TableConfig) -> None:
        columns = ", ".join(quote(c.name) for c in table.source_columns)
        with self._errors(table):
            self.conn.execute(f"SELECT {columns} FROM {quote(table.name)} LIMIT 0").fetchall()

    def read_changes(self, table: TableConfig, since: dt.datetime | None) -> Iterator[pa.Table]:
        sql = f"SELECT {_select_list(table)} FROM {quote(table.name)}"
        params: tuple[str, ...] = ()
        if since is not None and table.cursor is not None and table.primary_key is not None:
            # A full read needs no order (nothing is resumed from its middle), and sorting a
            # whole table in SQLite costs more than reading it.
            sql += (
                f" WHERE {quote(table.cursor)} >= ?"
                f" ORDER BY {quote(table.cursor)}, {quote(table.primary_key)}"
            )
            params = (sqlite_timestamp(since, table.time_zone),)
        yield from rechunk(self._query(table, sql, params), table.chunk_rows)

    def read_window(self, table: TableConfig, since: dt.datetime) -> Iterator[pa.Table]:
        key, cursor = quote(table.primary_key), quote(table.cursor)
        sql = f"SELECT {key}, {cursor} FROM {quote(table.name)} WHERE {cursor} >= ?"
        params = (sqlite_timestamp(since, table.time_zone),)
        yield from rechunk(self._query(table, sql, params, versions_schema(table)), table.chunk_rows)

    def read_rows(self, table: TableConfig, ids: Sequence[int]) -> Iterator[pa.Table]:
        columns = _select_list(table)

        def batches() -> Iterator[pa.Table]:
            for start in range(0, len(ids), IDS_PER_QUERY):
                part = [int(i) for i in ids[start : start + IDS_PER_QUERY]]
                sql = (
                    f"SELECT {columns} FROM {quote(table.name)}"
                    f" WHERE {quote(table.primary_key)} IN ({', '.join('?' * len(part))})"
                )
                yield from self._query(table, sql, tuple(part))

        yield from rechunk(batches(), table.chunk_rows)

    def read_versions(self, table: TableConfig, low: int | None, high: int | None) -> pa.Table:
        key, cursor = quote(table.primary_key), quote(table.cursor)
        where, params = _key_range(key, low, high)
        sql = f"SELECT {key}, {cursor} FROM {quote(table.name)}{where}"
        schema = versions_schema(table)
        batches = list(self._query(table, sql, params, schema))
        return pa.concat_tables(batches) if batches else schema.empty_table()

    engine = "sqlite"

    def column_types(self, table: TableConfig) -> dict[str, str]:
        with self._errors(table):
            rows = self.conn.execute(f"PRAGMA table_info({quote(table.name)})").fetchall()
        if not rows:
            raise SourceTableMissing(
                self.instance, table.name, f"table does not exist in {self.path}"
            )
        return {_decoded(row[1]): _decoded(row[2]) for row in rows}

    def bucket_checksums(
        self, table: TableConfig, width: int
    ) -> dict[int, tuple[int, int]] | None:
        if table.time_zone != "UTC":
            # strftime('%s') reads zone-less text as UTC; SQLite cannot apply another zone's
            # rules, so this table is compared key by key instead.
            return None
        key, cursor = quote(table.primary_key), quote(table.cursor)
        # unixepoch() (SQLite 3.38+) is twice as fast as strftime('%s'); both whole seconds.
        seconds = (
            f"unixepoch({cursor})" if sqlite3.sqlite_version_info >= (3, 38)
            else f"CAST(strftime('%s', {cursor}) AS INTEGER)"
        )
        sql = bucket_checksum_sql(
            key=key, seconds=seconds,
            table=quote(table.name), width=width, divide="/",
        )
        with self._errors(table):
            rows = self.conn.execute(sql).fetchall()
        return {int(b): (int(c), int(h)) for b, c, h in rows}

    def key_bounds(self, table: TableConfig) -> tuple[int, int, int] | None:
        key = quote(table.primary_key)
        with self._errors(table):
            low, high, count = self.conn.execute(
                f"SELECT min({key}), max({key}), count(*) FROM {quote(table.name)}"
            ).fetchone()
        return None if count == 0 else (int(low), int(high), int(count))

    def _query(
        self,
        table: TableConfig,
        sql: str,
        params: tuple[object, ...],
        schema: pa.Schema | None = None,
    ) -> Iterator[pa.Table]:
        schema = schema or source_schema(table)
        types = [_config_type(table, field.name) for field in schema]
        key_index = schema.names.index(table.primary_key) if table.has_key else None

        def keys(columns: list[tuple[object, ...]]) -> Sequence[object]:
            # Bad values are reported by key; a table without one by row number in the read.
            return columns[key_index] if key_index is not None else _RowNumbers()

        fetch_rows = min(FETCH_ROWS, table.chunk_rows)
        with self._errors(table):
            cursor = self.conn.execute(sql, params)
            try:
                while True:
                    with _gc_paused():
                        rows = cursor.fetchmany(fetch_rows)
                        if not rows:
                            return
                        columns = list(zip(*rows, strict=True))
                        del rows
                        arrays = [
                            to_arrow(
                                values, kind, self._reporter(table, name, keys(columns)),
                                table.time_zone,
                            )
                            for values, kind, name in zip(columns, types, schema.names, strict=True)
                        ]
                    yield pa.Table.from_arrays(arrays, schema=schema)
            finally:
                cursor.close()

    def _reporter(self, table: TableConfig, column: str, keys: Sequence[object]) -> Report:
        def report(index: int, reason: str) -> None:
            self.issues.append(BadValue(self.instance, table.name, keys[index], column, reason))

        return report

    @contextmanager
    def _errors(self, table: TableConfig) -> Iterator[None]:
        """Translate sqlite3 errors into errors that name the instance, table and cause."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if message.startswith("no such table"):
                raise SourceTableMissing(
                    self.instance, table.name, f"table does not exist in {self.path}"
                ) from exc
            if message.startswith("no such column"):
                raise SourceSchemaMismatch(
                    self.instance, table.name, f"{message} (configured in tables.yml)"
                ) from exc
            raise SourceError(self.instance, table.name, f"SQLite error: {message}") from exc
        except sqlite3.DatabaseError as exc:
            raise SourceError(self.instance, table.name, f"SQLite error: {exc}") from exc


def quote(identifier: str) -> str:
    """Quote an identifier for SQLite with grave accents, never double quotes: SQLite reads a
    double-quoted name that matches no column as a string literal, so a column missing from the
    source would silently load its own name as every value."""
    return "`" + identifier.replace("`", "``") + "`"


def sqlite_timestamp(value: dt.datetime, time_zone: str = "UTC") -> str:
    """The platform's text form of an instant (wall-clock time in `time_zone`, the zone its
    zone-less text is in), for comparisons in SQL.

    Microseconds are written only when non-zero: '...:00' sorts before both '...:00' and
    '...:00.000000', so rows stored either way at exactly the bound are included."""
    value = value.astimezone(zoneinfo.ZoneInfo(time_zone))
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def _select_list(table: TableConfig) -> str:
    # Decimals are read as SQLite's text of the stored value (exact for text and integers, the
    # shortest round-trip form for a REAL) and parsed into decimal128 without a float.
    return ", ".join(
        f"CAST({quote(c.name)} AS TEXT)" if c.family == "decimal" else quote(c.name)
        for c in table.source_columns
    )


class _RowNumbers:
    """Stands in for the key column of a table without a primary key: reports name the row."""

    def __getitem__(self, index: int) -> str:
        return f"row {index + 1} of its batch"


def _key_range(key: str, low: int | None, high: int | None) -> tuple[str, tuple[int, ...]]:
    clauses, params = [], []
    if low is not None:
        clauses.append(f"{key} >= ?")
        params.append(low)
    if high is not None:
        clauses.append(f"{key} < ?")
        params.append(high)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _decoded(value: object) -> str:
    # The connection returns text as bytes (text_factory); names and types are plain ASCII.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _config_type(table: TableConfig, name: str) -> str:
    return table.column(name).type


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A fetch allocates ~100k tuples at once; the cyclic GC would scan them repeatedly while
    # none can be part of a cycle. Pausing it around the conversion is a large, safe speed-up.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
