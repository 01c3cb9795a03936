"""The on-run-end hook writes dbt's messages (quotes, backslashes, newlines, any text) as SQL
string literals; each adapter's literal must read back as exactly the same text.

The macros are rendered with plain Jinja (dbt's `return` emulated): no dbt process needed. The
default literal is evaluated by DuckDB and PostgreSQL; the BigQuery one is parsed by sqlglot's
BigQuery dialect, which unescapes it the way BigQuery does.
"""

from __future__ import annotations

from typing import Any

import duckdb
import jinja2
import pytest
import sqlglot

from tenant_warehouse.settings import PROJECT_DIR
from tests.support.pg import PgDatabaseFactory

MACROS = PROJECT_DIR / "macros" / "monitoring" / "monitoring_tables.sql"
NASTY = [
    "Database Error in model x: relation \"raw\".\"orders\" does not exist",
    "it's a test; drop table raw.orders; --",
    "back\\slash \\' and \\n (literal backslash-n)",
    "line one\nline two\r\n\ttabbed",
    "unicode: café ≠ 東京 🙂",
    "",
]


class _Returned(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _return(value: Any) -> None:
    raise _Returned(value)


def render_literal(macro: str, text: str) -> str:
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = environment.from_string(
        MACROS.read_text() + "\n{{ " + macro + "(text) }}",
        globals={"return": _return},
    )
    try:
        template.render(text=text)
    except _Returned as returned:
        return str(returned.value)
    raise AssertionError(f"{macro} returned nothing")


@pytest.mark.parametrize("text", NASTY)
def test_default_literal_reads_back_in_duckdb(text: str) -> None:
    literal = render_literal("default__monitoring_string_literal", text)
    with duckdb.connect() as connection:
        assert connection.execute(f"select {literal}").fetchone()[0] == text


def test_default_literal_reads_back_in_postgres(pg_database: PgDatabaseFactory) -> None:
    connection = pg_database("tw_literals").connect()
    try:
        with connection.cursor() as cursor:
            for text in NASTY:
                cursor.execute(f"select {render_literal('default__monitoring_string_literal', text)}")
                assert cursor.fetchone()[0] == text
    finally:
        connection.close()


@pytest.mark.parametrize("text", NASTY)
def test_bigquery_literal_is_one_line_and_reads_back(text: str) -> None:
    literal = render_literal("bigquery__monitoring_string_literal", text)
    assert "\n" not in literal and "\r" not in literal  # BigQuery quoted strings are one line
    parsed = sqlglot.parse_one(f"select {literal} as message", read="bigquery")
    value = parsed.expressions[0].this
    assert value.is_string and value.this == text
