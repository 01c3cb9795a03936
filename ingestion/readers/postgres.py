"""PostgreSQL source: `COPY (SELECT ...) TO STDOUT (FORMAT csv)` streamed into pyarrow's CSV reader.

A fetch through a DB-API cursor builds a Python object per value; COPY hands over bytes that
arrow parses in C++ threads, so extraction runs at the speed of COPY itself. The COPY runs in a
thread that writes into a pipe; arrow reads the other end block by block, so memory stays
bounded by the block size and the chunk size whatever the table size.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg2
import psycopg2.errors
import pyarrow as pa
import pyarrow.csv as pcsv
from sqlalchemy.engine import URL

from ingestion.config import ColumnConfig, TableConfig
from ingestion.errors import (
    SourceError,
    SourceSchemaMismatch,
    SourceTableMissing,
    SourceUnavailable,
)
from ingestion.readers.base import (
    IDS_PER_QUERY,
    SourceReader,
    bucket_checksum_sql,
    quote,
    rechunk,
    versions_schema,
)
from ingestion.readers.convert import hex_to_binary
from ingestion.schema import source_schema

CSV_BLOCK_BYTES = 4 << 20
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl; a bigger pipe means fewer wake-ups between the two threads
CONNECT_TIMEOUT_SECONDS = 10
# Whether pg_stat_user_tables' write counters follow the table's writes: track_counts on, and
# not a standby (a hot standby's counters do not count the writes it replays from the primary,
# so a hard delete there would never move them).
COUNTERS_MOVE = "current_setting('track_counts') = 'on' AND NOT pg_is_in_recovery()"

# Casts in the SELECT list make COPY's text output match what arrow parses for each type.
# A `timestamp without time zone` (or `timestamp(0)`) column is read `AT TIME ZONE` the table's
# source_time_zone, which yields the instant; decimals as `numeric` text, parsed exactly into
# decimal128(P,S) (a value with more digits than the scale fails the read instead of being
# rounded); json/jsonb as their text, arrays through to_json (JSON arrays, never PostgreSQL's
# `{a,b}` literal); bytea as hex, turned back into bytes before it is hashed.
_SELECT_CASTS = {
    "bigint": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "text": "text",
    "timestamp": "timestamptz",
    "date": "date",
    "decimal": "numeric",
    "json": "text",
}
NAIVE_TIMESTAMP = "timestamp without time zone"


class PostgresReader(SourceReader):
    def __init__(self, instance: str, url: URL) -> None:
        super().__init__(instance)
        self.safe_url = url.render_as_string(hide_password=True)
        params: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
            "dbname": url.database,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": "tenant_warehouse_ingestion",
        }
        params.update({k: v for k, v in url.query.items() if isinstance(v, str)})
        self._declared: dict[str, dict[str, str]] = {}
        try:
            self.conn = psycopg2.connect(**{k: v for k, v in params.items() if v is not None})
            # Read-only and autocommit: each COPY is one statement with its own snapshot, and a
            # read replica accepts nothing else anyway.
            self.conn.set_session(readonly=True, autocommit=True)
            with self.conn.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")
        except psycopg2.Error as exc:
            raise SourceUnavailable(
                instance, None, f"cannot connect to PostgreSQL {self.safe_url}: {_first_line(exc)}"
            ) from exc

    def close(self) -> None:
        self.conn.close()

    def check_table(self, table: TableConfig) -> None:
        columns = ", ".join(quote(c.name) for c in table.source_columns)
        self._execute(table, f"SELECT {columns} FROM {quote(table.name)} LIMIT 0")

    def read_changes(self, table: TableConfig, since: dt.datetime | None) -> Iterator[pa.Table]:
        sql = f"SELECT {self._select_list(table)} FROM {quote(table.name)}"
        if since is not None and table.cursor is not None and table.primary_key is not None:
            # Only incremental windows are ordered: sorting a whole table on the server would
            # cost more than the copy, and a full read is never resumed from its middle.
            sql += (
                f" WHERE {self._since(table, since)}"
                f" ORDER BY {quote(table.cursor)}, {quote(table.primary_key)}"
            )
        yield from rechunk(self._copy(table, sql, source_schema(table)), table.chunk_rows)

    def read_window(self, table: TableConfig, since: dt.datetime) -> Iterator[pa.Table]:
        sql = (
            f"SELECT {quote(table.primary_key)}::bigint, {self._instant(table, table.cursor)}"
            f" FROM {quote(table.name)} WHERE {self._since(table, since)}"
        )
        yield from rechunk(self._copy(table, sql, versions_schema(table)), table.chunk_rows)

    def _since(self, table: TableConfig, since: dt.datetime) -> str:
        """`cursor >= since`. A zone-less cursor is compared with the bound turned into its
        wall-clock time, so an index on the column still serves the filter."""
        bound = _timestamp_literal(since)
        if self._is_naive(table, table.cursor or ""):
            bound = f"({bound} AT TIME ZONE {_literal(table.time_zone)})"
        return f"{quote(table.cursor or '')} >= {bound}"

    def read_rows(self, table: TableConfig, ids: Sequence[int]) -> Iterator[pa.Table]:
        def batches() -> Iterator[pa.Table]:
            for start in range(0, len(ids), IDS_PER_QUERY):
                literal = ",".join(str(int(i)) for i in ids[start : start + IDS_PER_QUERY])
                sql = (
                    f"SELECT {self._select_list(table)} FROM {quote(table.name)}"
                    f" WHERE {quote(table.primary_key)} = ANY('{{{literal}}}'::bigint[])"
                )
                yield from self._copy(table, sql, source_schema(table))

        yield from rechunk(batches(), table.chunk_rows)

    def read_versions(self, table: TableConfig, low: int | None, high: int | None) -> pa.Table:
        key = quote(table.primary_key)
        clauses = []
        if low is not None:
            clauses.append(f"{key} >= {int(low)}")
        if high is not None:
            clauses.append(f"{key} < {int(high)}")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = (
            f"SELECT {key}::bigint, {self._instant(table, table.cursor)}"
            f" FROM {quote(table.name)}{where}"
        )
        schema = versions_schema(table)
        batches = list(self._copy(table, sql, schema))
        return pa.concat_tables(batches) if batches else schema.empty_table()

    def bucket_checksums(self, table: TableConfig, width: int) -> dict[int, tuple[int, int]]:
        # date_part (double) is ~40% faster than extract (numeric) over a whole table and exact
        # to the second for microsecond timestamps before 2100; a zone-less UTC cursor needs no
        # AT TIME ZONE (date_part reads it as UTC), which saves as much again.
        cursor = table.cursor or ""
        instant = (
            quote(cursor) if self._is_naive(table, cursor) and table.time_zone == "UTC"
            else self._instant(table, cursor)
        )
        sql = bucket_checksum_sql(
            key=f"{quote(table.primary_key)}::bigint",
            seconds=f"floor(date_part('epoch', {instant}))::bigint",
            table=quote(table.name), width=width, divide="/",
        )
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall()
        except psycopg2.Error as exc:
            raise self._translate(table, exc) from exc
        return {int(b): (int(c), int(h)) for b, c, h in rows}

    engine = "postgresql"

    def _declared_types(self, table: TableConfig) -> dict[str, str]:
        return self.column_types(table)

    def _is_naive(self, table: TableConfig, column: str) -> bool:
        return self._declared_types(table).get(column) == NAIVE_TIMESTAMP

    def _instant(self, table: TableConfig, column: str) -> str:
        """A timestamp column as timestamptz: zone-less ones read in the source time zone."""
        if self._is_naive(table, column):
            return f"({quote(column)} AT TIME ZONE {_literal(table.time_zone)})"
        return f"{quote(column)}::timestamptz"

    def _select_list(self, table: TableConfig) -> str:
        return ", ".join(self._select(table, c) for c in table.source_columns)

    def _select(self, table: TableConfig, column: ColumnConfig) -> str:
        name = quote(column.name)
        declared = self._declared_types(table).get(column.name, "")
        if column.type == "timestamp":
            return self._instant(table, column.name)
        if column.type == "json" and declared == "ARRAY":
            return f"to_json({name})::text"
        if column.type == "bytes":
            return f"encode({name}::bytea, 'hex')"
        return f"{name}::{_SELECT_CASTS[column.family]}"

    def column_types(self, table: TableConfig) -> dict[str, str]:
        # Every table of the schema in one query, the first time a table is asked for (or is
        # not among those read): a run asks for each of its tables on one connection.
        if table.name not in self._declared:
            self._declared = self._schema_columns(table)
        declared = self._declared.get(table.name)
        if not declared:
            raise SourceTableMissing(
                self.instance, table.name, f"table does not exist in {self.safe_url}"
            )
        return declared

    def _schema_columns(self, table: TableConfig) -> dict[str, dict[str, str]]:
        try:
            with self.conn.cursor() as cursor:
                # numeric with its precision and scale: drift checks that a configured
                # decimal(P,S) holds every value the column can (ingestion/drift.py).
                cursor.execute(
                    "SELECT table_name, column_name, CASE WHEN data_type = 'numeric' AND "
                    "numeric_precision IS NOT NULL THEN 'numeric(' || numeric_precision || ',' "
                    "|| numeric_scale || ')' ELSE data_type END FROM information_schema.columns "
                    "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
                )
                rows = cursor.fetchall()
        except psycopg2.Error as exc:
            raise self._translate(table, exc) from exc
        tables: dict[str, dict[str, str]] = {}
        for name, column, kind in rows:
            tables.setdefault(str(name), {})[str(column)] = str(kind)
        return tables

    def change_counter(self, table: TableConfig) -> tuple[int, ...] | None:
        # pg_stat counters count every row written (aborted ones too: only ever more); a backend
        # reports them within seconds of its commit. Without track_counts they never move, and
        # on a standby they do not count the writes it replays: no counter there (None).
        row = self._execute(
            table,
            f"SELECT {COUNTERS_MOVE}, n_tup_ins, n_tup_upd, n_tup_del "
            f"FROM pg_stat_user_tables WHERE relid = to_regclass({_literal(quote(table.name))})",
        )
        if not row or not row[0] or None in row[1:]:
            return None
        return tuple(int(value) for value in row[1:])

    def window_stamp(self, table: TableConfig) -> tuple[int, ...] | None:
        # max() of the bare column, which its index answers at once (compared, never read as an
        # instant); the server's start, as a crash resets the counters.
        cursor = quote(table.cursor or "")
        row = self._execute(
            table,
            f"SELECT {COUNTERS_MOVE}, n_tup_ins, n_tup_upd, n_tup_del, "
            "floor(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint, "
            f"coalesce((SELECT floor(extract(epoch FROM max({cursor})) * 1000000)::bigint "
            f"FROM {quote(table.name)}), -1) FROM pg_stat_user_tables "
            f"WHERE relid = to_regclass({_literal(quote(table.name))})",
        )
        if not row or not row[0] or None in row[1:]:
            return None
        return tuple(int(value) for value in row[1:])

    def key_bounds(self, table: TableConfig) -> tuple[int, int, int] | None:
        key = quote(table.primary_key or "")
        row = self._execute(table, f"SELECT min({key}), max({key}), count(*) FROM {quote(table.name)}")
        low, high, count = row
        return None if count == 0 else (int(low), int(high), int(count))

    def _execute(self, table: TableConfig, sql: str) -> Any:
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone() if cursor.description else None
        except psycopg2.Error as exc:
            raise self._translate(table, exc) from exc

    def _copy(self, table: TableConfig, select_sql: str, schema: pa.Schema) -> Iterator[pa.Table]:
        copy_sql = f"COPY ({select_sql}) TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)"
        read_fd, write_fd = os.pipe()
        # Not Linux, or above the system limit: the default pipe size only costs speed.
        with contextlib.suppress(OSError):
            fcntl.fcntl(write_fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        failures: list[BaseException] = []

        def produce() -> None:
            try:
                with open(write_fd, "wb", buffering=_PIPE_BYTES) as sink, self.conn.cursor() as cur:
                    cur.copy_expert(copy_sql, sink)
            except BaseException as exc:  # re-raised in the reading thread
                failures.append(exc)

        producer = threading.Thread(target=produce, name=f"copy-{self.instance}-{table.name}")
        producer.daemon = True
        producer.start()
        source = open(read_fd, "rb")  # noqa: SIM115 - closed in finally, maybe early
        finished = False
        binary = [i for i, f in enumerate(schema) if pa.types.is_binary(f.type)]
        parsed_schema = schema
        for index in binary:  # read as the hex text `encode(col, 'hex')` gives
            parsed_schema = parsed_schema.set(index, schema.field(index).with_type(pa.string()))
        try:
            for batch in self._parse(source, parsed_schema):
                part = pa.Table.from_batches([batch])
                for index in binary:
                    part = part.set_column(
                        index, schema.field(index), hex_to_binary(part.column(index).combine_chunks())
                    )
                yield part
            finished = True
        except pa.ArrowException as exc:
            producer.join()
            if failures:
                raise self._translate(table, failures[0]) from failures[0]
            raise SourceSchemaMismatch(
                self.instance, table.name, _conversion_error(str(exc), schema, table)
            ) from exc
        finally:
            if not finished and producer.is_alive():
                # Stopped early (error or generator closed): stop the server side, then let the
                # producer fail on the closed pipe.
                self.conn.cancel()
            source.close()
            producer.join()
        if failures:
            raise self._translate(table, failures[0]) from failures[0]

    @staticmethod
    def _parse(source: Any, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        try:
            reader = pcsv.open_csv(
                source,
                read_options=pcsv.ReadOptions(column_names=schema.names, block_size=CSV_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    column_types={f.name: f.type for f in schema},
                    # With FORCE_QUOTE *, only NULL is an unquoted empty field: "" stays ''
                    # and strings such as NA or NULL stay strings.
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return  # the query returned no rows
            raise
        yield from reader

    def _translate(self, table: TableConfig, exc: BaseException) -> SourceError:
        if isinstance(exc, SourceError):
            return exc
        if isinstance(exc, psycopg2.errors.UndefinedTable):
            return SourceTableMissing(
                self.instance, table.name, f"table does not exist in {self.safe_url}"
            )
        if isinstance(exc, psycopg2.errors.UndefinedColumn):
            return SourceSchemaMismatch(
                self.instance, table.name, f"{_first_line(exc)} (configured in tables.yml)"
            )
        if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError):
            return SourceUnavailable(
                self.instance, table.name, f"connection to {self.safe_url} failed: {_first_line(exc)}"
            )
        if isinstance(exc, psycopg2.Error):
            return SourceError(self.instance, table.name, f"PostgreSQL error: {_first_line(exc)}")
        return SourceError(self.instance, table.name, f"{type(exc).__name__}: {exc}")


def _conversion_error(message: str, schema: pa.Schema, table: TableConfig) -> str:
    """Arrow's CSV error, with the column named (arrow numbers them from 0)."""
    found = re.search(r"CSV column #(\d+)", message)
    if found is None or int(found.group(1)) >= len(schema):
        return f"cannot read a value as its configured type: {message}"
    name = schema.names[int(found.group(1))]
    configured = table.column(name).type if name in {c.name for c in table.columns} else ""
    cause = message[found.end():].lstrip(": ")
    return (
        f"column {name}: a value cannot be read as the configured {configured or 'type'}: "
        f"{cause}" + (" (a value with more decimals than the scale is never rounded; widen the "
                      "decimal)" if "Rescaling" in cause else "")
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _timestamp_literal(value: dt.datetime) -> str:
    # isoformat of an aware datetime contains only digits, '-', ':', '.', '+' and 'T'.
    return f"'{value.astimezone(dt.UTC).isoformat()}'::timestamptz"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
