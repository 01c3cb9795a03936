"""Every platform profile keeps the contract's boundary, read off dbt's own parse of the project
with that profile active (TW_PLATFORM):

- the product's models, snapshots and tests read a profile only through its `contract_*` models
  (never its staging models, seeds or raw sources);
- every contract model a profile provides is declared by the product's contract (so its columns
  and types are enforced) and used by the product (an entity missing from the profile's
  `platform_entities()` would be silently ignored);
- every profile provides the two required entities.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tenant_warehouse.settings import PROJECT_DIR

PLATFORMS = sorted(
    d.name for d in (PROJECT_DIR / "platforms").iterdir() if (d / "models" / "contract").is_dir()
)
REQUIRED = {"contract_instances", "contract_organizations"}
PRODUCT_RESOURCES = {"model", "snapshot", "test", "seed", "unit_test"}


@pytest.fixture(scope="module", params=PLATFORMS)
def parsed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    platform = str(request.param)
    scratch = tmp_path_factory.mktemp(f"parse_{platform}")
    (scratch / "profiles").mkdir()
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", scratch / "profiles" / "profiles.yml")
    env = dict(os.environ, TW_PLATFORM=platform, TW_TARGET="duckdb",
               TW_DUCKDB_PATH=str(scratch / "parse.duckdb"), DBT_LOG_PATH=str(scratch / "logs"))  # fmt: skip
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [str(dbt), "parse", "--profiles-dir", str(scratch / "profiles"),
         "--target-path", str(scratch / "target"), "--no-partial-parse"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{platform}: dbt parse failed\n{done.stdout[-3000:]}"
    return platform, json.loads((scratch / "target" / "manifest.json").read_text())


def _in_profile(node: dict[str, Any]) -> bool:
    return str(node.get("original_file_path", "")).startswith("platforms/")


def test_product_reads_a_profile_only_through_the_contract(parsed: tuple[str, dict[str, Any]]) -> None:
    platform, manifest = parsed
    nodes = {**manifest["nodes"], **manifest["sources"]}
    crossings = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in PRODUCT_RESOURCES or _in_profile(node):
            continue
        for parent in node["depends_on"].get("nodes", []):
            target = nodes.get(parent)
            if target is None or not _in_profile(target):
                continue
            if target["resource_type"] == "model" and target["name"].startswith("contract_"):
                continue
            crossings.append(f"{unique_id} -> {parent}")
    assert not crossings, f"{platform}: product nodes read the profile directly: {crossings}"


def test_profile_contract_models_are_declared_enforced_and_used(
    parsed: tuple[str, dict[str, Any]],
) -> None:
    platform, manifest = parsed
    contract_models = {
        node["name"]: node for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith("contract_")
    }  # fmt: skip
    assert set(contract_models) >= REQUIRED, f"{platform} lacks {REQUIRED - set(contract_models)}"
    for name, node in contract_models.items():
        assert node["original_file_path"].startswith(f"platforms/{platform}/models/contract/"), name
        assert str(node.get("patch_path", "")).endswith("models/contract/_contract__models.yml"), (
            f"{platform}: {name} is not a contract entity (models/contract/_contract__models.yml)"
        )
        assert node["contract"]["enforced"], name
        assert node["columns"], name
    used = {
        parent
        for node in manifest["nodes"].values()
        if node["resource_type"] in {"model", "snapshot"} and not _in_profile(node)
        for parent in node["depends_on"].get("nodes", [])
    }
    unused = sorted(n for n, node in contract_models.items() if node["unique_id"] not in used)
    assert not unused, (
        f"{platform}: {unused} are provided but no product model reads them: "
        "is the entity missing from the profile's platform_entities()?"
    )


def test_profile_switches_off_what_it_lacks(parsed: tuple[str, dict[str, Any]]) -> None:
    """A mart whose entity the profile lacks is disabled, not built empty."""
    platform, manifest = parsed
    enabled = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    disabled = {n[0]["name"] for n in manifest.get("disabled", {}).values() if n}
    has = {name.removeprefix("contract_") for name in enabled if name.startswith("contract_")}
    expectations = {
        "fct_orders": "orders" in has,
        "turnover_by_organization_month": "orders" in has,
        "fct_messages": "messages" in has,
        "message_delivery_by_organization_month": "messages" in has,
        "dim_contacts": "contacts" in has,
        "billing_by_organization_month": {"orders", "plan_prices"} <= has,
        "active_users_by_organization": bool({"orders", "messages"} & has),
    }
    for mart, expected in expectations.items():
        assert (mart in enabled) is expected, f"{platform}: {mart} enabled={mart in enabled}"
        if not expected:
            assert mart in disabled, f"{platform}: {mart} neither enabled nor disabled"


def test_profile_raw_tables_are_the_platform_source(parsed: tuple[str, dict[str, Any]]) -> None:
    """Ingestion lands raw tables as dlt source `platform`, and a cycle rebuilds what changed
    with `source:platform.<table>+`: a profile declaring its raw tables under another source name
    would never be rebuilt by a cycle."""
    platform, manifest = parsed
    others = sorted(
        source["unique_id"] for source in manifest["sources"].values()
        if _in_profile(source) and source["source_name"] != "platform"
    )  # fmt: skip
    assert not others, f"{platform}: raw tables must be declared in source 'platform': {others}"
