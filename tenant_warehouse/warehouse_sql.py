"""Read-only queries against the warehouse (DuckDB file or PostgreSQL) for summaries and status."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tenant_warehouse.settings import Settings


def postgres_dsn(database: str | None = None) -> str:
    """libpq DSN for the PostgreSQL warehouse, from the same TW_PG_* variables the profile reads."""
    parts = {
        "host": os.environ.get("TW_PG_HOST", "127.0.0.1"),
        "port": os.environ.get("TW_PG_PORT", "5432"),
        "user": os.environ.get("TW_PG_USER", "postgres"),
        "dbname": database or os.environ.get("TW_PG_DATABASE", "tenant_warehouse"),
    }
    password = os.environ.get("TW_PG_PASSWORD")
    if password:
        parts["password"] = password
    return " ".join(f"{key}={value}" for key, value in parts.items())


def ensure_postgres_database() -> None:
    """Create the warehouse database when it does not exist yet (first run on a new server)."""
    import psycopg2
    from psycopg2 import sql

    name = os.environ.get("TW_PG_DATABASE", "tenant_warehouse")
    connection = psycopg2.connect(postgres_dsn("postgres"))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("select 1 from pg_database where datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        connection.close()


@contextmanager
def connect(settings: Settings, target: str = "duckdb") -> Iterator[Any]:
    """A DB-API connection; DuckDB opens read-only so a summary never blocks a writer for long."""
    if target == "duckdb":
        import duckdb

        connection = duckdb.connect(str(settings.duckdb_path), read_only=True)
    elif target == "postgres":
        import psycopg2

        connection = psycopg2.connect(postgres_dsn())
    else:
        raise ValueError(f"cannot query warehouse target {target!r} from here")
    try:
        yield connection
    finally:
        connection.close()


def query(connection: Any, sql_text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    cursor = connection.cursor()
    try:
        cursor.execute(sql_text, params) if params else cursor.execute(sql_text)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def relation_exists(connection: Any, schema: str, table: str) -> bool:
    rows = query(
        connection,
        "select count(*) from information_schema.tables where table_schema = %s and table_name = %s"
        if _is_postgres(connection)
        else "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        (schema, table),
    )
    return bool(rows and rows[0][0])


def _is_postgres(connection: Any) -> bool:
    return type(connection).__module__.startswith("psycopg2")
