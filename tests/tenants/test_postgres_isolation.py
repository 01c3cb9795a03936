"""Tenants on the PostgreSQL endpoint see their own rows and nothing else (issue 14).

For four tenants of two instances, logged in with their passwords: every relation the role can
reach is a `tenant.<name>` view equal to its mart filtered by tenant; every other relation of the
warehouse and every way around the views (roles, settings, functions, views, COPY, writes,
statistics) fails or shows only the tenant's rows; still true after a full rebuild of the marts
and an incremental cycle. The counts are printed at the end (tenants x relations x attempts).
"""

from __future__ import annotations

import psycopg2
import pytest

from tenant_warehouse import operations
from tenant_warehouse.tenants.access import tenant_reader
from tenant_warehouse.tenants.catalog import tenant_relations
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.tenants.ids import role_name
from tenant_warehouse.tenants.registry import verify_login
from tests.tenants.conftest import SEED, TenantWarehouse
from tests.tenants.leak_probe import Ledger, check_attempts, check_reads

pytestmark = pytest.mark.postgres
LEDGER = Ledger()


def _check_everything(warehouse: TenantWarehouse) -> None:
    with warehouse.pipeline.environment() as settings:
        relations = tenant_relations(settings)
    tenants = sorted(warehouse.passwords)
    owner = warehouse.owner()
    try:
        for number, tenant_id in enumerate(tenants):
            other = tenants[(number + 1) % len(tenants)]  # alternately same and other instance
            tenant = warehouse.login(tenant_id)
            try:
                check_reads(LEDGER, tenant, owner, tenant_id, relations)
                check_attempts(LEDGER, tenant, owner, tenant_id, other)
            finally:
                tenant.close()
    finally:
        owner.close()
    LEDGER.passes += 1
    assert not LEDGER.leaks, "\n".join(LEDGER.leaks)


def test_each_tenant_reads_exactly_its_rows_and_cannot_cross(tenant_warehouse: TenantWarehouse) -> None:
    _check_everything(tenant_warehouse)
    # The tenants really have data: an empty warehouse would pass the comparisons trivially.
    with tenant_warehouse.owner() as owner, owner.cursor() as cursor:
        cursor.execute("select count(distinct tenant_id) from marts.fct_orders where tenant_id = any(%s)",
                       (list(tenant_warehouse.passwords),))
        assert cursor.fetchone()[0] == len(tenant_warehouse.passwords)


def test_login_needs_the_right_password(tenant_warehouse: TenantWarehouse) -> None:
    tenant_id = sorted(tenant_warehouse.passwords)[0]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        tenant_warehouse.login(tenant_id, password="not-the-password")
    with tenant_warehouse.pipeline.environment() as settings:
        principal = verify_login(settings, role_name(tenant_id), tenant_warehouse.passwords[tenant_id])
        assert principal is not None and principal.tenant_id == tenant_id
        assert verify_login(settings, role_name(tenant_id), "not-the-password") is None
    with tenant_warehouse.owner() as owner, owner.cursor() as cursor:
        # PostgreSQL keeps a SCRAM verifier, never the password.
        cursor.execute("select rolpassword from pg_authid where rolname = %s", (role_name(tenant_id),))
        stored = cursor.fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$")
        assert tenant_warehouse.passwords[tenant_id] not in stored


def test_tenant_reader_runs_as_the_tenant(tenant_warehouse: TenantWarehouse) -> None:
    tenant_id = sorted(tenant_warehouse.passwords)[0]
    with tenant_warehouse.pipeline.environment() as settings, \
            tenant_reader(settings, "postgres", tenant_id) as reader:
        names = [relation.name for relation in reader.relations()]
        assert names == [relation.name for relation in tenant_relations(settings)]
        # Two streams and a query interleaved: each stream has its own connection.
        rows, tenant_ids = 0, set()
        order_stream = reader.batches("orders", batch_rows=7)
        # Contacts first: zip stops on them without pulling (and dropping) an order batch.
        for contact_batch, batch in zip(reader.batches("contacts", batch_rows=3), order_stream,
                                        strict=False):
            rows += batch.num_rows
            tenant_ids |= set(batch.column("tenant_id").to_pylist())
            tenant_ids |= set(contact_batch.column("tenant_id").to_pylist())
            assert reader.query("select count(*) as n from tenant.messages").num_rows == 1
        for batch in order_stream:
            rows += batch.num_rows
            tenant_ids |= set(batch.column("tenant_id").to_pylist())
        table = reader.query(
            "select count(*) as n, current_user as who from tenant.orders where tenant_id <> ?",
            [tenant_id],
        )
        with pytest.raises(TenantError, match=r"marts\.fct_orders is not a tenant relation"):
            reader.query("select count(*) from marts.fct_orders")
        with pytest.raises(TenantError, match="set_config"):
            reader.query("select set_config('role', 'postgres', true)")
    with tenant_warehouse.owner() as owner, owner.cursor() as cursor:
        cursor.execute("select count(*) from marts.fct_orders where tenant_id = %s", (tenant_id,))
        assert rows == cursor.fetchone()[0] > 7
    assert tenant_ids == {tenant_id}
    assert table.to_pylist() == [{"n": 0, "who": role_name(tenant_id)}]


def test_tenant_without_a_login_is_refused(tenant_warehouse: TenantWarehouse) -> None:
    with tenant_warehouse.pipeline.environment() as settings, pytest.raises(
        TenantError, match=f"tenant {tenant_warehouse.other_tenant}: no access"
    ), tenant_reader(settings, "postgres", tenant_warehouse.other_tenant):
        pass


def test_grant_rejects_an_unknown_tenant(tenant_warehouse: TenantWarehouse, capsys: pytest.CaptureFixture[str]) -> None:
    code = tenant_warehouse.cli("tenants", "grant", "uk:999999", "--warehouse", "postgres",
                                env={"TW_TENANT_PASSWORD": "a-long-enough-password"})
    assert code == 2
    assert "tenant uk:999999: not in marts.dim_organizations" in capsys.readouterr().out


def test_sync_grants_declared_tenants_and_prune_ends_access(
    tenant_warehouse: TenantWarehouse, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant_id, password = tenant_warehouse.other_tenant, "synced-tenant-password"
    declared = tmp_path / "tenants.yml"
    declared.write_text("tenants: [" + ", ".join(
        f"'{t}'" for t in [*tenant_warehouse.passwords, tenant_id]) + "]\n")
    variable = "TW_TENANT_PASSWORD_" + role_name(tenant_id).removeprefix("tw_tenant_").upper()
    env = {"TW_TENANTS_FILE": str(declared), variable: password}
    assert tenant_warehouse.cli("tenants", "sync", "--warehouse", "postgres", env=env) == 0
    out = capsys.readouterr().out
    assert f"password for {role_name(tenant_id)}: from ${variable}" in out
    assert "5 declared, 1 granted, 0 revoked" in out  # the four granted before are kept
    session = tenant_warehouse.login(tenant_id, password)

    declared.write_text("tenants: [" + ", ".join(f"'{t}'" for t in tenant_warehouse.passwords) + "]\n")
    assert tenant_warehouse.cli("tenants", "sync", "--prune", "--warehouse", "postgres", env=env) == 0
    assert f"revoked {role_name(tenant_id)} (not declared)" in capsys.readouterr().out
    with pytest.raises(psycopg2.Error):  # its open session was ended
        session.cursor().execute("select 1")
    with pytest.raises(psycopg2.OperationalError):
        tenant_warehouse.login(tenant_id, password)
    assert tenant_warehouse.cli("tenants", "list", "--warehouse", "postgres", env=env) == 0
    listing = capsys.readouterr().out
    assert role_name(tenant_id) not in listing
    assert all(f"{t}\t{role_name(t)}\tyes\t" in listing for t in tenant_warehouse.passwords)
    assert tenant_warehouse.cli("tenants", "revoke", tenant_id, "--warehouse", "postgres") == 2
    assert f"tenant {tenant_id}: nothing to revoke" in capsys.readouterr().out


def test_a_missing_mart_fails_the_build_loudly(tenant_warehouse: TenantWarehouse, tmp_path, monkeypatch) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("relations:\n  - {name: orders, model: fct_orders}\n"
                       "  - {name: ghosts, model: fct_ghosts}\n")
    monkeypatch.setenv("TW_TENANT_CATALOG", str(catalog))
    with tenant_warehouse.pipeline.environment() as settings, pytest.raises(
        TenantAccessError, match=r"marts\.fct_ghosts"
    ):
        operations._refresh_tenant_access(settings, "postgres")
    monkeypatch.delenv("TW_TENANT_CATALOG")
    with tenant_warehouse.pipeline.environment() as settings:
        operations._refresh_tenant_access(settings, "postgres")  # back to the real catalog


def test_shared_reference_data_is_published_explicitly(
    tenant_warehouse: TenantWarehouse, tmp_path, monkeypatch
) -> None:
    catalog = tmp_path / "catalog.yml"
    catalog.write_text(
        "relations:\n  - {name: orders, model: fct_orders}\n"
        "  - {name: instances, model: dim_instances, scope: shared}\n"
    )
    monkeypatch.setenv("TW_TENANT_CATALOG", str(catalog))
    tenant_id = sorted(tenant_warehouse.passwords)[0]
    try:
        with tenant_warehouse.pipeline.environment() as settings:
            operations._refresh_tenant_access(settings, "postgres")
            relations = tenant_relations(settings)
        ledger = Ledger()
        with tenant_warehouse.owner() as owner, tenant_warehouse.login(tenant_id) as tenant:
            check_reads(ledger, tenant, owner, tenant_id, relations)
            with tenant.cursor() as cursor:
                cursor.execute("select count(*) from tenant.instances")
                assert cursor.fetchone()[0] == 3  # every instance, for every tenant
                cursor.execute("select count(*) from tenant.orders where tenant_id <> %s", (tenant_id,))
                assert cursor.fetchone()[0] == 0
        assert not ledger.leaks, ledger.leaks
        # The catalog's other relations are gone from schema tenant, not left behind.
        assert ledger.relation_reads == 2
        # A mart with per-tenant rows can never be shared.
        catalog.write_text("relations:\n  - {name: orders, model: fct_orders, scope: shared}\n")
        with tenant_warehouse.pipeline.environment() as settings, pytest.raises(
            TenantAccessError, match="cannot be shared with every tenant"
        ):
            operations._refresh_tenant_access(settings, "postgres")
    finally:
        monkeypatch.delenv("TW_TENANT_CATALOG")
        with tenant_warehouse.pipeline.environment() as settings:
            operations._refresh_tenant_access(settings, "postgres")


def test_isolation_holds_after_full_rebuild_and_incremental_cycle(tenant_warehouse: TenantWarehouse) -> None:
    pipeline = tenant_warehouse.pipeline
    with pipeline.environment() as settings:
        models = [relation.source_name for relation in tenant_relations(settings)]
        # dbt replaces every published mart (create, rename, drop ... cascade): the views go.
        assert operations.build(settings, "postgres", args=["run", "--full-refresh", "--select", *models])
    _check_everything(tenant_warehouse)

    with tenant_warehouse.owner() as owner, owner.cursor() as cursor:
        cursor.execute("select count(*), max(refreshed_at) from marts.fct_orders")
        before = cursor.fetchone()
    pipeline.simulate(seed=SEED, ticks=1)
    pipeline.ingest()
    with pipeline.environment() as settings:
        operations.cycle_build(settings, "postgres")
    with tenant_warehouse.owner() as owner, owner.cursor() as cursor:
        cursor.execute("select count(*), max(refreshed_at) from marts.fct_orders")
        assert cursor.fetchone() != before  # the cycle really merged new rows
    _check_everything(tenant_warehouse)


def test_leak_counts(capsys: pytest.CaptureFixture[str]) -> None:
    # Runs last in this module: the totals of the three passes above.
    assert LEDGER.relation_reads and LEDGER.attempts and not LEDGER.leaks
    with capsys.disabled():
        print(f"\ntenant leak tests: {LEDGER.summary()}")
