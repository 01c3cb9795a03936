"""The dashboard over a real warehouse, served by uvicorn, driven by Debian's headless Chromium.

`dashboard_warehouse` (session): the reference platform at a small scale, loaded by dlt into
DuckDB and built by dbt once; logins for two tenants of two instances (A in `uk`, B in `fr`)
and an operator, stored through the tenant registry. `dashboard_url` (session): the app on an
ephemeral 127.0.0.1 port. `browser` (session): Playwright's Chromium from /usr/bin (never a
downloaded one); missing, it fails under CI=true and skips otherwise.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.registry import operator_principal, store_password, tenant_principal
from tenant_warehouse.web.app import create_app
from tests.support.environment import is_ci
from tests.support.pipeline import Pipeline
from tests.web.helpers import running

SEED, SCALE = 5, 0.003
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@dataclass(frozen=True)
class Login:
    login: str
    password: str
    tenant_id: str | None


@dataclass(frozen=True)
class DashboardWarehouse:
    settings: Settings
    tenant_a: Login
    tenant_b: Login
    operator: Login

    def marts(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows straight from the marts (what the dashboard must show), read-only."""
        with duckdb.connect(str(self.settings.duckdb_path), read_only=True) as connection:
            cursor = connection.execute(sql, list(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _busiest_tenant(path: Path, instance: str) -> str:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            "select t.tenant_id from marts.turnover_by_organization_month as t"
            " join marts.message_delivery_by_organization_month as d using (tenant_id, month_start)"
            " where t.instance_id = ? group by t.tenant_id"
            " order by count(*) desc, sum(t.turnover_cents) desc limit 1",
            [instance],
        ).fetchone()
    assert row, f"no tenant with turnover and messages in instance {instance}"
    return str(row[0])


@pytest.fixture(scope="session")
def dashboard_warehouse(tmp_path_factory: pytest.TempPathFactory) -> DashboardWarehouse:
    pipeline = Pipeline(home=tmp_path_factory.mktemp("dashboard"))
    pipeline.generate(seed=SEED, scale=SCALE)
    pipeline.ingest()
    # Seeds, snapshots and models: the data tests prove the marts elsewhere, not here.
    pipeline.dbt("build", "--exclude-resource-type", "test", "unit_test")
    settings = Settings(home=pipeline.home)
    tenant_a = _busiest_tenant(settings.duckdb_path, "uk")
    tenant_b = _busiest_tenant(settings.duckdb_path, "fr")
    logins = []
    for tenant_id in (tenant_a, tenant_b):
        principal = tenant_principal(tenant_id)
        logins.append(Login(principal.login, f"pw-{principal.login}-not-secret", tenant_id))
        store_password(settings, principal, logins[-1].password)
    operator = Login("ops.lead", "pw-operator-not-secret", None)
    store_password(settings, operator_principal(operator.login), operator.password)
    return DashboardWarehouse(settings, logins[0], logins[1], operator)


@pytest.fixture(scope="session")
def dashboard_url(dashboard_warehouse: DashboardWarehouse) -> Iterator[str]:
    with running(create_app(dashboard_warehouse.settings, "duckdb")) as url:
        yield url


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if is_ci():
            pytest.fail("chromium is required when CI=true (make browser installs it)")
        pytest.skip("chromium not installed (make browser, as root)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()
