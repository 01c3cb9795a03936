"""BigQuery row access policies compiled from tenants.yml, and the offline check that proves a
published table is covered for every declared tenant and for dbt's writing account."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.bigquery_access import (
    check_manifest,
    offline_check,
    parse_policies,
    render,
)
from tenant_warehouse.tenants.catalog import tenant_relations
from tenant_warehouse.tenants.config import EXAMPLE_PATH, TenantsConfig, load_tenants_config

PROJECT = "tw-offline-check"


def manifest_for(settings: Settings, materialized: dict[str, str] | None = None) -> dict:
    """The part of a BigQuery `dbt compile` manifest the policies read, for the catalog's marts
    (check-bigquery passes the real one; tests/bigquery runs that end to end)."""
    nodes = {}
    for relation in tenant_relations(settings):
        name = relation.source_name
        nodes[f"model.tenant_warehouse.{name}"] = {
            "resource_type": "model", "name": name, "database": PROJECT,
            "schema": relation.source_schema, "alias": name,
            "config": {"materialized": (materialized or {}).get(name, "table")},
        }
    return {"nodes": nodes}


@pytest.fixture
def config() -> TenantsConfig:
    return load_tenants_config(EXAMPLE_PATH)


def test_compiled_policies_cover_every_table_tenant_and_the_writer(
    tw_settings: Settings, config: TenantsConfig
) -> None:
    compiled, problems = check_manifest(tw_settings, manifest_for(tw_settings), config)
    assert problems == []
    policies = parse_policies(compiled)
    tables = len(tenant_relations(tw_settings))
    with_grantees = [t for t in config.tenants if t.bigquery_grantees]
    assert len(policies) == tables * (len(with_grantees) + 1)
    orders = [p for p in policies if p.table == f"{PROJECT}.marts.fct_orders"]
    assert {p.name: p.filter for p in orders} == {
        "tw_writer": "TRUE",
        "tw_tenant_uk_1": "tenant_id = 'uk:1'",
        "tw_tenant_uk_2": "tenant_id = 'uk:2'",
        "tw_tenant_fr_1": "tenant_id = 'fr:1'",
    }
    # A tenant without BigQuery grantees gets no policy, hence no rows there.
    assert not any("au" in p.name for p in policies)
    assert render(policies) == compiled


def _without(compiled: str, policy: str, table: str) -> str:
    statements = compiled.split("\n\n")
    kept = [s for s in statements if f"policy {policy} on `{table}`" not in s]
    assert len(kept) == len(statements) - 1
    return "\n\n".join(kept)


def test_a_missing_tenant_policy_fails_the_check(tw_settings: Settings, config: TenantsConfig) -> None:
    manifest = manifest_for(tw_settings)
    compiled, _ = check_manifest(tw_settings, manifest, config)
    broken = _without(compiled, "tw_tenant_uk_2", f"{PROJECT}.marts.fct_messages")
    _, problems = check_manifest(tw_settings, manifest, config, policies_sql=broken)
    assert problems == [
        f"tenant relation messages (fct_messages): tenant uk:2 has no row access policy on "
        f"{PROJECT}.marts.fct_messages"
    ]


def test_a_missing_writer_policy_fails_the_check(tw_settings: Settings, config: TenantsConfig) -> None:
    manifest = manifest_for(tw_settings)
    compiled, _ = check_manifest(tw_settings, manifest, config)
    broken = _without(compiled, "tw_writer", f"{PROJECT}.marts.fct_orders")
    _, problems = check_manifest(tw_settings, manifest, config, policies_sql=broken)
    assert len(problems) == 1 and "no tw_writer FILTER USING (TRUE) policy" in problems[0]


def test_wrong_or_too_wide_policies_fail_the_check(tw_settings: Settings, config: TenantsConfig) -> None:
    manifest = manifest_for(tw_settings)
    compiled, _ = check_manifest(tw_settings, manifest, config)
    wide = compiled.replace(
        "grant to (\"group:uk-1-analysts@example.org\")\n  filter using (tenant_id = 'uk:1')",
        "grant to (\"group:uk-1-analysts@example.org\")\n  filter using (TRUE)", 1,
    )
    _, problems = check_manifest(tw_settings, manifest, config, policies_sql=wide)
    assert any("lets group:uk-1-analysts@example.org read every tenant's rows" in p for p in problems)
    swapped = compiled.replace("filter using (tenant_id = 'uk:1')",
                               "filter using (tenant_id = 'uk:2')", 1)
    _, problems = check_manifest(tw_settings, manifest, config, policies_sql=swapped)
    assert any("does not match a declared tenant" in p for p in problems)


def test_views_and_missing_models_cannot_carry_policies(tw_settings: Settings, config: TenantsConfig) -> None:
    manifest = manifest_for(tw_settings, materialized={"fct_orders": "view"})
    del manifest["nodes"]["model.tenant_warehouse.fct_messages"]
    _, problems = check_manifest(tw_settings, manifest, config)
    assert "tenant relation orders (fct_orders): materialized as view; row access policies need a table" in problems
    assert "tenant relation messages (fct_messages): no such model in the BigQuery manifest" in problems


def test_declared_tenants_without_a_writer_fail_the_check(
    tw_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "tenants.yml"
    path.write_text("tenants: [{tenant_id: 'uk:1', bigquery_grantees: ['group:a@example.org']}]\n")
    _, problems = check_manifest(tw_settings, manifest_for(tw_settings), load_tenants_config(path))
    assert len(problems) == 1 and "bigquery.writer (or TW_BQ_WRITER) is not set" in problems[0]


def test_offline_check_writes_the_policies_and_reports_config_mistakes(
    tw_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No tenants.yml: the committed example is compiled, so the check always runs.
    monkeypatch.delenv("TW_TENANTS_FILE", raising=False)
    monkeypatch.setattr("tenant_warehouse.tenants.config.DEFAULT_PATH", tmp_path / "absent.yml")
    assert offline_check(tw_settings, manifest_for(tw_settings), tmp_path) == []
    assert "tw_tenant_fr_1" in (tmp_path / "tenant_row_access_policies.sql").read_text()
    broken = tmp_path / "tenants.yml"
    broken.write_text("tenants: ['uk']\n")
    monkeypatch.setenv("TW_TENANTS_FILE", str(broken))
    [(path, problem)] = offline_check(tw_settings, manifest_for(tw_settings), tmp_path)
    assert path == str(broken) and "not a tenant id" in problem
    # A tenants file named explicitly but missing is an error, not the example.
    monkeypatch.setenv("TW_TENANTS_FILE", str(tmp_path / "gone.yml"))
    [(path, problem)] = offline_check(tw_settings, manifest_for(tw_settings), tmp_path)
    assert "gone.yml: tenants file not found" in problem


def test_marts_the_profile_disables_get_no_policy_and_no_problem(
    tw_settings: Settings, config: TenantsConfig, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.tenants.profile_fixture import ORDER_MARTS, ORDER_RELATIONS, disable_models

    manifest = disable_models(manifest_for(tw_settings), ORDER_MARTS)
    compiled, problems = check_manifest(tw_settings, manifest, config)
    assert problems == []
    tables = {policy.table for policy in parse_policies(compiled)}
    assert f"{PROJECT}.marts.fct_messages" in tables
    assert not {t for t in tables if t.rsplit(".", 1)[1] in ORDER_MARTS}
    # The policies' file says which relations tenants get and which the profile leaves out.
    monkeypatch.delenv("TW_TENANTS_FILE", raising=False)
    monkeypatch.setattr("tenant_warehouse.tenants.config.DEFAULT_PATH", tmp_path / "absent.yml")
    assert offline_check(tw_settings, manifest, tmp_path) == []
    header = (tmp_path / "tenant_row_access_policies.sql").read_text().splitlines()[0]
    assert header.startswith("-- tenants get organization, contacts, messages")
    assert all(name in header.split("not built by this platform profile:")[1]
               for name in ORDER_RELATIONS)
