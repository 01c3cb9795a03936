"""MySQL / MariaDB source (`mysql+pymysql://user:password@host:port/database`): PyMySQL with a
server-side streaming cursor (`SSCursor`), so a table of any size is read in bounded memory.

Type rules are the other readers': values are converted to the table's source schema
(ingestion/schema.py) column by column in arrow, and only a column that is not clean is converted
value by value, each value that cannot be read being reported as a BadValue while its row is
kept. MySQL specifics:
- the session time zone is UTC, so `TIMESTAMP` columns (stored as UTC by the server) come out
  in UTC; `DATETIME` columns carry no zone and are read in the table's (or its instance's)
  `source_time_zone` (UTC unless configured), which is also how cursor bounds are written;
- `DECIMAL` is read exactly into `decimal(P,S)` (a value needing more scale is a bad value,
  never rounded), `JSON` as its text, `BLOB`/`VARBINARY` as bytes;
- `TINYINT(1)` is MySQL's boolean; zero dates (`0000-00-00`) are bad values (null);
- `BIGINT UNSIGNED` above 2^63-1 cannot be a bigint: a bad value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pymysql.cursors
from pymysql.constants import ER
from sqlalchemy.engine import URL

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
from ingestion.schema import UTC_TIMESTAMP, source_schema

# Rows per fetchmany from the streaming cursor (PyMySQL builds a tuple per row).
FETCH_ROWS = 10_000
CONNECT_TIMEOUT_SECONDS = 10
# Server errors that mean "this table/column is not there" rather than "the server is down".
_NO_TABLE = {ER.NO_SUCH_TABLE}
_NO_COLUMN = {ER.BAD_FIELD_ERROR}


class MysqlReader(SourceReader):
    engine = "mysql"

    def __init__(self, instance: str, url: URL, time_zone: str | None = None) -> None:
        super().__init__(instance)
        self.safe_url = url.render_as_string(hide_password=True)
        self.database = url.database
        try:
            self.zone = zoneinfo.ZoneInfo(time_zone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise SourceUnavailable(
                instance, None, f"unknown source time zone {time_zone!r}"
            ) from exc
        if not url.database:
            raise SourceUnavailable(instance, None, f"the URL {self.safe_url} names no database")
        params: dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "database": url.database,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "charset": str(url.query.get("charset", "utf8mb4")),
            "autocommit": True,
            "program_name": "tenant_warehouse_ingestion",
        }
        try:
            self.conn = pymysql.connect(**params)
            with self.conn.cursor() as cursor:
                # TIMESTAMP columns are converted to the session zone: UTC, as the warehouse.
                cursor.execute("SET time_zone = '+00:00'")
                # Each statement is its own consistent read; nothing is ever written.
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
        except pymysql.MySQLError as exc:
            raise SourceUnavailable(
                instance, None, f"cannot connect to MySQL {self.safe_url}: {_message(exc)}"
            ) from exc
        self._declared: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        # Already gone (server restarted): nothing left to release.
        with contextlib.suppress(pymysql.MySQLError):
            self.conn.close()

    def check_table(self, table: TableConfig) -> None:
        columns = ", ".join(quote(c.name) for c in table.source_columns)
        with self._errors(table), self.conn.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {quote(table.name)} LIMIT 0")

    def read_changes(self, table: TableConfig, since: dt.datetime | None) -> Iterator[pa.Table]:
        columns = ", ".join(quote(c.name) for c in table.source_columns)
        sql = f"SELECT {columns} FROM {quote(table.name)}"
        params: tuple[Any, ...] = ()
        if since is not None:
            cursor = quote(table.cursor)
            sql += f" WHERE {cursor} >= %s ORDER BY {cursor}, {quote(table.primary_key)}"
            params = (self._bound(table, since),)
        yield from rechunk(self._query(table, sql, params, source_schema(table)), table.chunk_rows)

    def read_window(self, table: TableConfig, since: dt.datetime) -> Iterator[pa.Table]:
        key, cursor = quote(table.primary_key), quote(table.cursor)
        sql = f"SELECT {key}, {cursor} FROM {quote(table.name)} WHERE {cursor} >= %s"
        params = (self._bound(table, since),)
        yield from rechunk(self._query(table, sql, params, versions_schema(table)), table.chunk_rows)

    def read_rows(self, table: TableConfig, ids: Sequence[int]) -> Iterator[pa.Table]:
        columns = ", ".join(quote(c.name) for c in table.source_columns)

        def batches() -> Iterator[pa.Table]:
            for start in range(0, len(ids), IDS_PER_QUERY):
                part = ", ".join(str(int(i)) for i in ids[start : start + IDS_PER_QUERY])
                sql = (
                    f"SELECT {columns} FROM {quote(table.name)}"
                    f" WHERE {quote(table.primary_key)} IN ({part})"
                )
                yield from self._query(table, sql, (), source_schema(table))

        yield from rechunk(batches(), table.chunk_rows)

    def read_versions(self, table: TableConfig, low: int | None, high: int | None) -> pa.Table:
        key, cursor = quote(table.primary_key), quote(table.cursor)
        clauses = []
        if low is not None:
            clauses.append(f"{key} >= {int(low)}")
        if high is not None:
            clauses.append(f"{key} < {int(high)}")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = f"SELECT {key}, {cursor} FROM {quote(table.name)}{where}"
        schema = versions_schema(table)
        batches = list(self._query(table, sql, (), schema))
        return pa.concat_tables(batches) if batches else schema.empty_table()

    def key_bounds(self, table: TableConfig) -> tuple[int, int, int] | None:
        key = quote(table.primary_key)
        with self._errors(table), self.conn.cursor() as cursor:
            cursor.execute(f"SELECT min({key}), max({key}), count(*) FROM {quote(table.name)}")
            low, high, count = cursor.fetchone()
        return None if count == 0 else (int(low), int(high), int(count))

    def column_types(self, table: TableConfig) -> dict[str, str]:
        """COLUMN_TYPE of every column (`bigint(20) unsigned`, `tinyint(1)`, `datetime(6)`)."""
        if table.name in self._declared:
            return self._declared[table.name]
        with self._errors(table), self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (table.name,),
            )
            rows = cursor.fetchall()
        if not rows:
            raise SourceTableMissing(
                self.instance, table.name, f"table does not exist in {self.safe_url}"
            )
        declared = {str(name): _text(kind).lower() for name, kind in rows}
        self._declared[table.name] = declared
        return declared

    # --- internals -------------------------------------------------------------------------

    def bucket_checksums(
        self, table: TableConfig, width: int
    ) -> dict[int, tuple[int, int]] | None:
        """Per-bucket (count, checksum) of (key, cursor), computed by the server
        (base.bucket_checksum_sql). None for a DATETIME cursor outside UTC: MariaDB converts
        zones only with its time zone tables loaded, which most servers lack."""
        if self._is_datetime(table, table.cursor) and self._zone(table) is not dt.UTC:
            return None
        sql = bucket_checksum_sql(
            key=f"CAST({quote(table.primary_key)} AS SIGNED)",
            # The session zone is UTC, so UNIX_TIMESTAMP reads DATETIMEs as UTC wall-clock time.
            seconds=f"FLOOR(UNIX_TIMESTAMP({quote(table.cursor)}))",
            table=quote(table.name),
            width=width,
            # MySQL's integer division is the infix operator DIV (truncating toward zero); the
            # lower-case spelling makes bucket_checksum_sql write it infix.
            divide="div",
        )
        with self._errors(table), self.conn.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        return {int(b): (int(c), int(h)) for b, c, h in rows}

    def _zone(self, table: TableConfig) -> dt.tzinfo:
        """Zone of the table's DATETIME values: its (or its instance's) source_time_zone."""
        name = table.source_time_zone
        if not name:
            return self.zone if self.zone.key != "UTC" else dt.UTC
        return dt.UTC if name == "UTC" else zoneinfo.ZoneInfo(name)

    def _is_datetime(self, table: TableConfig, column: str) -> bool:
        """DATETIME (zone-less, read in the source time zone) rather than TIMESTAMP (UTC)."""
        return self.column_types(table).get(column, "").startswith("datetime")

    def _bound(self, table: TableConfig, since: dt.datetime) -> str:
        zone = self._zone(table) if self._is_datetime(table, table.cursor) else dt.UTC
        return since.astimezone(zone).replace(tzinfo=None).isoformat(sep=" ")

    def _query(
        self, table: TableConfig, sql: str, params: tuple[Any, ...], schema: pa.Schema
    ) -> Iterator[pa.Table]:
        zones = {
            f.name: (self._zone(table) if self._is_datetime(table, f.name) else dt.UTC)
            for f in schema
            if pa.types.is_timestamp(f.type)
        }
        # Bad values are reported by key; a table without one by its row number in the read.
        key_index = schema.names.index(table.primary_key) if table.has_key else None
        read = 0
        fetch_rows = min(FETCH_ROWS, table.chunk_rows)
        with self._errors(table):
            cursor = self.conn.cursor(pymysql.cursors.SSCursor)
            try:
                cursor.execute(sql, params or None)
                while True:
                    rows = cursor.fetchmany(fetch_rows)
                    if not rows:
                        return
                    columns = list(zip(*rows, strict=True))
                    if key_index is not None:
                        keys: Sequence[Any] = columns[key_index]
                    else:
                        keys = [f"row {read + i + 1}" for i in range(len(rows))]
                    read += len(rows)
                    arrays = [
                        self._column(table, field, values, keys, zones.get(field.name))
                        for field, values in zip(schema, columns, strict=True)
                    ]
                    yield pa.Table.from_arrays(arrays, schema=schema)
            finally:
                cursor.close()  # drains an unfinished stream so the connection stays usable

    def _column(
        self,
        table: TableConfig,
        field: pa.Field,
        values: Sequence[Any],
        keys: Sequence[Any],
        zone: dt.tzinfo | None,
    ) -> pa.Array:
        def report(index: int, reason: str) -> None:
            self.issues.append(BadValue(self.instance, table.name, keys[index], field.name, reason))

        if zone is not None:
            return _timestamps(values, zone, report)
        try:
            if pa.types.is_boolean(field.type):
                return pa.array(values, pa.int64()).cast(pa.bool_())
            return pa.array(values, field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            return pa.array(
                [_convert(v, field.type, i, report) for i, v in enumerate(values)], field.type
            )

    @contextmanager
    def _errors(self, table: TableConfig) -> Iterator[None]:
        """Translate PyMySQL errors into errors naming the instance, table and cause."""
        try:
            yield
        except SourceError:
            raise
        except pymysql.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if code in _NO_TABLE:
                raise SourceTableMissing(
                    self.instance, table.name, f"table does not exist in {self.safe_url}"
                ) from exc
            if code in _NO_COLUMN:
                raise SourceSchemaMismatch(
                    self.instance, table.name, f"{_message(exc)} (configured in tables.yml)"
                ) from exc
            if isinstance(exc, pymysql.OperationalError | pymysql.InterfaceError):
                raise SourceUnavailable(
                    self.instance, table.name, f"connection to {self.safe_url} failed: {_message(exc)}"
                ) from exc
            raise SourceError(self.instance, table.name, f"MySQL error: {_message(exc)}") from exc


def quote(identifier: str) -> str:
    """Backquoted identifier (config validation restricts names to [a-z0-9_])."""
    return "`" + identifier.replace("`", "``") + "`"


def _timestamps(values: Sequence[Any], zone: dt.tzinfo, report: Any) -> pa.Array:
    cleaned: list[dt.datetime | None] = []
    for index, value in enumerate(values):
        if value is None or (isinstance(value, dt.datetime) and value.tzinfo is None):
            cleaned.append(value)
        else:
            # PyMySQL returns what it cannot parse (zero dates '0000-00-00 00:00:00') as text.
            report(index, f"not a timestamp ({_text(value)!r}); loaded as null")
            cleaned.append(None)
    naive = pa.array(cleaned, pa.timestamp("us"))
    if zone is dt.UTC:
        return naive.cast(UTC_TIMESTAMP)
    try:
        return pc.assume_timezone(naive, timezone=str(zone)).cast(UTC_TIMESTAMP)
    except pa.ArrowInvalid:
        # A local time that exists twice (clocks back) or not at all (clocks forward): read
        # with the offset in force before the change (fold=0), as the spreadsheet source does.
        return pa.array(
            [None if v is None else v.replace(tzinfo=zone).astimezone(dt.UTC) for v in cleaned],
            UTC_TIMESTAMP,
        )


def _convert(value: Any, arrow_type: pa.DataType, index: int, report: Any) -> Any:
    """One value into arrow_type's Python form, or None (reported) when it cannot be."""
    if value is None:
        return None
    try:
        if pa.types.is_integer(arrow_type):
            if isinstance(value, bool | int) and -(2**63) <= int(value) < 2**63:
                return int(value)
            if isinstance(value, decimal.Decimal | float) and value == int(value):
                return int(value)
            reason = "not a 64-bit integer"
        elif pa.types.is_floating(arrow_type):
            return float(value)
        elif pa.types.is_boolean(arrow_type):
            if isinstance(value, int | decimal.Decimal) and value in (0, 1):
                return bool(value)
            reason = "not a boolean (0 or 1)"
        elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            if isinstance(value, bytes):
                try:
                    return value.decode("utf-8")
                except UnicodeDecodeError:
                    report(index, "invalid UTF-8; undecodable bytes replaced with U+FFFD")
                    return value.decode("utf-8", "replace")
            return value if isinstance(value, str) else str(value)
        elif pa.types.is_date(arrow_type):
            if isinstance(value, dt.date):
                return value if not isinstance(value, dt.datetime) else value.date()
            reason = "not a date"
        elif pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
            return value if isinstance(value, bytes) else str(value).encode("utf-8")
        elif pa.types.is_decimal(arrow_type):
            exact = decimal.Decimal(value) if not isinstance(value, float) else None
            if exact is not None and exact.is_finite():
                quantum = decimal.Decimal(1).scaleb(-arrow_type.scale)
                if exact == exact.quantize(quantum) and exact.adjusted() < arrow_type.precision - arrow_type.scale:
                    return exact
            reason = f"does not fit decimal({arrow_type.precision},{arrow_type.scale}) exactly"
        else:
            reason = f"cannot be read as {arrow_type}"
    except (ValueError, TypeError, ArithmeticError, OverflowError):
        reason = f"cannot be read as {arrow_type}"
    report(index, f"{reason} (MySQL {type(value).__name__}); loaded as null")
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _message(exc: BaseException) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        return f"({exc.args[0]}) {str(exc.args[1]).splitlines()[0]}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
