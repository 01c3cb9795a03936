"""The offline BigQuery check end to end: the project passes with every platform profile, and
broken files make it fail.

A check compiles the project with dbt (~20-30 s here), so it runs once per profile for the whole
module: the reference profile with the broken files added (their findings are expected, the
project's own must be none), ofn and glific on a clean copy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tenant_warehouse.bigquery_check import (
    FULL,
    INCREMENTAL,
    CheckReport,
    _explain,
    run_check,
    sqlfluff_parse_problems,
    write_throwaway_key,
)
from tenant_warehouse.settings import PROJECT_DIR, Settings
from tenant_warehouse.tenants.catalog import ProfileModels, split_relations, tenant_relations
from tests.support.project import copy_dbt_project

# Every platform profile compiles for BigQuery; the marts listed are ones its entities do not
# allow, which must be disabled (proof the profile, not the default, was compiled).
PLATFORMS = {
    "reference": set(),
    "ofn": {"fct_messages", "message_delivery_by_organization_month"},
    "glific": {"fct_orders", "turnover_by_organization_month", "billing_by_organization_month"},
}

# Files added to a copy of the project, each wrong in a way BigQuery rejects, and the rule
# (and compile variant) that must catch it.
BROKEN_FILES = {
    "models/bq_broken_cast.sql": "select 1::int as x\n",
    "models/bq_broken_trunc.sql": (
        "select date_trunc('month', created_at) as month_start\n"
        "from (select current_timestamp() as created_at)\n"
    ),
    # Wrong only in the incremental branch: proves the second (forced incremental) compile.
    "models/bq_broken_incremental.sql": (
        "{{ config(materialized='incremental', unique_key='x') }}\n"
        "select 1 as x, current_timestamp() as updated_at\n"
        "{% if is_incremental() %}\n"
        "where current_timestamp() > (select max(updated_at) from {{ this }}) - interval '3 days'\n"
        "{% endif %}\n"
    ),
    "models/bq_broken_contract.sql": "select 'a' as label\n",
    "models/_bq_broken__models.yml": (
        "version: 2\n"
        "models:\n"
        "  - name: bq_broken_contract\n"
        "    config:\n"
        "      materialized: table\n"
        "      contract: {enforced: true}\n"
        "    columns:\n"
        "      - name: label\n"
        "        data_type: varchar\n"
    ),
    "snapshots/bq_broken_snapshot.sql": (
        "{% snapshot bq_broken_snapshot %}\n"
        "{{ config(unique_key='x', strategy='check', check_cols='all') }}\n"
        "select 1 as x from (select 'a' as name) where name ilike 'a%'\n"
        "{% endsnapshot %}\n"
    ),
    "tests/dbt/bq_broken_singular.sql": "select distinct on (x) x from (select 1 as x) where false\n",
    "seeds/bq_broken_seed.csv": "amount\n1.50\n",
    "seeds/_bq_broken__seeds.yml": (
        "version: 2\n"
        "seeds:\n"
        "  - name: bq_broken_seed\n"
        "    config:\n"
        "      column_types:\n"
        "        amount: numeric(18, 2)\n"
    ),
}
EXPECTED = {
    ("models/bq_broken_cast.sql", "pg-cast", FULL),
    ("models/bq_broken_trunc.sql", "date-trunc-argument-order", FULL),
    ("models/bq_broken_incremental.sql", "interval-literal", INCREMENTAL),
    ("models/_bq_broken__models.yml", "contract-type", None),
    ("snapshots/bq_broken_snapshot.sql", "ilike", FULL),
    ("tests/dbt/bq_broken_singular.sql", "distinct-on", FULL),
    ("seeds/bq_broken_seed.csv", "seed-type", None),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CheckReport:
    """One check (a dbt compile is the slow part) over a copy of the project plus BROKEN_FILES:
    the project's own files must come out clean, each broken file must be caught."""
    copy = copy_dbt_project(tmp_path_factory.mktemp("bq_project"))
    for relative, text in BROKEN_FILES.items():
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_text(text)
    return run_check(Settings(home=tmp_path_factory.mktemp("bq_home")), copy)


@pytest.fixture(scope="module", params=sorted(PLATFORMS))
def profile_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, CheckReport]:
    """(platform, its check): the reference profile's is `report` (with the broken files)."""
    platform = request.param
    if platform == "reference":
        return platform, request.getfixturevalue("report")
    copy = copy_dbt_project(tmp_path_factory.mktemp(f"bq_project_{platform}"))
    home = tmp_path_factory.mktemp(f"bq_home_{platform}")
    return platform, run_check(Settings(home=home), copy, platform=platform)


def _is_broken_file(path: str) -> bool:
    return Path(path).name.startswith(("bq_broken", "_bq_broken"))


def _manifest(report: CheckReport) -> dict:
    assert report.work_dir is not None
    return json.loads((report.work_dir / f"target_{FULL}" / "manifest.json").read_text())


def test_project_compiles_clean_for_bigquery(profile_report: tuple[str, CheckReport]) -> None:
    _, report = profile_report
    own = [f for f in report.findings if not _is_broken_file(f.path)]
    assert own == [], "\n" + "\n".join(map(str, own))


def test_every_model_and_snapshot_is_checked(profile_report: tuple[str, CheckReport]) -> None:
    platform, report = profile_report
    checked = {(c.node_path, c.variant) for c in report.checked}
    manifest = _manifest(report)
    disabled = {n["original_file_path"] for nodes in manifest.get("disabled", {}).values()
                for n in nodes}
    models = ProfileModels.from_manifest(manifest)
    assert PLATFORMS[platform] <= models.disabled, f"{platform}: {sorted(models.disabled)}"
    folders = ("models", "snapshots", f"platforms/{platform}/models")
    for folder in folders:
        for path in sorted((PROJECT_DIR / folder).rglob("*.sql")):
            relative = str(path.relative_to(PROJECT_DIR))
            if relative not in disabled:
                assert (relative, FULL) in checked, f"{platform}: {relative} was not checked"
    # Another profile's models never join the compile.
    assert all(
        not c.node_path.startswith("platforms/") or c.node_path.startswith(f"platforms/{platform}/")
        for c in report.checked
    )
    if platform == "reference":
        assert "models/bq_broken_incremental.sql" in report.incremental_models
    for relative in report.incremental_models:
        assert (relative, INCREMENTAL) in checked, f"{relative} incremental branch not checked"


# docs/tenants.md "Per platform profile": the tenant relations each profile does not build.
LEFT_OUT = {
    "reference": set(),
    "ofn": {"messages", "message_delivery_by_organization_month"},
    "glific": {"orders", "turnover_by_organization_month", "billing_by_organization_month",
               "billing_reported_by_organization_month"},
}


def test_each_profile_leaves_out_the_tenant_relations_it_does_not_build(
    profile_report: tuple[str, CheckReport], tmp_path: Path
) -> None:
    platform, report = profile_report
    settings = Settings(home=tmp_path)
    doors = split_relations(tenant_relations(settings), ProfileModels.from_manifest(_manifest(report)))
    assert {r.name for r in doors.left_out} == LEFT_OUT[platform]
    policies = (report.work_dir / "tenant_row_access_policies.sql").read_text()
    assert policies.splitlines()[0] == f"-- {doors.summary()}"


def test_an_unknown_platform_is_one_finding(tmp_path: Path) -> None:
    report = run_check(Settings(home=tmp_path), PROJECT_DIR, platform="nosuch")
    assert [(f.path, f.rule) for f in report.findings] == [("platforms/nosuch", "platform")]


def test_broken_files_fail_with_each_rule(report: CheckReport) -> None:
    found = {(f.path, f.rule, f.variant) for f in report.findings}
    missing = EXPECTED - found
    assert not missing, f"not reported: {missing}\nreported:\n" + "\n".join(
        map(str, report.findings)
    )
    assert not report.ok


def test_findings_point_at_compiled_lines(report: CheckReport) -> None:
    [finding] = [f for f in report.findings if f.path.endswith("bq_broken_incremental.sql")]
    assert finding.compiled_path is not None and finding.line is not None
    line = Path(finding.compiled_path).read_text().splitlines()[finding.line - 1]
    assert "interval '3 days'" in line
    assert "(incremental compile, line" in str(finding)


def test_no_key_survives_the_check(report: CheckReport) -> None:
    assert report.work_dir is not None
    for path in report.work_dir.rglob("*.json"):
        assert '"private_key"' not in path.read_text(errors="ignore"), path


def test_throwaway_key_cannot_reach_google(tmp_path: Path) -> None:
    key = json.loads(write_throwaway_key(tmp_path).read_text())
    assert key["type"] == "service_account"
    # A real key, generated for this test only: it parses as one, so dbt gets past loading it.
    loaded = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048
    assert key["token_uri"].startswith("http://127.0.0.1:")


def test_introspection_errors_get_a_hint() -> None:
    explained = _explain("connection never acquired for thread (1, 2), have [(1, 3)]")
    assert "force_incremental" in explained


def test_sqlfluff_lints_files_an_ignore_file_would_hide(tmp_path: Path) -> None:
    # The project's .sqlfluffignore lists .warehouse/, the default home of the compiled SQL.
    hidden = tmp_path / "home"
    hidden.mkdir()
    (tmp_path / ".sqlfluffignore").write_text("home/\n")
    broken, clean = hidden / "broken.sql", hidden / "clean.sql"
    broken.write_text("select (1 as x\n")
    clean.write_text("select 1 as x\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    problems = sqlfluff_parse_problems([broken, clean], scratch)
    assert [p.rule for p in problems[broken.resolve()]] == ["sqlfluff-PRS"]
    assert problems[clean.resolve()] == []
