"""Tenant ids (`<instance_id>:<organization_id>`, macros/tenant_id.sql) and their role names."""

from __future__ import annotations

import re

from tenant_warehouse.tenants.errors import TenantError

# Instance ids are lowercase identifiers (platforms/reference/tables.yml); organization ids are the
# platforms' integer keys. Digits last makes the role name parse back unambiguously.
TENANT_ID = re.compile(r"^(?P<instance>[a-z][a-z0-9_]{0,29}):(?P<organization>[0-9]{1,19})$")
ROLE_PREFIX = "tw_tenant_"
ROLE_NAME = re.compile(r"^tw_tenant_(?P<instance>[a-z][a-z0-9_]*)_(?P<organization>[0-9]+)$")


def parse_tenant_id(tenant_id: str) -> tuple[str, int]:
    """(instance_id, organization_id) of a tenant id, or TenantError naming it."""
    match = TENANT_ID.match(tenant_id.strip()) if isinstance(tenant_id, str) else None
    if match is None:
        raise TenantError(
            f"tenant {tenant_id!r}: not a tenant id; expected <instance_id>:<organization_id>, "
            "e.g. uk:42"
        )
    return match["instance"], int(match["organization"])


def normalize_tenant_id(tenant_id: str) -> str:
    instance, organization = parse_tenant_id(tenant_id)
    return f"{instance}:{organization}"


def role_name(tenant_id: str) -> str:
    """PostgreSQL login role of a tenant: tw_tenant_<instance>_<organization> (e.g. tw_tenant_uk_42)."""
    instance, organization = parse_tenant_id(tenant_id)
    return f"{ROLE_PREFIX}{instance}_{organization}"


def tenant_of_role(role: str) -> str | None:
    match = ROLE_NAME.match(role)
    return f"{match['instance']}:{int(match['organization'])}" if match else None
