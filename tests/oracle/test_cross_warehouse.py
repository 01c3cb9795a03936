"""PostgreSQL end to end: the reference platform in PostgreSQL -> dlt -> PostgreSQL warehouse ->
dbt build, compared with the truth and row for row with the same scenario on SQLite -> DuckDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tenant_warehouse.postgres import PgServer
from tenant_warehouse.warehouse_sql import connect
from tests.oracle.conftest import SCENARIOS, run_scenario
from tests.support.pg import PgDatabaseFactory
from tests.support.pipeline import Pipeline, assert_all_match
from tests.support.verify import MART_KEYS, compare_rows, read_mart

# The DuckDB side reuses the oracle's first scenario (built once per session).
SEED, SCALE, TICKS = SCENARIOS[0]


@pytest.fixture(scope="module")
def both(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer,
    duckdb_scenario: Callable[[tuple[int, float, int]], Pipeline],
) -> Iterator[tuple[Pipeline, Pipeline]]:
    factory = PgDatabaseFactory(pg_server)
    try:
        warehouse = factory("tw_xwh")
        env = dict(warehouse.env)
        for instance in ("uk", "au", "fr"):
            env[f"TW_SOURCE_{instance.upper()}_URL"] = factory(f"tw_xsrc_{instance}").url
        postgres = Pipeline(home=tmp_path_factory.mktemp("xw_pg"), warehouse="postgres", env=env)
        duckdb = duckdb_scenario(SCENARIOS[0])
        run_scenario(postgres, SEED, SCALE, TICKS)
        yield duckdb, postgres
    finally:
        factory.drop_all()


def test_postgres_end_to_end_equals_truth(both: tuple[Pipeline, Pipeline]) -> None:
    _, postgres = both
    assert_all_match(postgres.compare_raw())
    assert_all_match(postgres.compare_marts())


def test_duckdb_and_postgres_marts_identical(both: tuple[Pipeline, Pipeline]) -> None:
    duckdb, postgres = both
    comparisons = []
    for mart, keys in MART_KEYS.items():
        tables = {}
        for pipeline in (duckdb, postgres):
            with pipeline.environment() as settings, connect(settings, pipeline.warehouse) as con:
                columns = _columns(con, pipeline.warehouse, mart)
                tables[pipeline.warehouse] = read_mart(con, mart, columns)
        assert tables["duckdb"], f"{mart} is empty"
        comparisons.append(compare_rows(mart, keys, tables["duckdb"], tables["postgres"]))
    assert_all_match(comparisons)


def _columns(connection, warehouse: str, mart: str) -> list[str]:
    placeholder = "%s" if warehouse == "postgres" else "?"
    cursor = connection.cursor()
    cursor.execute(
        "select column_name from information_schema.columns where table_schema = 'marts'"
        f" and table_name = {placeholder} order by ordinal_position", (mart,),
    )
    return [row[0] for row in cursor.fetchall()]
