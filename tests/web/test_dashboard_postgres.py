"""The dashboard over a PostgreSQL warehouse: tenant pages read as the tenant's role (through
the tenant door), the operator page through the server's read-only connection.

A private cluster (roles are cluster-wide: tenant roles must not meet other suites'), the
reference platform at a small scale through dlt and dbt, two tenants granted with `warehouse
tenants grant` and an operator. Plain HTTP: the browser side is covered on DuckDB.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
import psycopg2.extras
import pytest

from tenant_warehouse.cli import main as warehouse_cli
from tenant_warehouse.postgres import PgServer, PostgresUnavailable, PrivateCluster, create_database
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.ids import role_name
from tenant_warehouse.tenants.registry import operator_principal, store_password
from tenant_warehouse.web.app import create_app
from tenant_warehouse.web.tenant_view import format_money
from tests.support.pg import unavailable
from tests.support.pipeline import Pipeline
from tests.web.helpers import Client, running

SEED, SCALE = 5, 0.003
DATABASE = "tw_dashboard"


@dataclass(frozen=True)
class PgDashboard:
    url: str
    server: PgServer
    tenant_a: str
    tenant_b: str
    passwords: dict[str, str]

    def marts(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        connection = self.server.connect(DATABASE)
        try:
            with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                cursor.execute(sql, params)
                return [dict(row) for row in cursor.fetchall()]
        finally:
            connection.close()


@pytest.fixture(scope="module")
def pg_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgDashboard]:
    # Under /tmp: run as root, the cluster runs as the postgres account, which must reach it.
    base = Path(tempfile.mkdtemp(prefix="tw_web_pg_", dir="/tmp"))
    cluster = PrivateCluster(base_dir=base)
    try:
        server = cluster.start()
    except (PostgresUnavailable, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        unavailable(f"private PostgreSQL cluster for the dashboard: {exc}")
    try:
        create_database(server, DATABASE)
        env = server.warehouse_env(DATABASE)
        pipeline = Pipeline(tmp_path_factory.mktemp("dashboard_pg"), warehouse="postgres", env=env)
        pipeline.generate(seed=SEED, scale=SCALE)
        pipeline.ingest()
        pipeline.dbt("build", "--exclude-resource-type", "test", "unit_test")
        connection = server.connect(DATABASE)
        with connection.cursor() as cursor:
            cursor.execute(
                "select instance_id, tenant_id from marts.turnover_by_organization_month"
                " where instance_id in ('uk', 'fr') group by 1, 2"
                " order by 1, count(*) desc, sum(turnover_cents) desc"
            )
            busiest: dict[str, str] = {}
            for instance, tenant in cursor.fetchall():
                busiest.setdefault(instance, tenant)
        connection.close()
        passwords = {}
        with pytest.MonkeyPatch.context() as patch, pipeline.environment() as settings:
            for tenant_id in (busiest["uk"], busiest["fr"]):
                passwords[tenant_id] = f"pw-{tenant_id}-" + os.urandom(6).hex()
                patch.setenv("TW_TENANT_PASSWORD", passwords[tenant_id])
                assert warehouse_cli(["tenants", "grant", tenant_id, "--warehouse", "postgres"]) == 0
            store_password(settings, operator_principal("ops"), "pw-operator-not-secret")
        with pytest.MonkeyPatch.context() as patch:
            # The app reads TW_PG_* at each request (as `warehouse serve` does from its env).
            for key, value in env.items():
                patch.setenv(key, value)
            app = create_app(Settings(home=pipeline.home), "postgres")
            with running(app) as url:
                yield PgDashboard(url, server, busiest["uk"], busiest["fr"], passwords)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_tenant_numbers_come_from_its_role(pg_dashboard: PgDashboard) -> None:
    wh, a, b = pg_dashboard, pg_dashboard.tenant_a, pg_dashboard.tenant_b
    client = Client(wh.url)
    assert client.log_in(role_name(a), wh.passwords[a] + "x")[0] == 401
    status, _ = client.log_in(role_name(a), wh.passwords[a])
    assert status == 303
    status, body = client.request("/api/dashboard")
    assert status == 200
    board = json.loads(body)
    turnover = wh.marts(
        "select month_start, completed_orders, turnover_cents from"
        " marts.turnover_by_organization_month where tenant_id = %s order by month_start", (a,),
    )  # fmt: skip
    assert len(turnover) >= 3
    assert [(r["month"], r["completed_orders"], r["turnover_cents"]) for r in board["turnover"]] == [
        (f"{r['month_start']:%Y-%m}", r["completed_orders"], r["turnover_cents"]) for r in turnover
    ]
    messages = wh.marts(
        "select sum(inbound_messages) as inbound, sum(outbound_messages) as outbound"
        " from marts.message_delivery_by_organization_month where tenant_id = %s", (a,),
    )[0]  # fmt: skip
    assert sum(r["inbound_messages"] for r in board["delivery"]) == messages["inbound"]
    assert sum(r["outbound_messages"] for r in board["delivery"]) == messages["outbound"]

    b_rows = wh.marts(
        "select b.currency, b.billed_cents, b.turnover_cents, o.organization_name"
        " from marts.billing_by_organization_month as b join marts.dim_organizations as o"
        " using (tenant_id) where tenant_id = %s", (b,),
    )  # fmt: skip
    markers = {b, role_name(b), b_rows[0]["organization_name"]} | {
        format_money(r[column], r["currency"]) for r in b_rows
        for column in ("billed_cents", "turnover_cents")
    }  # fmt: skip
    pages = ["/dashboard", "/api/dashboard", "/api/statements", "/statements",
             "/downloads/csv", "/downloads/csv/orders.csv"]  # fmt: skip
    for path in pages:
        status, text = client.request(path)
        assert status == 200, (path, text[:300])
        leaked = [m for m in markers if m in text]
        assert not leaked, f"{path} shows tenant {b}'s data: {leaked[:3]}"
    assert a in client.request("/downloads/csv/orders.csv")[1]
    for path in (f"/api/dashboard?tenant_id={quote(b)}", "/api/operator"):
        assert client.request(path)[0] in (400, 403), path


def test_operator_reads_the_global_marts(pg_dashboard: PgDashboard) -> None:
    client = Client(pg_dashboard.url)
    assert client.log_in("ops", "pw-operator-not-secret")[0] == 303
    status, body = client.request("/api/operator")
    assert status == 200
    board = json.loads(body)
    expected = pg_dashboard.marts(
        "select month_start, turnover_cents from marts.turnover_global_month order by month_start"
    )
    assert [(r["month"], r["turnover_cents"]) for r in board["turnover_global"]] == [
        (f"{r['month_start']:%Y-%m}", r["turnover_cents"]) for r in expected
    ]
    tenants = {row["tenant_id"] for row in board["newest_organizations"]}
    assert {pg_dashboard.tenant_a, pg_dashboard.tenant_b} <= tenants
    assert client.request("/dashboard")[0] == 403
