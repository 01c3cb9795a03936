"""Independent views of a sample platform's source and of raw, for row-for-row comparison.

Deliberately not built on ingestion's readers: the source is read with plain psycopg2, naive
timestamps are placed in their zone with zoneinfo, PostgreSQL array literals parsed by hand,
personal data hashed with hashlib.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import psycopg2
from sqlalchemy.engine import make_url

from ingestion.config import ColumnConfig, IngestionConfig, TableConfig

Row = tuple[Any, ...]


def kept(table: TableConfig) -> list[ColumnConfig]:
    return [c for c in table.columns if c.policy != "drop"]


def pg_connect(url: str) -> Any:
    parsed = make_url(url)
    return psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                            password=parsed.password, dbname=parsed.database)


def pg_query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    conn = pg_connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return cursor.fetchall()
    finally:
        conn.close()


def pg_execute(url: str, *statements: str) -> None:
    conn = pg_connect(url)
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        conn.commit()
    finally:
        conn.close()


def _array_literal(text: str) -> list[str]:
    """'{admin,manager}' (how psycopg2 returns an array of an enum it does not know)."""
    inner = text.strip()[1:-1]
    return [part.strip('"') for part in inner.split(",")] if inner else []


def _expected(value: Any, column: ColumnConfig, time_zone: str, salt: str) -> Any:
    if value is None:
        return None
    if column.policy == "hash":
        return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()
    if column.type == "timestamp":
        return value.replace(tzinfo=ZoneInfo(time_zone)).astimezone(dt.UTC)
    if column.type == "json" and isinstance(value, str) and value.startswith("{"):
        return _array_literal(value)
    if column.type == "json":
        return value if isinstance(value, dict | list) else json.loads(value)
    return value


def source_rows(url: str, table: TableConfig, time_zone: str, salt: str) -> list[Row]:
    """The table as raw should hold it for an instance whose naive times are in `time_zone`."""
    columns = kept(table)
    rows = pg_query(url, f"SELECT {', '.join(c.name for c in columns)} FROM {table.name} "
                         f"ORDER BY {table.primary_key}")
    return [tuple(_expected(v, c, time_zone, salt) for v, c in zip(row, columns, strict=True))
            for row in rows]


def _actual(value: Any, column: ColumnConfig) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if column.type == "json" and column.policy == "keep":
        return json.loads(value)
    return value


def raw_rows(path: Path, table: TableConfig, instance: str) -> list[Row]:
    columns = kept(table)
    conn = duckdb.connect(str(path), read_only=True)
    try:
        rows = conn.execute(
            f"SELECT {', '.join(c.output_name for c in columns)} FROM raw.{table.name} "
            f"WHERE instance_id = ? ORDER BY {table.primary_key}", [instance]).fetchall()
    finally:
        conn.close()
    return [tuple(_actual(v, c) for v, c in zip(row, columns, strict=True)) for row in rows]


def raw_types(path: Path, table: str) -> dict[str, str]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        return dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'raw' AND table_name = ?", [table]).fetchall())
    finally:
        conn.close()


def differences(expected: list[Row], actual: list[Row], limit: int = 3) -> str:
    by_key_expected = {r[0]: r for r in expected}
    by_key_actual = {r[0]: r for r in actual}
    missing = sorted(set(by_key_expected) - set(by_key_actual))[:limit]
    extra = sorted(set(by_key_actual) - set(by_key_expected))[:limit]
    differ = [(by_key_expected[k], by_key_actual[k]) for k in sorted(by_key_expected)
              if k in by_key_actual and by_key_expected[k] != by_key_actual[k]][:limit]
    return (f"{len(expected)} source rows, {len(actual)} raw rows; missing {missing}; "
            f"extra {extra}; differing {differ}")


def assert_raw_equals_source(config: IngestionConfig, urls: dict[str, str],
                             stored_zones: dict[str, str], duckdb_path: Path, salt: str) -> int:
    """Every configured table of every instance, row for row; returns the rows compared.
    `stored_zones`: the zone each instance's naive timestamps are in, from the generator (not
    from the ingestion config under test)."""
    compared = 0
    for table in config.tables.values():
        for instance, url in sorted(urls.items()):
            expected = source_rows(url, table, stored_zones[instance], salt)
            actual = raw_rows(duckdb_path, table, instance)
            assert actual == expected, (
                f"{instance}.{table.name}: {differences(expected, actual)}")
            compared += len(expected)
    return compared

