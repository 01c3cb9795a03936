"""What a tenant may see: the tenant-facing relations, declared as data in catalog.yml.

The catalog lists every relation any platform profile may publish; a profile builds only the
marts its entities allow (a chatbot platform has no orders, a food hub no messages). What the
active profile builds comes from dbt's manifest of the warehouse's last dbt invocation (models
it disables are under `disabled`): `profile_doors` splits the catalog into the relations the
profile publishes and the ones it leaves out, which every door (tenant views, readers, exports,
statements, the dashboard, BigQuery policies) skips. Without a manifest (no dbt run from this
TW_HOME yet) nothing is known to be left out and the doors serve what exists in the warehouse.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError

CATALOG_ENV = "TW_TENANT_CATALOG"
DEFAULT_CATALOG = Path(__file__).with_name("catalog.yml")
# The schema tenants read (PostgreSQL schema, DuckDB in-memory schema): `tenant.<name>`.
TENANT_SCHEMA = "tenant"
# Layers a tenant never reads, whatever a catalog says.
FORBIDDEN_SCHEMAS = frozenset(
    {"raw", "staging", "intermediate", "observability", "snapshots", "reference", "macro_tests",
     "tenant", "tenant_access"}
)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# A relation with one of these columns holds per-tenant rows: it can never be shared.
TENANT_COLUMNS = frozenset({"tenant_id", "organization_id"})


@dataclass(frozen=True)
class TenantRelation:
    name: str           # name a tenant sees, e.g. "turnover_by_organization_month", "orders"
    source_schema: str  # where the mart lives in the warehouse (e.g. "marts")
    source_name: str    # the mart/model name (e.g. "fct_orders")
    tenant_column: str  # "tenant_id" ("" for a shared relation)
    description: str
    # "tenant": the tenant's rows only (tenant_column = the tenant). "shared": the same rows for
    # every tenant, for reference data published explicitly (never a mart with a tenant column).
    scope: str = "tenant"

    @property
    def is_shared(self) -> bool:
        return self.scope == "shared"

    @property
    def qualified_name(self) -> str:
        """How server-written SQL names it: tenant.<name>."""
        return f"{TENANT_SCHEMA}.{self.name}"


@dataclass(frozen=True)
class ProfileModels:
    """The models dbt's manifest says the active platform profile builds (enabled) and the ones
    it switches off (disabled: its entities do not allow them)."""

    enabled: frozenset[str]
    disabled: frozenset[str]
    # model name -> `schema.alias` where the build wrote it (dev targets: prefixed schemas)
    relations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ProfileModels:
        models = [n for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"]
        enabled = {n["name"] for n in models}
        disabled = {n["name"] for versions in manifest.get("disabled", {}).values()
                    for n in versions if n.get("resource_type") == "model"}
        relations = tuple(sorted(
            (n["name"], f"{n['schema']}.{n.get('alias') or n['name']}")
            for n in models if n.get("schema")
        ))  # fmt: skip
        return cls(frozenset(enabled), frozenset(disabled - enabled), relations)

    def relation_of(self, model: str) -> str | None:
        """`schema.name` of an enabled model, None when the profile does not build it."""
        return dict(self.relations).get(model)


@dataclass(frozen=True)
class ProfileDoors:
    """The catalog split by the active platform profile."""

    published: list[TenantRelation]  # the profile builds their marts (catalog order)
    left_out: list[TenantRelation]   # the profile disables their marts: no door, no pretence

    def summary(self) -> str:
        text = f"tenants get {', '.join(r.name for r in self.published) or 'nothing'}"
        if self.left_out:
            text += ("; not built by this platform profile: "
                     + ", ".join(r.name for r in self.left_out))
        return text


def manifest_path(settings: Settings, target: str) -> Path:
    """Where dbt runs of `target` from this TW_HOME leave their manifest (dbt_runner.dbt_env)."""
    return Path(os.environ.get("DBT_TARGET_PATH") or settings.home / f"dbt_target_{target}") / (
        "manifest.json"
    )


def profile_models(settings: Settings, target: str) -> ProfileModels | None:
    """What the last dbt invocation on `target` built, or None without a readable manifest."""
    path = manifest_path(settings, target)
    try:
        stat = path.stat()
    except OSError:
        return None
    return _profile_models(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _profile_models(path: str, _mtime: int, _size: int) -> ProfileModels | None:
    try:
        return ProfileModels.from_manifest(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError):
        return None  # being rewritten by a dbt run, or not a manifest: nothing known


def split_relations(
    relations: list[TenantRelation], models: ProfileModels | None
) -> ProfileDoors:
    """Relations whose model the profile disables are left out; every other one is published
    (a model the manifest does not know at all stays published, so its absence is reported)."""
    if models is None:
        return ProfileDoors(list(relations), [])
    left_out = [r for r in relations if r.source_name in models.disabled]
    return ProfileDoors([r for r in relations if r not in left_out], left_out)


def profile_doors(settings: Settings, target: str) -> ProfileDoors:
    """The catalog split by the platform profile the warehouse `target` was last built with."""
    return split_relations(tenant_relations(settings), profile_models(settings, target))


def catalog_path() -> Path:
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


def tenant_relations(settings: Settings) -> list[TenantRelation]:
    """Every tenant-facing relation, in catalog order (the same for every tenant)."""
    path = catalog_path()
    try:
        stat = path.stat()
    except OSError as exc:
        raise TenantError(f"{path}: cannot read the tenant catalog: {exc}") from exc
    return list(_load(str(path), stat.st_mtime_ns))


def relation_named(settings: Settings, name: str) -> TenantRelation:
    for relation in tenant_relations(settings):
        if relation.name == name:
            return relation
    known = ", ".join(r.name for r in tenant_relations(settings))
    raise TenantError(f"relation {name!r}: not a tenant-facing relation (known: {known})")


def check_publishable(relation: TenantRelation, columns: set[str]) -> None:
    """TenantAccessError unless the built relation (its column names) can be published as
    declared: a tenant relation has its tenant column, a shared one has no tenant column."""
    where = f"tenant relation {relation.name} ({relation.source_schema}.{relation.source_name})"
    if relation.is_shared and columns & TENANT_COLUMNS:
        raise TenantAccessError(
            f"{where}: has column(s) {', '.join(sorted(columns & TENANT_COLUMNS))}, so it holds "
            "per-tenant rows and cannot be shared with every tenant"
        )
    if not relation.is_shared and relation.tenant_column not in columns:
        raise TenantAccessError(f"{where}: has no column {relation.tenant_column}; it cannot be "
                                "published")


@lru_cache(maxsize=4)
def _load(path: str, _mtime: int) -> tuple[TenantRelation, ...]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TenantError(f"{path}: cannot read the tenant catalog: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TenantError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("relations"), list):
        raise TenantError(f"{path}: expected a mapping with a `relations` list")
    relations: list[TenantRelation] = []
    seen: set[str] = set()
    for index, item in enumerate(document["relations"]):
        relation = _relation(path, index, item)
        if relation.name in seen:
            raise TenantError(f"{path}: relations[{index}].name {relation.name!r} is declared twice")
        seen.add(relation.name)
        relations.append(relation)
    return tuple(relations)


def _relation(path: str, index: int, item: Any) -> TenantRelation:
    where = f"{path}: relations[{index}]"
    if not isinstance(item, dict):
        raise TenantError(f"{where}: expected a mapping with name and model")
    unknown = set(item) - {"name", "model", "schema", "tenant_column", "description", "scope"}
    if unknown:
        raise TenantError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    scope = item.get("scope", "tenant")
    if scope not in ("tenant", "shared"):
        raise TenantError(f"{where}.scope: {scope!r} is not tenant or shared")
    if scope == "shared" and "tenant_column" in item:
        raise TenantError(f"{where}: a shared relation has no tenant_column (every tenant sees "
                          "all its rows); use scope: tenant to filter it")
    values = {
        "name": item.get("name"),
        "model": item.get("model"),
        "schema": item.get("schema", "marts"),
    }
    if scope == "tenant":
        values["tenant_column"] = item.get("tenant_column", "tenant_id")
    for key, value in values.items():
        if not isinstance(value, str) or not IDENTIFIER.match(value):
            raise TenantError(
                f"{where}.{key}: {value!r} is not a lowercase SQL identifier"
                + (" (every tenant relation needs a tenant column: instance and global marts "
                   "are not published)" if key == "tenant_column" else "")
            )
    if values["schema"] in FORBIDDEN_SCHEMAS:
        raise TenantError(
            f"{where}.schema: {values['schema']!r} is never readable by tenants (marts only)"
        )
    return TenantRelation(
        name=values["name"],
        source_schema=values["schema"],
        source_name=values["model"],
        tenant_column=values.get("tenant_column", ""),
        description=str(item.get("description") or "").strip(),
        scope=scope,
    )
