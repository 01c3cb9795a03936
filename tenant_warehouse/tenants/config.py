"""tenants.yml: the tenants declared for a whole-platform sync, and their BigQuery grantees."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.settings import PROJECT_DIR
from tenant_warehouse.tenants.errors import TenantError
from tenant_warehouse.tenants.ids import normalize_tenant_id

PATH_ENV = "TW_TENANTS_FILE"
DEFAULT_PATH = PROJECT_DIR / "tenants.yml"
# Committed example (demo tenants); `warehouse check-bigquery` compiles it when no tenants.yml.
EXAMPLE_PATH = PROJECT_DIR / "tenants.example.yml"
WRITER_ENV = "TW_BQ_WRITER"
# BigQuery IAM members a row access policy may grant to.
GRANTEE = re.compile(r"^(user|group|serviceAccount|domain):[A-Za-z0-9@._+-]+$")


@dataclass(frozen=True)
class TenantDeclaration:
    tenant_id: str
    bigquery_grantees: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantsConfig:
    path: Path
    tenants: tuple[TenantDeclaration, ...]
    # The account dbt writes BigQuery with: gets a FILTER USING (TRUE) policy so MERGE works.
    bigquery_writer: str | None = None

    def tenant_ids(self) -> list[str]:
        return [tenant.tenant_id for tenant in self.tenants]


def tenants_path() -> Path:
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


def load_tenants_config(path: Path | None = None) -> TenantsConfig:
    """The declarations; no file at the default place means none declared (an explicit
    TW_TENANTS_FILE that does not exist is an error)."""
    source = path or tenants_path()
    if not source.exists():
        if path is None and PATH_ENV not in os.environ:
            return TenantsConfig(path=source, tenants=())
        raise TenantError(f"{source}: tenants file not found")
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TenantError(f"{source}: cannot read tenants file: {str(exc).splitlines()[0]}") from exc
    if not isinstance(document, dict):
        raise TenantError(f"{source}: expected a mapping with a `tenants` list")
    unknown = set(document) - {"version", "tenants", "bigquery"}
    if unknown:
        raise TenantError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    items = document.get("tenants") or []
    if not isinstance(items, list):
        raise TenantError(f"{source}: tenants: expected a list")
    tenants: list[TenantDeclaration] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        declaration = _declaration(source, index, item)
        if declaration.tenant_id in seen:
            raise TenantError(f"{source}: tenants[{index}]: tenant {declaration.tenant_id} declared twice")
        seen.add(declaration.tenant_id)
        tenants.append(declaration)
    bigquery = document.get("bigquery") or {}
    if not isinstance(bigquery, dict) or set(bigquery) - {"writer"}:
        raise TenantError(f"{source}: bigquery: expected a mapping with `writer` only")
    writer = os.environ.get(WRITER_ENV) or bigquery.get("writer")
    if writer is not None:
        writer = _grantee(source, "bigquery.writer", writer)
    return TenantsConfig(path=source, tenants=tuple(tenants), bigquery_writer=writer)


def _declaration(source: Path, index: int, item: Any) -> TenantDeclaration:
    where = f"tenants[{index}]"
    if isinstance(item, str):
        item = {"tenant_id": item}
    if not isinstance(item, dict) or "tenant_id" not in item:
        raise TenantError(f"{source}: {where}: expected a tenant id or a mapping with tenant_id")
    unknown = set(item) - {"tenant_id", "bigquery_grantees"}
    if unknown:
        raise TenantError(f"{source}: {where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        tenant_id = normalize_tenant_id(str(item["tenant_id"]))
    except TenantError as exc:
        raise TenantError(f"{source}: {where}.tenant_id: {exc}") from exc
    grantees = item.get("bigquery_grantees") or []
    if not isinstance(grantees, list):
        raise TenantError(f"{source}: {where}.bigquery_grantees: expected a list")
    return TenantDeclaration(
        tenant_id=tenant_id,
        bigquery_grantees=tuple(
            _grantee(source, f"{where}.bigquery_grantees[{n}]", g) for n, g in enumerate(grantees)
        ),
    )


def _grantee(source: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not GRANTEE.match(value):
        raise TenantError(
            f"{source}: {where}: {value!r} is not a BigQuery member "
            "(user:, group:, serviceAccount: or domain:)"
        )
    return value
