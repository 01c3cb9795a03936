"""The dashboard of a warehouse whose platform profile builds no orders (a chatbot platform):
pages render without the sections whose marts the profile does not build (no turnover, no
statements; the operator page without global turnover), and say which relations the tenant gets.
Plain HTTP against the served app (no browser needed)."""

from __future__ import annotations

import re

import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import profile_doors
from tenant_warehouse.tenants.registry import operator_principal, store_password, tenant_principal
from tenant_warehouse.web.app import create_app
from tests.exports.billing_scenario import billing_warehouse
from tests.tenants.profile_fixture import ORDER_RELATIONS, without_orders
from tests.web.helpers import Client, running

TENANT = "uk:2"


def test_pages_leave_out_what_the_profile_does_not_build(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = billing_warehouse(tmp_path_factory).home
    home = without_orders(built, tmp_path_factory.mktemp("chatbot") / "home")
    monkeypatch.setenv("TW_HOME", str(home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    settings = Settings(home=home)
    tenant = tenant_principal(TENANT)
    store_password(settings, tenant, "pw-tenant-not-secret")
    store_password(settings, operator_principal("ops"), "pw-operator-not-secret")
    published = sorted(r.name for r in profile_doors(settings, "duckdb").published)
    with running(create_app(settings, "duckdb")) as url:
        client = Client(url)
        assert client.log_in(tenant.login, "pw-tenant-not-secret")[0] == 303
        status, page = client.request("/dashboard")
        assert status == 200, page[:2000]
        assert 'id="messages"' in page and 'id="active-users"' in page
        assert 'id="turnover"' not in page and 'id="statements"' not in page
        shown = re.search(r'data-relations="([^"]*)"', page)
        assert shown and sorted(shown[1].split()) == published
        assert not set(published) & ORDER_RELATIONS
        assert client.request("/api/statements") == (200, "[]")
        operator = Client(url)
        assert operator.log_in("ops", "pw-operator-not-secret")[0] == 303
        status, page = operator.request("/operator")
        assert status == 200, page[:2000]
        assert 'id="turnover"' not in page and 'id="new-organizations"' in page
        assert 'id="active-users"' in page
