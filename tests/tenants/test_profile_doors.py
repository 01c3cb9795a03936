"""Tenant doors per platform profile: relations whose mart the profile does not build are left
out of every door (no view, no pretend empty table, no crash), and the doors say so.

DuckDB: a real built warehouse copied as a profile without orders leaves it (profile_fixture).
PostgreSQL: a warehouse holding one table per mart the profile builds plus a stale one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.access import tenant_reader
from tenant_warehouse.tenants.catalog import (
    ProfileModels,
    profile_doors,
    split_relations,
    tenant_relations,
)
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tests.exports.billing_scenario import billing_warehouse
from tests.tenants.profile_fixture import ORDER_MARTS, ORDER_RELATIONS, STALE, without_orders


def _manifest(settings: Settings, schema: str = "marts") -> dict[str, Any]:
    """A manifest in dbt's shape: the catalog's models built, the order marts disabled."""
    nodes, disabled = {}, {}
    for relation in tenant_relations(settings):
        node = {"resource_type": "model", "name": relation.source_name, "schema": schema,
                "alias": relation.source_name}
        unique_id = f"model.tenant_warehouse.{relation.source_name}"
        if relation.source_name in ORDER_MARTS:
            disabled[unique_id] = [node]
        else:
            nodes[unique_id] = node
    return {"nodes": nodes, "disabled": disabled}


def test_the_manifest_splits_the_catalog(tw_settings: Settings) -> None:
    relations = tenant_relations(tw_settings)
    models = ProfileModels.from_manifest(_manifest(tw_settings, schema="dbt_a_marts"))
    doors = split_relations(relations, models)
    assert {r.name for r in doors.left_out} == ORDER_RELATIONS
    assert [r.name for r in doors.published] == [
        r.name for r in relations if r.name not in ORDER_RELATIONS
    ]
    assert models.relation_of("fct_messages") == "dbt_a_marts.fct_messages"
    assert models.relation_of("fct_orders") is None
    assert "not built by this platform profile: orders, turnover_by_organization_month" in (
        doors.summary()
    )
    # No manifest: nothing is known to be left out.
    assert split_relations(relations, None).published == relations


@pytest.fixture(scope="module")
def chatbot_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = billing_warehouse(tmp_path_factory).home
    return without_orders(built, tmp_path_factory.mktemp("chatbot") / "home")


def _tenant_with_messages(home: Path) -> str:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        (tenant_id,) = connection.execute(
            "select tenant_id from marts.fct_messages group by 1 order by count(*) desc limit 1"
        ).fetchone()
    return str(tenant_id)


def test_duckdb_reader_serves_only_what_the_profile_builds(
    chatbot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_HOME", str(chatbot_home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    settings = Settings(home=chatbot_home)
    tenant_id = _tenant_with_messages(chatbot_home)
    with tenant_reader(settings, "duckdb", tenant_id) as reader:
        names = {relation.name for relation in reader.relations()}
        assert names == {r.name for r in profile_doors(settings, "duckdb").published}
        assert not names & ORDER_RELATIONS and {"messages", "organization"} <= names
        assert reader.query("select count(*) as n from tenant.messages").to_pylist()[0]["n"] > 0
        # The stale billing table is in the file, but the profile does not build it: no door.
        with pytest.raises(TenantError, match="billing_by_organization_month"):
            reader.query(f"select * from tenant.{STALE}")
        with pytest.raises(TenantError, match="not a tenant-facing relation here"):
            list(reader.batches("orders"))


def test_postgres_views_follow_the_profile(
    pg_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenant_warehouse.tenants.postgres_access import apply_access, views_in_place

    database = pg_database("tw_profile_doors")
    for name, value in database.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path)
    manifest = _manifest(settings)
    (tmp_path / "dbt_target_postgres").mkdir()
    (tmp_path / "dbt_target_postgres" / "manifest.json").write_text(json.dumps(manifest))
    built = [n["name"] for n in manifest["nodes"].values()]
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("create schema marts")
            for name in [*built, STALE]:
                cursor.execute(f"create table marts.{name} (tenant_id text)")
            # A view left from a build with another profile.
            cursor.execute("create schema tenant")
            cursor.execute(f"create view tenant.{STALE} as select * from marts.{STALE}")
        report = apply_access(settings, require_all=True)
        assert sorted(report.left_out) == sorted(ORDER_RELATIONS)
        assert report.missing == []
        assert "not built by this platform profile: orders" in report.summary()
        with connection.cursor() as cursor:
            cursor.execute("select table_name from information_schema.views where table_schema = 'tenant'")
            views = {name for (name,) in cursor.fetchall()}
        assert views == {r.name for r in profile_doors(settings, "postgres").published}
        assert views_in_place(settings)
        # A mart the profile builds but the warehouse lacks is still an error.
        with connection.cursor() as cursor:
            cursor.execute("drop table marts.fct_messages cascade")
        with pytest.raises(TenantAccessError, match=r"marts\.fct_messages"):
            apply_access(settings, require_all=True)
    finally:
        connection.close()
