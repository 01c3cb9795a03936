"""The leak checks can fail: a tenant view without the filter, or a mart granted directly, is
reported (so 0 leaks in test_postgres_isolation means something)."""

from __future__ import annotations

import psycopg2
import pytest

from tenant_warehouse.postgres import PgServer, create_database
from tenant_warehouse.tenants.catalog import TenantRelation
from tests.tenants.leak_probe import Ledger, check_attempts, check_reads

pytestmark = pytest.mark.postgres
ORDERS = TenantRelation("orders", "marts", "fct_orders", "tenant_id", "")


def test_probe_reports_a_view_without_filter_and_a_granted_mart(scram_server: PgServer) -> None:
    create_database(scram_server, "tw_leaky")
    owner = scram_server.connect("tw_leaky")
    with owner.cursor() as cursor:
        cursor.execute("create schema marts")
        cursor.execute("create table marts.fct_orders (tenant_id text, order_id int)")
        cursor.execute("insert into marts.fct_orders values ('zz:1', 1), ('zz:1', 2), ('zz:2', 3)")
        cursor.execute("create schema tenant")
        # What a careless endpoint does: a view with no tenant filter, the mart granted as well.
        cursor.execute("create view tenant.orders as select * from marts.fct_orders")
        cursor.execute("create role tw_tenant_zz_1 login password 'leaky-tenant-password'")
        cursor.execute("grant usage on schema tenant, marts to tw_tenant_zz_1")
        cursor.execute("grant select on tenant.orders, marts.fct_orders to tw_tenant_zz_1")
    tenant = psycopg2.connect(host=scram_server.host, port=scram_server.port, dbname="tw_leaky",
                              user="tw_tenant_zz_1", password="leaky-tenant-password")
    tenant.autocommit = True
    ledger = Ledger()
    try:
        check_reads(ledger, tenant, owner, "zz:1", [ORDERS])
        check_attempts(ledger, tenant, owner, "zz:1", "zz:2")
    finally:
        tenant.close()
        owner.close()
    leaks = "\n".join(ledger.leaks)
    assert "reachable relations" in leaks and "('marts', 'fct_orders')" in leaks
    assert "tenant.orders shows 1 rows of other tenants" in leaks
    assert "marts.fct_orders answered" in leaks
    assert "copy a mart to stdout was allowed" in leaks
