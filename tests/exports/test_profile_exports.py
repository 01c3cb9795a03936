"""Exports of a warehouse whose platform profile builds no orders: the dump holds exactly the
relations the profile publishes (no empty pretend files for orders or billing, not the stale
billing table left in the warehouse), and the all-tenant pre-check digests the same relations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenant_warehouse.exports import export_tenant
from tenant_warehouse.exports.fingerprint import tenant_fingerprints
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import profile_doors
from tests.exports.billing_scenario import billing_warehouse
from tests.tenants.profile_fixture import ORDER_RELATIONS, without_orders


@pytest.fixture(scope="module")
def chatbot(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    built = billing_warehouse(tmp_path_factory).home
    return Settings(home=without_orders(built, tmp_path_factory.mktemp("chatbot") / "home"))


def test_export_holds_what_the_profile_publishes(
    chatbot: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_HOME", str(chatbot.home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    tenant_id = "uk:2"
    result = export_tenant(chatbot, "duckdb", tenant_id, "csv", tmp_path / "out")
    published = {r.name for r in profile_doors(chatbot, "duckdb").published}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["relations"]) == set(result.rows) == published
    assert not published & ORDER_RELATIONS and result.rows["messages"] > 0
    assert {f.path.stem for f in result.files} == published
    # The pre-check of several tenants sees the same relations as the door.
    assert tenant_fingerprints(chatbot, "duckdb", [tenant_id]) == {tenant_id: result.fingerprint}
