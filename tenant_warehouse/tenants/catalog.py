"""What a tenant may see: the tenant-facing relations, declared as data in catalog.yml."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.errors import TenantError

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


@dataclass(frozen=True)
class TenantRelation:
    name: str           # name a tenant sees, e.g. "turnover_by_organization_month", "orders"
    source_schema: str  # where the mart lives in the warehouse (e.g. "marts")
    source_name: str    # the mart/model name (e.g. "fct_orders")
    tenant_column: str  # "tenant_id"
    description: str

    @property
    def qualified_name(self) -> str:
        """How server-written SQL names it: tenant.<name>."""
        return f"{TENANT_SCHEMA}.{self.name}"


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
    unknown = set(item) - {"name", "model", "schema", "tenant_column", "description"}
    if unknown:
        raise TenantError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {
        "name": item.get("name"),
        "model": item.get("model"),
        "schema": item.get("schema", "marts"),
        "tenant_column": item.get("tenant_column", "tenant_id"),
    }
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
        tenant_column=values["tenant_column"],
        description=str(item.get("description") or "").strip(),
    )
