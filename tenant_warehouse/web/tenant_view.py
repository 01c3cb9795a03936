"""What a tenant's dashboard shows, read through the one tenant door (`tenant_reader`).

Every query names tenant-facing relations as `tenant.<name>` and carries no tenant filter of its
own: the reader fixes the tenant (a PostgreSQL role under row-level security, or DuckDB temporary
views bound to the tenant). Sections appear when the platform profile publishes the mart they
read (a chatbot platform has messages, a shop network orders), found by the mart's name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.access import TenantReader, tenant_reader

TURNOVER_MART = "turnover_by_organization_month"
ACTIVE_USERS_MART = "active_users_by_organization"
DELIVERY_MART = "message_delivery_by_organization_month"
ORGANIZATION_MART = "dim_organizations"
ACTIVE_USER_PERIODS = ("day", "week", "month")
# Daily active users shown for the last this-many days (the month and week series are whole).
DAILY_POINTS = 92


@dataclass
class TenantDashboard:
    tenant_id: str
    organization_name: str | None = None
    currency: str | None = None
    # One dict per month, oldest first (keys as the marts' columns, month as "YYYY-MM").
    turnover: list[dict[str, Any]] | None = None
    active_users: dict[str, list[dict[str, Any]]] | None = None  # period -> rows
    delivery: list[dict[str, Any]] | None = None
    relations: list[str] = field(default_factory=list)  # tenant-facing relation names


def month_label(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return f"{value:%Y-%m}"
    return str(value)[:7]


def _rows(reader: TenantReader, sql: str) -> list[dict[str, Any]]:
    return reader.query(sql).to_pylist()


def load_tenant_dashboard(settings: Settings, warehouse: str, tenant_id: str) -> TenantDashboard:
    """The numbers of `tenant_id` (always the session's tenant, never a request parameter)."""
    with tenant_reader(settings, warehouse, tenant_id) as reader:
        names = {relation.source_name: relation.name for relation in reader.relations()}
        board = TenantDashboard(tenant_id=reader.tenant_id, relations=sorted(names.values()))
        if ORGANIZATION_MART in names:
            rows = _rows(reader, f"select organization_name from tenant.{names[ORGANIZATION_MART]}")
            board.organization_name = rows[0]["organization_name"] if rows else None
        if TURNOVER_MART in names:
            board.turnover = [
                {**row, "month": month_label(row["month_start"])}
                for row in _rows(reader, (
                    "select month_start, currency, completed_orders, turnover_cents"
                    f" from tenant.{names[TURNOVER_MART]} order by month_start"
                ))
            ]  # fmt: skip
            board.currency = next((r["currency"] for r in board.turnover if r["currency"]), None)
        if ACTIVE_USERS_MART in names:
            rows = _rows(reader, (
                "select period, period_start, active_contacts"
                f" from tenant.{names[ACTIVE_USERS_MART]} order by period, period_start"
            ))  # fmt: skip
            board.active_users = {
                period: [
                    {**row, "label": _period_label(period, row["period_start"])}
                    for row in rows if row["period"] == period
                ]
                for period in ACTIVE_USER_PERIODS
            }
            board.active_users["day"] = board.active_users["day"][-DAILY_POINTS:]
        if DELIVERY_MART in names:
            board.delivery = [
                {**row, "month": month_label(row["month_start"])}
                for row in _rows(reader, (
                    "select month_start, inbound_messages, outbound_messages,"
                    " delivered_messages, read_messages, failed_messages,"
                    " delivery_rate, read_rate, failure_rate"
                    f" from tenant.{names[DELIVERY_MART]} order by month_start"
                ))
            ]  # fmt: skip
    return board


def _period_label(period: str, start: Any) -> str:
    if period == "month":
        return month_label(start)
    if isinstance(start, dt.datetime):
        start = start.date()
    return start.isoformat() if isinstance(start, dt.date) else str(start)[:10]


def format_money(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "-"
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{units:,}.{rest:02d} {currency or ''}".strip()


def format_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{float(rate) * 100:.1f}%"
