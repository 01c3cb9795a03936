"""The connection-free rules of the BigQuery check, one by one (fast: no dbt involved)."""

from __future__ import annotations

import pytest

from tenant_warehouse.bigquery_rules import (
    is_bigquery_seed_type,
    is_bigquery_sql_type,
    mask_sql,
    portability_problems,
    sqlglot_problems,
)


def rules(sql: str) -> list[tuple[int | None, str]]:
    return [(p.line, p.rule) for p in portability_problems(sql)]


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("select x::int from t", "pg-cast"),
        ("select * from t where name ILIKE 'a%'", "ilike"),
        ("select distinct on (a) a, b from t", "distinct-on"),
        ("select date_trunc('month', created_at) from t", "date-trunc-argument-order"),
        ("select timestamp_trunc( 'day' , created_at) from t", "date-trunc-argument-order"),
        ("select created_at + interval '1 day' from t", "interval-literal"),
        ('select "order_id" from t', "double-quoted-identifier"),
        ("select cast(a as text) from t", "pg-type"),
        ("select cast(a as double precision) from t", "pg-type"),
        ("select cast(a as timestamp with time zone) from t", "pg-type"),
        ("select now() from t", "pg-function"),
        ("select date_part('year', created_at) from t", "pg-function"),
        ("select try_cast(a as int64) from t", "pg-function"),
    ],
)
def test_postgres_and_duckdb_syntax_is_reported(sql: str, rule: str) -> None:
    assert (1, rule) in rules(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "select cast(x as int64), safe_cast(y as numeric) from `p`.`d`.`t`",
        "select date_trunc(created_at, month), timestamp_trunc(ts, day) from t",
        "select * from t qualify row_number() over (partition by a order by b desc) = 1",
        "select lower(name) like lower('A%'), date_add(d, interval 1 day) from t",
        "select struct(1 as a), [1, 2][offset(0)], cast(s as string) as text_value from t",
        "select current_timestamp() as now_at, format_date('%Y-%m', d) from t",
    ],
)
def test_bigquery_sql_passes(sql: str) -> None:
    assert rules(sql) == []
    assert sqlglot_problems(sql) == []


def test_literals_and_comments_are_not_code() -> None:
    sql = (
        "select 'a::b ilike distinct on (' as s, -- x::int ilike\n"
        "# date_trunc('month', x)\n"
        "/* interval '1 day'\n \"quoted\" */ r'\\d::' as r, 'it\\'s ::' as e\n"
        "from t where x::int = 1\n"
    )
    assert rules(sql) == [(5, "pg-cast")]


def test_mask_keeps_offsets_and_lines() -> None:
    sql = "select 'abc' as a, -- note\n\"id\" from t"
    masked = mask_sql(sql)
    assert len(masked.code) == len(sql)
    assert masked.code.count("\n") == 1
    assert masked.code.startswith("select '   ' as a,")
    assert masked.double_quoted == (sql.index('"'),)


def test_lines_are_reported() -> None:
    sql = "select\n  a,\n  b::text\nfrom t\nwhere c ilike 'x'\n"
    assert rules(sql) == [(3, "pg-cast"), (5, "ilike")]


def test_sqlglot_reports_broken_sql_with_line() -> None:
    [problem] = sqlglot_problems("select a,\nfrom from where")
    assert problem.rule == "sqlglot-parse"
    assert problem.line == 2
    assert "<Token" not in problem.message


@pytest.mark.parametrize(
    ("data_type", "as_sql", "as_contract", "as_seed"),
    [
        ("string", True, True, True),
        ("INT64", True, True, True),
        ("bigint", True, True, False),
        ("integer", True, True, True),
        ("numeric(18, 2)", True, True, False),
        ("numeric", True, True, True),
        ("date", True, True, True),
        ("timestamp", True, True, True),
        ("boolean", True, True, True),
        ("ARRAY<STRING>", True, True, False),
        ("text", False, True, False),  # dbt-bigquery translates TEXT to STRING in contracts
        ("float", False, True, True),
        ("varchar", False, False, False),
        ("timestamptz", False, False, False),
        ("double precision", False, False, False),
        ("{{ 'string' if target.type == 'bigquery' else 'text' }}", False, False, False),
    ],
)
def test_type_names(data_type: str, as_sql: bool, as_contract: bool, as_seed: bool) -> None:
    assert is_bigquery_sql_type(data_type) is as_sql
    assert is_bigquery_sql_type(data_type, contract=True) is as_contract
    assert is_bigquery_seed_type(data_type) is as_seed
