"""The endpoint when the warehouse owner is not a superuser (a dbt role with CREATEROLE that owns
the database): grant, apply and the reader's SET ROLE work, and the tenant still sees its rows
only. No dbt here: two hand-made marts are enough for the role mechanics."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2.extensions import encrypt_password

from tenant_warehouse.postgres import PgServer
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.access import tenant_reader
from tenant_warehouse.tenants.postgres_access import apply_access, grant_tenant, revoke_tenant

pytestmark = pytest.mark.postgres
OWNER, OWNER_PASSWORD = "tw_plain_owner", "plain-owner-password"
DATABASE = "tw_plain_owner_db"


@pytest.fixture
def plain_owner(scram_server: PgServer, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    admin = scram_server.connect()
    with admin.cursor() as cursor:
        verifier = encrypt_password(OWNER_PASSWORD, OWNER, admin, "scram-sha-256")
        cursor.execute(f"create role {OWNER} login createrole password %s", (verifier,))
        cursor.execute(f"create database {DATABASE} owner {OWNER}")
    admin.close()
    owner = PgServer(scram_server.host, scram_server.port, OWNER, OWNER_PASSWORD)
    with owner.connect(DATABASE) as connection, connection.cursor() as cursor:
        cursor.execute("create schema marts")
        cursor.execute("create table marts.dim_organizations (tenant_id text)")
        cursor.execute("insert into marts.dim_organizations values ('yy:1'), ('yy:2')")
        cursor.execute("create table marts.fct_orders (tenant_id text, order_id int)")
        cursor.execute("insert into marts.fct_orders select 'yy:' || (i % 2 + 1), i "
                       "from generate_series(1, 9) as i")
    for name, value in owner.warehouse_env(DATABASE).items():
        monkeypatch.setenv(name, value)
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("relations:\n  - {name: orders, model: fct_orders}\n")
    monkeypatch.setenv("TW_TENANT_CATALOG", str(catalog))
    return Settings(home=tmp_path)


def test_a_createrole_owner_can_grant_apply_and_read_as_the_tenant(
    plain_owner: Settings, scram_server: PgServer
) -> None:
    role = grant_tenant(plain_owner, "yy:1", "plain-tenant-password")
    report = apply_access(plain_owner)
    assert report.views == ["tenant.orders"] and report.tenants == 1
    with tenant_reader(plain_owner, "postgres", "yy:1") as reader:
        rows = reader.query("select order_id from tenant.orders order by 1").column(0).to_pylist()
    assert rows == [2, 4, 6, 8]
    tenant = psycopg2.connect(host=scram_server.host, port=scram_server.port, dbname=DATABASE,
                              user=role, password="plain-tenant-password")
    try:
        with tenant.cursor() as cursor:
            cursor.execute("select count(*), min(tenant_id), max(tenant_id) from tenant.orders")
            assert cursor.fetchone() == (4, "yy:1", "yy:1")
        with tenant.cursor() as cursor, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("select * from marts.fct_orders")
    finally:
        tenant.close()
    assert revoke_tenant("yy:1")
