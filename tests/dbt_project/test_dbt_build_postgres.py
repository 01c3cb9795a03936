"""`dbt build` on PostgreSQL over the first load of raw_fixture.py: the same hand-computed numbers
as on DuckDB (expectations.check_first_load), so every dispatched macro is proven on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenant_warehouse.settings import Settings
from tests.dbt_project.expectations import Build, build, check_first_load, dbt_env, read_marts
from tests.dbt_project.raw_fixture import first_load, load_postgres


def test_postgres_build_gives_the_hand_computed_numbers(
    pg_database: Any, tw_settings: Settings, tmp_path: Path,
) -> None:
    database = pg_database("tw_dbt_project")
    connection = database.connect(autocommit=False)
    try:
        load_postgres(connection, first_load())
    finally:
        connection.close()
    result = build(tw_settings, {**dbt_env(tmp_path), **database.env}, target="postgres")
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            marts = read_marts(cursor)
    finally:
        connection.close()
    check_first_load(Build(result, marts))
