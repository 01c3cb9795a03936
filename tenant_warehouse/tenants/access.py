"""The one door to tenant data: `tenant_reader(settings, warehouse, tenant_id)`.

Everything that serves a tenant (SQL endpoint helpers, exports, statements, the dashboard) reads
through it, naming relations `tenant.<name>` (catalog.py):
- PostgreSQL: every query runs in a read-only transaction as the tenant's role (`SET LOCAL ROLE
  tw_tenant_<instance>_<organization>`), so the database's security_barrier views decide which
  rows come back (postgres_access.py); a tenant without a role is refused.
- DuckDB (no roles): a private in-memory connection where `tenant.<name>` are views fixed to this
  tenant over the warehouse file attached READ_ONLY, with file access and configuration locked.
On both, server-written SQL must be one query over `tenant.<name>` relations (sql_guard.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol

import pyarrow as pa

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import (
    TENANT_SCHEMA,
    TenantRelation,
    check_publishable,
    profile_doors,
)
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.tenants.ids import normalize_tenant_id, role_name
from tenant_warehouse.tenants.sql_guard import check_tenant_sql

DEFAULT_BATCH_ROWS = 50_000


class TenantReader(Protocol):
    tenant_id: str

    def relations(self) -> list[TenantRelation]:
        """The tenant-facing relations present in this warehouse (catalog order)."""

    def batches(self, relation: str, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every row of that tenant-facing relation for this tenant only, in bounded batches."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """One server-written query over `tenant.<name>` relations; `?` placeholders."""


@contextmanager
def tenant_reader(settings: Settings, warehouse: str, tenant_id: str) -> Iterator[TenantReader]:
    """A reader bound to one tenant; TenantError when the tenant id is malformed or (PostgreSQL)
    the tenant has no role, TenantAccessError when the warehouse cannot be opened."""
    tenant_id = normalize_tenant_id(tenant_id)
    if warehouse == "duckdb":
        reader: _DuckDBReader | _PostgresReader = _DuckDBReader(settings, tenant_id)
    elif warehouse == "postgres":
        reader = _PostgresReader(settings, tenant_id)
    else:
        raise TenantError(f"warehouse {warehouse!r}: tenant reads support duckdb and postgres")
    try:
        yield reader
    finally:
        reader.close()


def _relation(relations: list[TenantRelation], name: str) -> TenantRelation:
    for relation in relations:
        if relation.name == name:
            return relation
    known = ", ".join(r.name for r in relations) or "none"
    raise TenantError(f"relation {name!r}: not a tenant-facing relation here (available: {known})")


# --- DuckDB ----------------------------------------------------------------------------------------


class _DuckDBReader:
    def __init__(self, settings: Settings, tenant_id: str) -> None:
        import duckdb

        self.tenant_id = tenant_id
        path = settings.duckdb_path
        if not path.exists():
            raise TenantAccessError(f"{path}: no DuckDB warehouse yet (run `warehouse build`)")
        self._connection = duckdb.connect(":memory:")
        try:
            self._connection.execute(f"attach {_literal(str(path))} as warehouse (read_only)")
        except duckdb.Error as exc:
            self._connection.close()
            raise TenantAccessError(f"{path}: cannot open the warehouse read-only: {exc}") from exc
        columns: dict[tuple[str, str], set[str]] = {}
        for schema, name, column in self._connection.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = 'warehouse'"
        ).fetchall():
            columns.setdefault((schema, name), set()).add(column)
        # What the platform profile publishes and the warehouse holds (a mart of another
        # profile left in the file is no door; one not built yet is simply absent).
        self._relations = [
            r for r in profile_doors(settings, "duckdb").published
            if (r.source_schema, r.source_name) in columns
        ]
        self._connection.execute(f"create schema {TENANT_SCHEMA}")
        for relation in self._relations:
            check_publishable(relation, columns[(relation.source_schema, relation.source_name)])
            # The filter is fixed in the view; the tenant id is a validated literal.
            where = "" if relation.is_shared else (
                f" where {relation.tenant_column} = {_literal(tenant_id)}"
            )
            self._connection.execute(
                f"create view {TENANT_SCHEMA}.{relation.name} as "
                f"select * from warehouse.{relation.source_schema}.{relation.source_name}{where}"
            )
        # No files, no further attachments, no way to undo this from a query.
        self._connection.execute("set enable_external_access = false")
        self._connection.execute("set lock_configuration = true")

    def relations(self) -> list[TenantRelation]:
        return list(self._relations)

    def batches(self, relation: str, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = _relation(self._relations, relation)
        reader = self._connection.sql(f"select * from {chosen.qualified_name}").to_arrow_reader(
            batch_rows
        )
        yield from reader

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        check_tenant_sql(sql, {r.name for r in self._relations}, "duckdb")
        return self._connection.sql(sql, params=list(params) or None).to_arrow_table()

    def close(self) -> None:
        self._connection.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- PostgreSQL ------------------------------------------------------------------------------------


def _connect() -> Any:
    """The warehouse owner's connection (TW_PG_*), autocommit; the reader switches roles."""
    import psycopg2

    from tenant_warehouse.warehouse_sql import postgres_dsn

    try:
        connection = psycopg2.connect(postgres_dsn())
    except psycopg2.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TenantAccessError(f"PostgreSQL warehouse: cannot connect: {reason}") from exc
    connection.autocommit = True
    return connection


class _PostgresReader:
    def __init__(self, settings: Settings, tenant_id: str) -> None:
        from tenant_warehouse.tenants.postgres_access import ACCESS_SCHEMA, ROLES_TABLE

        self.tenant_id = tenant_id
        self.role = role_name(tenant_id)
        self._connection = _connect()
        with self._connection.cursor() as cursor:
            granted = None
            if _has_access_table(cursor):
                cursor.execute(
                    f"select 1 from {ACCESS_SCHEMA}.{ROLES_TABLE} r join pg_roles p "
                    "on p.rolname = r.role_name where r.role_name = %s and r.tenant_id = %s",
                    (self.role, tenant_id),
                )
                granted = cursor.fetchone()
            if not granted:
                self._connection.close()
                raise TenantError(
                    f"tenant {tenant_id}: no access on this PostgreSQL warehouse "
                    f"(run `warehouse tenants grant {tenant_id}`)"
                )
            cursor.execute(
                "select table_name from information_schema.views where table_schema = %s",
                (TENANT_SCHEMA,),
            )
            present = {name for (name,) in cursor.fetchall()}
        self._relations = [
            r for r in profile_doors(settings, "postgres").published if r.name in present
        ]

    def relations(self) -> list[TenantRelation]:
        return list(self._relations)

    @contextmanager
    def _as_tenant(self, connection: Any) -> Iterator[Any]:
        """One read-only transaction on `connection` as the tenant's role, rolled back after."""
        from psycopg2 import sql

        connection.autocommit = False
        try:
            with connection.cursor() as cursor:
                cursor.execute("set transaction read only")
                cursor.execute(sql.SQL("set local role {}").format(sql.Identifier(self.role)))
                cursor.execute("set local search_path = " + TENANT_SCHEMA)
            yield connection
        finally:
            connection.rollback()
            connection.autocommit = True

    def batches(self, relation: str, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        chosen = _relation(self._relations, relation)
        # A connection of its own: streams may interleave with each other and with query().
        connection = _connect()
        try:
            with self._as_tenant(connection):
                # A server-side cursor: memory is one batch, whatever the relation's size.
                cursor = connection.cursor(name=f"tw_tenant_{secrets.token_hex(4)}")
                cursor.itersize = batch_rows
                cursor.execute(f"select * from {chosen.qualified_name}")
                converter: _ArrowConverter | None = None
                while True:
                    rows = cursor.fetchmany(batch_rows)
                    if converter is None:
                        converter = _ArrowConverter(cursor.description)
                    if not rows:
                        if converter.batches == 0:
                            yield converter.batch([])
                        break
                    yield converter.batch(rows)
                cursor.close()
        finally:
            connection.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        check_tenant_sql(sql, {r.name for r in self._relations}, "postgres")
        with self._as_tenant(self._connection) as connection, connection.cursor() as cursor:
            cursor.execute(_psycopg2_placeholders(sql), tuple(params))
            rows = cursor.fetchall()
            converter = _ArrowConverter(cursor.description)
            return pa.Table.from_batches([converter.batch(rows)])

    def close(self) -> None:
        self._connection.close()


def _has_access_table(cursor: Any) -> bool:
    from tenant_warehouse.tenants.postgres_access import ACCESS_SCHEMA, ROLES_TABLE

    cursor.execute("select to_regclass(%s) is not null", (f"{ACCESS_SCHEMA}.{ROLES_TABLE}",))
    return bool(cursor.fetchone()[0])


def _psycopg2_placeholders(sql_text: str) -> str:
    """`?` -> `%s` and `%` -> `%%` outside quoted strings and identifiers."""
    out: list[str] = []
    quote: str | None = None
    for char in sql_text:
        if quote:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


# PostgreSQL type oids -> Arrow types (the marts' types); anything else is inferred from values.
_PG_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 700: pa.float32(),
    701: pa.float64(), 25: pa.string(), 1043: pa.string(), 1042: pa.string(), 19: pa.string(),
    1082: pa.date32(), 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC"),
    1083: pa.time64("us"),
}
_NUMERIC = 1700


class _ArrowConverter:
    """Rows of a psycopg2 cursor -> RecordBatches with one schema for every batch."""

    def __init__(self, description: Any) -> None:
        self.names = [column.name for column in description]
        self.types: list[pa.DataType | None] = [self._type(column) for column in description]
        self.batches = 0

    @staticmethod
    def _type(column: Any) -> pa.DataType | None:
        if column.type_code == _NUMERIC:
            precision, scale = column.precision, column.scale
            if precision and scale is not None and 0 < precision <= 38:
                return pa.decimal128(precision, scale)
            return None  # numeric without a declared scale (an aggregate): inferred
        return _PG_TYPES.get(column.type_code)

    def batch(self, rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
        arrays = []
        for index, data_type in enumerate(self.types):
            values = [row[index] for row in rows]
            if data_type is None:
                array = pa.array([_plain(v) for v in values])
                # Later batches keep the first batch's type (unless it saw only nulls).
                if self.batches == 0 or pa.types.is_null(array.type):
                    self.types[index] = None if pa.types.is_null(array.type) else array.type
            else:
                array = pa.array(values, type=data_type)
            arrays.append(array)
        self.batches += 1
        return pa.RecordBatch.from_arrays(arrays, names=self.names)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    return value
