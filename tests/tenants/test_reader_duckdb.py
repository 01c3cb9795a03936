"""The DuckDB side of `tenant_reader` and the SQL guard every tenant query passes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.access import _psycopg2_placeholders, tenant_reader
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.tenants.sql_guard import check_tenant_sql

ROWS_PER_TENANT = {"uk:1": 1_203, "uk:2": 17, "fr:1": 5}


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file with the marts' shape for three tenants (what `warehouse build` writes)."""
    path = tmp_path_factory.mktemp("tenant_duckdb") / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts")
        connection.execute("create schema raw")
        connection.execute(
            "create table marts.fct_orders (instance_id text, organization_id bigint, "
            "tenant_id text, order_id bigint, total decimal(18, 2), completed_at timestamptz)"
        )
        order_id = 0
        for tenant_id, rows in ROWS_PER_TENANT.items():
            instance, organization = tenant_id.split(":")
            for _ in range(rows):
                order_id += 1
                connection.execute(
                    "insert into marts.fct_orders values (?, ?, ?, ?, ?, now())",
                    [instance, int(organization), tenant_id, order_id, order_id / 100],
                )
        connection.execute(
            "create table marts.turnover_global_month as select 1 as turnover_cents"
        )
        connection.execute("create table raw.orders as select * from marts.fct_orders")
    return path


@pytest.fixture
def settings(duckdb_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TW_DUCKDB_PATH", str(duckdb_warehouse))
    return Settings(home=tmp_path)


def test_batches_hold_every_row_of_the_tenant_and_no_other(settings: Settings) -> None:
    for tenant_id, expected in ROWS_PER_TENANT.items():
        with tenant_reader(settings, "duckdb", tenant_id) as reader:
            assert [r.name for r in reader.relations()] == ["orders"]  # only what exists
            batches = list(reader.batches("orders", batch_rows=100))
        assert all(batch.num_rows <= 100 for batch in batches)
        table = pa.Table.from_batches(batches)
        assert table.num_rows == expected
        assert set(table.column("tenant_id").to_pylist()) == {tenant_id}
        assert table.schema.field("total").type == pa.decimal128(18, 2)


def test_query_sees_the_tenant_views_only(settings: Settings) -> None:
    with tenant_reader(settings, "duckdb", "uk:2") as reader:
        result = reader.query(
            "with mine as (select * from tenant.orders) "
            "select count(*) as n, count(distinct tenant_id) as tenants from mine where total > ?",
            [0],
        )
        assert result.to_pylist() == [{"n": 17, "tenants": 1}]
        assert reader.query("select count(*) as n from tenant.orders where tenant_id = 'uk:1'") \
            .to_pylist() == [{"n": 0}]
        for attempt in (
            "select * from warehouse.marts.fct_orders",
            "select * from marts.fct_orders",
            "select * from raw.orders",
            "select * from query_table('warehouse.marts.fct_orders')",
            "select * from read_parquet('/tmp/x.parquet')",
            "select 1; select * from warehouse.marts.fct_orders",
            "attach '/tmp/other.duckdb' as other",
            "set lock_configuration = false",
            "copy (select 1) to '/tmp/leak.csv'",
            "select getvariable('x')",
        ):
            with pytest.raises(TenantError, match="tenant query"):
                reader.query(attempt)
        # Below the guard, the connection itself cannot reach files or unlock its settings.
        connection = reader._connection  # type: ignore[attr-defined]
        with pytest.raises(duckdb.Error):
            connection.execute("select * from read_csv('/etc/hostname')")
        with pytest.raises(duckdb.Error):
            connection.execute("set enable_external_access = true")
        with pytest.raises(duckdb.Error):
            connection.execute("delete from warehouse.marts.fct_orders")


def test_unknown_relation_and_missing_warehouse_are_clear(settings: Settings, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with tenant_reader(settings, "duckdb", "uk:1") as reader, pytest.raises(
        TenantError, match="relation 'turnover_global_month': not a tenant-facing relation"
    ):
        list(reader.batches("turnover_global_month"))
    monkeypatch.setenv("TW_DUCKDB_PATH", str(tmp_path / "none.duckdb"))
    with pytest.raises(TenantAccessError, match="no DuckDB warehouse yet"), \
            tenant_reader(Settings(home=tmp_path), "duckdb", "uk:1"):
        pass


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_guard_accepts_ordinary_reporting_sql(dialect: str) -> None:
    published = {"orders", "turnover_by_organization_month"}
    for text in (
        "select month_start, sum(turnover_cents) as cents from tenant.turnover_by_organization_month "
        "group by 1 order by 1",
        "select o.order_id from tenant.orders as o where o.completed_at >= ? and o.state in ('complete')",
        "select * from tenant.orders union all select * from tenant.orders",
    ):
        check_tenant_sql(text, published, dialect)


def test_placeholders_become_psycopg2_ones_outside_literals() -> None:
    assert _psycopg2_placeholders("select '?', \"a?\" from t where x = ? and y like '5%'") == \
        "select '?', \"a?\" from t where x = %s and y like '5%%'"
