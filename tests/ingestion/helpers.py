"""Independent views of the source and of raw, for comparing them row for row.

Deliberately not built on ingestion's readers: the source is read with plain sqlite3/psycopg2,
timestamps parsed with datetime, personal data hashed with hashlib, so a bug in the ingestion
code cannot hide itself by being on both sides of the comparison.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
from sqlalchemy.engine import make_url

from ingestion.config import TableConfig

Row = tuple[Any, ...]


def output_columns(table: TableConfig) -> list[str]:
    return [c.output_name for c in table.columns if c.policy != "drop"]


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value


def _from_source(value: Any, kind: str, policy: str, salt: str) -> Any:
    if value is None:
        return None
    if policy == "hash":
        return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()
    if kind == "timestamp":
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return _utc(value)
    return value


def source_rows(url: str, table: TableConfig, salt: str) -> list[Row]:
    """The table as raw should hold it: policy applied, timestamps as aware UTC, ordered by id."""
    columns = [c for c in table.columns if c.policy != "drop"]
    sql = f"SELECT {', '.join(c.name for c in columns)} FROM {table.name} ORDER BY {table.primary_key}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    else:
        conn = psycopg2.connect(
            host=parsed.host, port=parsed.port, user=parsed.username,
            password=parsed.password, dbname=parsed.database,
        )
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                rows = cursor.fetchall()
        finally:
            conn.close()
    return [
        tuple(_from_source(v, c.type, c.policy, salt) for v, c in zip(row, columns, strict=True))
        for row in rows
    ]


def raw_rows_duckdb(path: Path, table: TableConfig, instance: str) -> list[Row]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        rows = conn.execute(
            f"SELECT {', '.join(output_columns(table))} FROM raw.{table.name} "
            f"WHERE instance_id = ? ORDER BY {table.primary_key}",
            [instance],
        ).fetchall()
    finally:
        conn.close()
    return [tuple(_utc(v) for v in row) for row in rows]


def raw_rows_postgres(conn: Any, table: TableConfig, instance: str) -> list[Row]:
    with conn.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(output_columns(table))} FROM raw.{table.name} "
            f"WHERE instance_id = %s ORDER BY {table.primary_key}",
            (instance,),
        )
        return [tuple(_utc(v) for v in row) for row in cursor.fetchall()]


def duckdb_query(path: Path, sql: str, params: Iterable[Any] = ()) -> list[Row]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def sqlite_execute(url: str, *statements: tuple[str, tuple[Any, ...]] | str) -> None:
    """Change a SQLite source directly (what an application would do)."""
    conn = sqlite3.connect(make_url(url).database)
    try:
        for statement in statements:
            if isinstance(statement, str):
                conn.execute(statement)
            else:
                conn.execute(*statement)
        conn.commit()
    finally:
        conn.close()


def sqlite_scalar(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    conn = sqlite3.connect(make_url(url).database)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def sqlite_timestamp(value: dt.datetime) -> str:
    """The platform's storage format."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def mismatches(expected: list[Row], actual: list[Row], limit: int = 5) -> str:
    """A short description of how two row lists differ (by first column, the key)."""
    by_key_expected = {r[0]: r for r in expected}
    by_key_actual = {r[0]: r for r in actual}
    missing = sorted(set(by_key_expected) - set(by_key_actual))[:limit]
    extra = sorted(set(by_key_actual) - set(by_key_expected))[:limit]
    differ = [
        (k, by_key_expected[k], by_key_actual[k])
        for k in sorted(set(by_key_expected) & set(by_key_actual))
        if by_key_expected[k] != by_key_actual[k]
    ][:limit]
    return f"missing in raw: {missing}; extra in raw: {extra}; different: {differ}"
