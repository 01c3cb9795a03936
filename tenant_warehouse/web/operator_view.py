"""What an operator's dashboard shows: the global marts, every instance, new organizations.

Read through a read-only warehouse connection (DuckDB opened read_only; PostgreSQL in read-only
transactions as the account the server connects with). Operators are not tenants: nothing here
goes through the tenant door. A section whose mart the platform profile does not build (a
chatbot platform has no turnover) is None, and the page leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import profile_models
from tenant_warehouse.web.tenant_view import month_label

MARTS_SCHEMA = "marts"
NEWEST_ORGANIZATIONS = 50


@dataclass
class OperatorDashboard:
    # None: the platform profile does not build the mart (no orders; no orders nor messages).
    turnover_global: list[dict[str, Any]] | None  # month, turnover_cents (EUR)
    turnover_by_instance: list[dict[str, Any]] | None  # instance_id, month, currency, turnover_cents
    new_organizations: list[dict[str, Any]]  # instance_id, month, kind, new_organizations
    active_users_monthly: list[dict[str, Any]] | None  # month, active_contacts (UTC calendar)
    instances: list[dict[str, Any]]  # instance_id, currency, organizations, deleted
    newest_organizations: list[dict[str, Any]]  # the newest organizations, to charge


def load_operator_dashboard(settings: Settings, warehouse: str) -> OperatorDashboard:
    models = profile_models(settings, warehouse)
    with open_warehouse(settings, warehouse, read_only=True) as store:
        if warehouse == "postgres":
            store.execute("set session characteristics as transaction read only")

        def rows(sql: str) -> list[dict[str, Any]]:
            return store.query(sql.replace("{marts}", MARTS_SCHEMA))

        def monthly(mart: str, sql: str, column: str = "month_start") -> list[dict[str, Any]] | None:
            """The mart's rows with their month label; None when the profile does not build it
            (disabled in dbt's manifest, or absent from the warehouse)."""
            disabled = models is not None and mart in models.disabled
            if disabled or not store.relation_exists(MARTS_SCHEMA, mart):
                return None
            return [{**row, "month": month_label(row[column])} for row in rows(sql)]

        turnover_global = monthly(
            "turnover_global_month",
            "select month_start, currency, turnover_cents from {marts}.turnover_global_month"
            " order by month_start",
        )
        turnover_by_instance = monthly(
            "turnover_by_instance_month",
            "select instance_id, month_start, currency, completed_orders, turnover_cents"
            " from {marts}.turnover_by_instance_month order by instance_id, month_start",
        )
        new_organizations = [
            {**row, "month": month_label(row["month_start"])}
            for row in rows(
                "select instance_id, month_start, kind, new_organizations"
                " from {marts}.new_organizations_by_month order by month_start, instance_id, kind"
            )
        ]
        active_users_monthly = monthly(
            "active_users_global",
            "select period_start, active_contacts from {marts}.active_users_global"
            " where period = 'month' order by period_start",
            column="period_start",
        )
        instances = rows(
            "select i.instance_id, i.currency, i.time_zone,"
            " count(o.organization_id) as organizations,"
            " count(case when o.is_deleted then 1 end) as deleted_organizations"
            " from {marts}.dim_instances as i"
            " left join {marts}.dim_organizations as o on o.instance_id = i.instance_id"
            " group by i.instance_id, i.currency, i.time_zone order by i.instance_id"
        )
        newest = rows(
            "select tenant_id, instance_id, organization_name, kind, plan, created_at, is_deleted"
            " from {marts}.dim_organizations"
            f" order by created_at desc, tenant_id limit {NEWEST_ORGANIZATIONS}"
        )
    return OperatorDashboard(
        turnover_global, turnover_by_instance, new_organizations, active_users_monthly,
        instances, newest,
    )  # fmt: skip
