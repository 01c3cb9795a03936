"""A PostgreSQL warehouse with tenant logins, on a private cluster that checks passwords.

The shared server on 127.0.0.1:5432 trusts every TCP login and its roles are cluster-wide, so
these tests start their own cluster (initdb + pg_ctl, tenant_warehouse.postgres.PrivateCluster)
with `scram-sha-256` for TCP: a tenant logs in with its password like a real client, the owner
(dbt, dlt, `warehouse tenants`) is the cluster's superuser with a password too.

One warehouse per session: reference platform (SQLite, tiny scale) -> dlt -> PostgreSQL -> dbt
build (models, seeds, snapshots; the data tests are other suites' business), then four tenants of
two instances granted through `warehouse tenants grant`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import encrypt_password

from tenant_warehouse.postgres import (
    PgServer,
    PostgresUnavailable,
    PrivateCluster,
    create_database,
)
from tests.support.pg import unavailable
from tests.support.pipeline import Pipeline

SCALE = 0.005
SEED = 14
TENANTS_PER_INSTANCE = 2
TENANT_INSTANCES = ("uk", "fr")
BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test", "test")


@dataclass
class TenantWarehouse:
    server: PgServer           # the owner (superuser, password)
    database: str
    pipeline: Pipeline
    passwords: dict[str, str]  # tenant id -> password
    other_tenant: str          # a tenant of the warehouse with no login

    def owner(self) -> psycopg2.extensions.connection:
        return self.server.connect(self.database)

    def login(self, tenant_id: str, password: str | None = None) -> psycopg2.extensions.connection:
        from tenant_warehouse.tenants.ids import role_name

        connection = psycopg2.connect(
            host=self.server.host, port=self.server.port, dbname=self.database,
            user=role_name(tenant_id), password=self.passwords[tenant_id] if password is None else password,
            connect_timeout=5,
        )
        connection.autocommit = True
        return connection

    def cli(self, *args: str, env: dict[str, str] | None = None) -> int:
        from tenant_warehouse.cli import main

        saved = {key: os.environ.get(key) for key in (env or {})}
        os.environ.update(env or {})
        try:
            with self.pipeline.environment():
                return main(list(args))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _scram_cluster(base: Path) -> tuple[PrivateCluster, PgServer]:
    cluster = PrivateCluster(base_dir=base)
    server = cluster.start()
    password = "owner-" + os.urandom(8).hex()
    connection = server.connect()
    with connection.cursor() as cursor:
        verifier = encrypt_password(password, server.user, connection, "scram-sha-256")
        cursor.execute(f"alter role {server.user} password %s", (verifier,))
    hba = cluster.data_dir / "pg_hba.conf"
    # Unix socket for the cluster's own tools; every TCP login (owner and tenants) by password.
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    with connection.cursor() as cursor:
        cursor.execute("select pg_reload_conf()")
    connection.close()
    return cluster, PgServer(server.host, server.port, server.user, password, origin="private")


@pytest.fixture(scope="session")
def scram_server() -> Iterator[PgServer]:
    # Under /tmp: when tests run as root the cluster runs as the postgres account, which must
    # reach its directory (pytest's tmp dirs are 0700).
    base = Path(tempfile.mkdtemp(prefix="tw_tenants_pg_", dir="/tmp"))
    try:
        cluster, server = _scram_cluster(base)
    except (PostgresUnavailable, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"private cluster for the tenant tests: {exc}")
    try:
        yield server
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def tenant_warehouse(
    scram_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> TenantWarehouse:
    database = "tw_tenants"
    create_database(scram_server, database)
    pipeline = Pipeline(
        tmp_path_factory.mktemp("tenants_home"), warehouse="postgres",
        env=scram_server.warehouse_env(database),
    )
    pipeline.generate(seed=SEED, scale=SCALE)
    pipeline.ingest()
    pipeline.dbt(*BUILD_ARGS)
    warehouse = TenantWarehouse(scram_server, database, pipeline, {}, other_tenant="")
    with warehouse.owner() as connection, connection.cursor() as cursor:
        # The organizations with the most orders: tenants with rows in every relation.
        cursor.execute(
            "select tenant_id, instance_id from marts.fct_orders where instance_id = any(%s) "
            "group by tenant_id, instance_id order by instance_id, count(*) desc, tenant_id",
            (list(TENANT_INSTANCES),),
        )
        ranked = cursor.fetchall()
    chosen = [
        tenant for instance in TENANT_INSTANCES
        for tenant in [t for t, i in ranked if i == instance][:TENANTS_PER_INSTANCE]
    ]
    assert len(chosen) == TENANTS_PER_INSTANCE * len(TENANT_INSTANCES), ranked
    warehouse.other_tenant = next(t for t, _ in ranked if t not in chosen)
    for number, tenant_id in enumerate(chosen):
        password = f"tenant-{number}-" + os.urandom(9).hex()
        code = warehouse.cli("tenants", "grant", tenant_id, "--warehouse", "postgres",
                             env={"TW_TENANT_PASSWORD": password})
        assert code == 0
        warehouse.passwords[tenant_id] = password
    return warehouse
