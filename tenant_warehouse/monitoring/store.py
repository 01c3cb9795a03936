"""Read and append monitoring data in the warehouse (DuckDB file or PostgreSQL).

The monitoring tables are defined once, by the columns of the `tw_managed` tables of source
`monitoring` (models/staging/monitoring/_monitoring__sources.yml); dbt's on-run-start hook
creates them from the same definition, so whichever runs first on an empty warehouse, the tables
are the same.

BigQuery is not reachable from here: its marts build and the dbt hooks record results there,
but capture, alerts, status and report need a DuckDB or PostgreSQL warehouse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.settings import PROJECT_DIR, Settings

SOURCES_FILE = PROJECT_DIR / "models" / "staging" / "monitoring" / "_monitoring__sources.yml"
SUPPORTED_TARGETS = ("duckdb", "postgres")
OBSERVABILITY_SCHEMA = "observability"
# DDL per portable type (PostgreSQL and DuckDB spell these the same).
SQL_TYPES = {
    "text": "text",
    "bigint": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "timestamp": "timestamp with time zone",
}
# A DuckDB file has one writer at a time: a status query during a cycle waits for it.
LOCK_RETRY_SECONDS = 30.0


class MonitoringUnavailable(RuntimeError):
    """The warehouse cannot be reached or queried for monitoring (names the target and cause)."""


class WarehouseBusy(MonitoringUnavailable):
    """Another process (a build, an ingestion) holds the DuckDB file's write lock."""


@dataclass(frozen=True)
class TableSpec:
    name: str  # the source table name, e.g. dbt_results
    identifier: str  # the relation name in the raw schema, e.g. _tw_dbt_results
    columns: tuple[tuple[str, str], ...]  # (column, portable type)
    managed: bool


@cache
def table_specs(path: Path = SOURCES_FILE) -> dict[str, TableSpec]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = next(s for s in document["sources"] if s["name"] == "monitoring")
    specs = {}
    for table in source["tables"]:
        meta = (table.get("config") or {}).get("meta") or table.get("meta") or {}
        columns = tuple((c["name"], c["data_type"]) for c in table.get("columns", []))
        for name, portable in columns:
            if portable not in SQL_TYPES:
                raise ValueError(f"{path}: monitoring.{table['name']}.{name}: type {portable!r}")
        specs[table["name"]] = TableSpec(
            table["name"], table.get("identifier", table["name"]), columns,
            bool(meta.get("tw_managed")),
        )
    return specs


class Warehouse:
    """One DB-API connection to the warehouse, with the few operations monitoring needs."""

    def __init__(self, connection: Any, target: str, raw_schema: str) -> None:
        self.connection = connection
        self.target = target
        self.raw_schema = raw_schema

    # --- queries ------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        # Queries are written with %s placeholders (psycopg2); DuckDB takes ?.
        return text.replace("%s", "?") if self.target == "duckdb" else text

    def query(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(text), tuple(params)) if params else cursor.execute(text)
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(text), tuple(params)) if params else cursor.execute(text)
        finally:
            cursor.close()
        self._commit()

    def _commit(self) -> None:
        if self.target == "postgres":
            self.connection.commit()

    def relation_exists(self, schema: str, name: str) -> bool:
        rows = self.query(
            "select count(*) as n from information_schema.tables"
            " where table_schema = %s and table_name = %s",
            (schema, name),
        )
        return bool(rows and rows[0]["n"])

    def relation(self, table: str) -> str:
        """Qualified name of a monitoring table (`dbt_results` -> raw._tw_dbt_results)."""
        return f"{self.raw_schema}.{table_specs()[table].identifier}"

    def has(self, table: str) -> bool:
        return self.relation_exists(self.raw_schema, table_specs()[table].identifier)

    def has_view(self, name: str) -> bool:
        return self.relation_exists(OBSERVABILITY_SCHEMA, name)

    # --- writes -------------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create the raw schema and the monitoring tables that do not exist yet."""
        self.execute(f"create schema if not exists {self.raw_schema}")
        for spec in table_specs().values():
            if not spec.managed:
                continue
            columns = ", ".join(f"{name} {SQL_TYPES[kind]}" for name, kind in spec.columns)
            self.execute(
                f"create table if not exists {self.raw_schema}.{spec.identifier} ({columns})"
            )

    def append(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append rows (dicts by column name; missing columns are null) to a monitoring table."""
        if not rows:
            return 0
        spec = table_specs()[table]
        names = [name for name, _ in spec.columns]
        placeholders = ", ".join("%s" for _ in names)
        cursor = self.connection.cursor()
        try:
            cursor.executemany(
                self._sql(
                    f"insert into {self.relation(table)} ({', '.join(names)})"
                    f" values ({placeholders})"
                ),
                [tuple(row.get(name) for name in names) for row in rows],
            )
        finally:
            cursor.close()
        self._commit()
        return len(rows)


def require_supported(target: str) -> None:
    if target not in SUPPORTED_TARGETS:
        raise MonitoringUnavailable(
            f"monitoring commands read the warehouse directly and support "
            f"{' and '.join(SUPPORTED_TARGETS)}, not {target}: on {target}, query the "
            f"`{OBSERVABILITY_SCHEMA}` dataset with its own console"
        )


@contextmanager
def open_warehouse(
    settings: Settings, target: str = "duckdb", read_only: bool = False,
    lock_wait_seconds: float = LOCK_RETRY_SECONDS,
) -> Iterator[Warehouse]:
    """A Warehouse on the target; read-only DuckDB when only reading. A DuckDB file another
    process writes is waited for up to lock_wait_seconds, then WarehouseBusy (status and report
    wait ~1 s and answer from the journal instead)."""
    require_supported(target)
    connection = _connect(settings, target, read_only, lock_wait_seconds)
    try:
        if target == "duckdb":
            # DuckDB reports timestamptz in the session zone; monitoring works in UTC.
            connection.execute("set timezone = 'UTC'")
        yield Warehouse(connection, target, settings.raw_schema)
    finally:
        connection.close()


def _connect(
    settings: Settings, target: str, read_only: bool, lock_wait_seconds: float = LOCK_RETRY_SECONDS
) -> Any:
    if target == "postgres":
        import psycopg2

        from tenant_warehouse.warehouse_sql import ensure_postgres_database, postgres_dsn

        try:
            if not read_only:
                ensure_postgres_database()
            connection = psycopg2.connect(postgres_dsn())
        except psycopg2.Error as exc:
            raise MonitoringUnavailable(f"postgres warehouse: {exc}".strip()) from exc
        with connection.cursor() as cursor:
            cursor.execute("set time zone 'UTC'")
        connection.commit()
        return connection

    import duckdb

    path = settings.duckdb_path
    if read_only and not path.exists():
        raise MonitoringUnavailable(f"duckdb warehouse {path} does not exist yet (run `warehouse run`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            # Another process (an ingestion, a dbt build) holds the file's write lock.
            if "lock" not in str(exc).lower():
                raise MonitoringUnavailable(f"duckdb warehouse {path}: {exc}") from exc
            if time.monotonic() > deadline:
                raise WarehouseBusy(f"duckdb warehouse {path}: {exc}") from exc
            time.sleep(0.25)
