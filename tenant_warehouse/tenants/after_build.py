"""Tenant access after every build: dbt replaces mart tables (PostgreSQL: dropping the tenant
views with CASCADE; BigQuery: dropping the row access policies), so the build paths call this
right after dbt. A failure raises TenantAccessError: the cycle turns it into an alert."""

from __future__ import annotations

from tenant_warehouse.settings import Settings


def refresh_tenant_access(settings: Settings, warehouse: str, only_if_broken: bool = False) -> str | None:
    """Re-apply the tenant views (PostgreSQL) or row access policies (BigQuery); a summary, or
    None when this warehouse has no tenant logins (nothing to protect or serve) or, with
    `only_if_broken`, when every tenant view is in place."""
    if warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import (
            apply_access,
            granted_roles,
            views_in_place,
        )

        if not granted_roles():
            return None
        if only_if_broken and views_in_place(settings):
            return None
        return apply_access(settings, require_all=True).summary()
    if warehouse == "bigquery":
        from tenant_warehouse.tenants.bigquery_access import apply_policies
        from tenant_warehouse.tenants.config import load_tenants_config

        if only_if_broken or not any(t.bigquery_grantees for t in load_tenants_config().tenants):
            return None
        return f"{apply_policies(settings)} BigQuery row access policies in force"
    return None
