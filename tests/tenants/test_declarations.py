"""Tenant ids, the catalog, tenants.yml and the login registry: data in, clear errors out."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants import registry
from tenant_warehouse.tenants.catalog import FORBIDDEN_SCHEMAS, tenant_relations
from tenant_warehouse.tenants.config import EXAMPLE_PATH, load_tenants_config
from tenant_warehouse.tenants.errors import TenantError
from tenant_warehouse.tenants.ids import normalize_tenant_id, role_name, tenant_of_role


def test_tenant_ids_and_role_names_round_trip() -> None:
    assert role_name("uk:42") == "tw_tenant_uk_42"
    assert role_name(" uk:042 ") == "tw_tenant_uk_42"
    assert tenant_of_role("tw_tenant_north_uk_7") == "north_uk:7"
    assert normalize_tenant_id("fr:0012") == "fr:12"
    for bad in ("uk", "uk:", ":42", "UK:42", "uk:4x", "uk:42;drop role x", "uk:-1"):
        with pytest.raises(TenantError, match="not a tenant id"):
            role_name(bad)


def test_catalog_publishes_tenant_marts_only(tw_settings: Settings) -> None:
    relations = tenant_relations(tw_settings)
    names = {r.name for r in relations}
    assert {"orders", "contacts", "turnover_by_organization_month"} <= names
    assert all(r.source_schema == "marts" and r.tenant_column == "tenant_id" for r in relations)
    # Instance and global marts are not published.
    sources = {r.source_name for r in relations}
    assert not sources & {"turnover_global_month", "turnover_by_instance_month",
                          "active_users_global", "dim_instances", "new_organizations_by_month"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("relations:\n  - {name: runs, model: pipeline_status, schema: observability}",
         r"relations\[0\]\.schema: 'observability' is never readable"),
        ("relations:\n  - {name: raw_orders, model: orders, schema: raw}", "never readable"),
        ("relations:\n  - {name: fx, model: turnover_global_month, tenant_column: null}",
         "every tenant relation needs a tenant column"),
        ("relations:\n  - {name: a, model: fct_orders}\n  - {name: a, model: fct_messages}",
         "declared twice"),
        ("relations:\n  - {name: 'orders; drop', model: fct_orders}", "not a lowercase SQL"),
        ("relations:\n  - {name: a, model: b, filter: x}", "unknown key"),
        ("relations: [", "not valid YAML"),
    ],
)
def test_catalog_mistakes_name_the_key(
    tw_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    path = tmp_path / "catalog.yml"
    path.write_text(body)
    monkeypatch.setenv("TW_TENANT_CATALOG", str(path))
    with pytest.raises(TenantError, match=message) as error:
        tenant_relations(tw_settings)
    assert str(path) in str(error.value)
    assert "raw" in FORBIDDEN_SCHEMAS


def test_example_tenants_file_is_valid() -> None:
    config = load_tenants_config(EXAMPLE_PATH)
    assert config.tenant_ids() == ["uk:1", "uk:2", "fr:1", "au:3"]
    assert config.bigquery_writer and config.bigquery_writer.startswith("serviceAccount:")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tenants: ['uk:x']", r"tenants\[0\]\.tenant_id: tenant 'uk:x': not a tenant id"),
        ("tenants: ['uk:1', 'uk:01']", "tenant uk:1 declared twice"),
        ("tenants: [{tenant_id: 'uk:1', bigquery_grantees: ['bob@example.org']}]",
         r"bigquery_grantees\[0\]: 'bob@example.org' is not a BigQuery member"),
        ("tenants: [{tenant_id: 'uk:1', role: admin}]", "unknown key"),
        ("tenant: []", "unknown key"),
    ],
)
def test_tenants_file_mistakes_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "tenants.yml"
    path.write_text(body)
    with pytest.raises(TenantError, match=message):
        load_tenants_config(path)


def test_missing_explicit_tenants_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TW_TENANTS_FILE", str(tmp_path / "nope.yml"))
    with pytest.raises(TenantError, match=r"nope\.yml: tenants file not found"):
        load_tenants_config()


def test_registry_keeps_only_salted_hashes(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    tenant = registry.tenant_principal("uk:42")
    operator = registry.operator_principal("ops.anna")
    registry.store_password(settings, tenant, "correct horse battery")
    registry.store_password(settings, operator, "another long password")
    path = registry.credentials_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "correct horse battery" not in text and "another long password" not in text
    stored = json.loads(text)
    assert stored["tw_tenant_uk_42"]["password"].startswith("scrypt$")
    # Same password, another salt: another hash.
    registry.store_password(settings, registry.tenant_principal("uk:43"), "correct horse battery")
    assert json.loads(path.read_text())["tw_tenant_uk_43"]["password"] != stored["tw_tenant_uk_42"]["password"]

    assert registry.verify_login(settings, "tw_tenant_uk_42", "correct horse battery") == tenant
    assert registry.verify_login(settings, "ops.anna", "another long password") == operator
    assert registry.verify_login(settings, "tw_tenant_uk_42", "correct horse batterY") is None
    assert registry.verify_login(settings, "nobody", "correct horse battery") is None
    assert registry.remove_login(settings, "tw_tenant_uk_42")
    assert registry.verify_login(settings, "tw_tenant_uk_42", "correct horse battery") is None


def test_registry_refuses_weak_passwords_and_tenant_like_operators(tmp_path: Path) -> None:
    with pytest.raises(TenantError, match="password too short"):
        registry.store_password(Settings(home=tmp_path), registry.tenant_principal("uk:1"), "short")
    with pytest.raises(TenantError, match="are tenants"):
        registry.operator_principal("tw_tenant_uk_1")


def test_declared_tenants_come_from_the_file(
    tw_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tenants.yml"
    path.write_text("tenants: ['fr:7', {tenant_id: 'uk:3'}]\n")
    monkeypatch.setenv("TW_TENANTS_FILE", str(path))
    assert registry.declared_tenants(tw_settings) == ["fr:7", "uk:3"]


def test_grant_without_postgres_stores_a_login_and_shows_a_generated_password_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tenant_warehouse.cli import main

    monkeypatch.setenv("TW_HOME", str(tmp_path))
    monkeypatch.delenv("TW_TENANT_PASSWORD", raising=False)
    assert main(["tenants", "grant", "uk:7", "--warehouse", "duckdb"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "tw_tenant_uk_7"
    [shown] = [line for line in lines if line.startswith("password for tw_tenant_uk_7")]
    password = shown.rsplit(": ", 1)[1]
    settings = Settings(home=tmp_path)
    assert password not in registry.credentials_path(settings).read_text()
    assert registry.verify_login(settings, "tw_tenant_uk_7", password) == registry.tenant_principal("uk:7")

    monkeypatch.setenv("OPS_PASSWORD", "operator password here")
    assert main(["tenants", "operator", "ops", "--password-env", "OPS_PASSWORD"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["password for ops: from $OPS_PASSWORD", "ops"]
    assert registry.verify_login(settings, "ops", "operator password here").kind == "operator"

    assert main(["tenants", "revoke", "uk:7", "--warehouse", "duckdb"]) == 0
    assert main(["tenants", "revoke", "uk:7", "--warehouse", "duckdb"]) == 2
    assert "tenant uk:7: nothing to revoke" in capsys.readouterr().out
