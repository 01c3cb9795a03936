"""Dev targets build into their own prefixed schemas and never write prod's plain ones.

Each test stages the hand-written raw layer (tests/dbt_project/raw_fixture.py), puts a sentinel
in prod's plain schemas (a `marts.dim_organizations` that no build would produce), then builds a
few models with a dev target (profiles.yml.example `duckdb_dev` / `postgres_dev`): the models
land in `<TW_DEV_SCHEMA>_<layer>`, the sentinel is exactly as it was, and (DuckDB) the dev build
records nothing in the monitoring run log that prod's alerts read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenant_warehouse.settings import Settings
from tests.dbt_project.expectations import build, dbt_env
from tests.dbt_project.raw_fixture import first_load, load_duckdb, load_postgres

DEV_SCHEMA = "dbt_tester"
# A mart, its staging ancestor and its seeds: every layer a dev build names a schema for.
SELECT = ("--select", "+dim_organizations", "--vars", "{tw_monitoring_hooks: false}")
SENTINEL = [
    "create schema if not exists marts",
    "create table marts.dim_organizations (sentinel text)",
    "insert into marts.dim_organizations values ('prod, untouched')",
]
PLAIN = {"staging", "intermediate", "marts", "reference", "snapshots", "observability"}


def _check(schemas: set[str], sentinel: list[tuple[Any, ...]], dev_rows: int, tenants: int) -> None:
    prefixed = {s for s in schemas if s.startswith(f"{DEV_SCHEMA}_")}
    assert {f"{DEV_SCHEMA}_marts", f"{DEV_SCHEMA}_reference"} <= prefixed, schemas
    # The only plain schema is the sentinel's: the dev build created none.
    assert schemas & PLAIN == {"marts"}, schemas
    assert sentinel == [("prod, untouched",)]
    assert dev_rows == tenants > 0


def _tenants() -> int:
    return len(first_load()["organizations"])


def test_duckdb_dev_target_builds_prefixed_schemas(tw_settings: Settings, tmp_path: Path) -> None:
    import duckdb

    env = {**dbt_env(tmp_path), "TW_DEV_SCHEMA": DEV_SCHEMA}
    database = env["TW_DUCKDB_PATH"]
    load_duckdb(database, first_load())
    with duckdb.connect(database) as connection:
        for statement in SENTINEL:
            connection.execute(statement)
    # Monitoring hooks on: the dev build's results must not land in prod's run log.
    build(tw_settings, env, target="duckdb_dev", args=SELECT[:2])
    with duckdb.connect(database, read_only=True) as connection:
        (recorded,) = connection.execute("select count(*) from raw._tw_dbt_results").fetchone()
        assert recorded == 0
        schemas = {s for (s,) in connection.execute(
            "select schema_name from information_schema.schemata").fetchall()}
        sentinel = connection.execute("select * from marts.dim_organizations").fetchall()
        (dev_rows,) = connection.execute(
            f"select count(*) from {DEV_SCHEMA}_marts.dim_organizations").fetchone()
    _check(schemas, sentinel, dev_rows, _tenants())


def test_postgres_dev_target_builds_prefixed_schemas(
    pg_database: Any, tw_settings: Settings, tmp_path: Path,
) -> None:
    database = pg_database("tw_dev_schemas")
    connection = database.connect(autocommit=False)
    try:
        load_postgres(connection, first_load())
        with connection.cursor() as cursor:
            for statement in SENTINEL:
                cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()
    env = {**dbt_env(tmp_path), **database.env, "TW_DEV_SCHEMA": DEV_SCHEMA}
    build(tw_settings, env, target="postgres_dev", args=SELECT)
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("select schema_name from information_schema.schemata")
            schemas = {s for (s,) in cursor.fetchall()}
            cursor.execute("select * from marts.dim_organizations")
            sentinel = cursor.fetchall()
            cursor.execute(f"select count(*) from {DEV_SCHEMA}_marts.dim_organizations")
            (dev_rows,) = cursor.fetchone()
    finally:
        connection.close()
    _check(schemas, sentinel, dev_rows, _tenants())
