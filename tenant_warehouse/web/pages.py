"""What each page needs, one function per question the routes ask (all blocking: the routes run
them in a thread pool). The tenant-side parts come from their owners: logins from the tenant
registry, numbers through the tenant door, statements from the statements package."""

from __future__ import annotations

from typing import Any

from tenant_warehouse.settings import Settings
from tenant_warehouse.statements import (
    StatementError,
    StatementLine,
    statement_html,
    statement_rows,
)
from tenant_warehouse.tenants.registry import Principal, registered_principals, verify_login
from tenant_warehouse.web import charts
from tenant_warehouse.web.operator_view import OperatorDashboard, load_operator_dashboard
from tenant_warehouse.web.tenant_view import (
    TenantDashboard,
    format_money,
    format_rate,
    load_tenant_dashboard,
)

__all__ = [
    "format_money",
    "format_rate",
    "load_operator_dashboard",
    "load_tenant_dashboard",
    "login_is_registered",
    "operator_figures",
    "statement_document",
    "statement_lines",
    "tenant_figures",
    "verify",
]


def verify(settings: Settings, login: str, password: str) -> Principal | None:
    return verify_login(settings, login, password)


def login_is_registered(settings: Settings, login: str) -> bool:
    """False once the login was removed: its open sessions end at their next request."""
    return any(principal.login == login for principal, _ in registered_principals(settings))


def statement_lines(settings: Settings, warehouse: str, tenant_id: str) -> list[StatementLine]:
    try:
        return statement_rows(settings, warehouse, tenant_id)
    except StatementError:
        return []  # the organization has no billing yet (e.g. created this month)


def statement_document(
    settings: Settings, warehouse: str, tenant_id: str, month: str
) -> str | None:
    """The tenant's statement of `month` (all months: None) as HTML; None when not billed."""
    try:
        return statement_html(settings, warehouse, tenant_id, month)
    except StatementError:
        return None


def tenant_figures(board: TenantDashboard) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    currency = board.currency or ""
    if board.turnover:
        months = [row["month"] for row in board.turnover]
        figures["turnover"] = charts.bar_chart(
            f"Turnover per month ({currency})", months,
            {"turnover": [row["turnover_cents"] / 100 for row in board.turnover]}, currency,
        )  # fmt: skip
        figures["orders"] = charts.bar_chart(
            "Completed orders per month", months,
            {"completed orders": [row["completed_orders"] for row in board.turnover]}, "orders",
        )  # fmt: skip
    if board.active_users:
        monthly = board.active_users["month"]
        daily = board.active_users["day"]
        figures["active_users"] = charts.bar_chart(
            "Active users per month", [row["label"] for row in monthly],
            {"active contacts": [row["active_contacts"] for row in monthly]}, "contacts",
        )  # fmt: skip
        if daily:
            figures["active_users_daily"] = charts.line_chart(
                "Active users per day", [row["label"] for row in daily],
                {"active contacts": [row["active_contacts"] for row in daily]}, "contacts",
                category_axis=False,
            )  # fmt: skip
    if board.delivery:
        months = [row["month"] for row in board.delivery]
        figures["messages"] = charts.bar_chart(
            "Messages per month", months,
            {
                "inbound": [row["inbound_messages"] for row in board.delivery],
                "outbound": [row["outbound_messages"] for row in board.delivery],
            },
            "messages",
        )  # fmt: skip
        figures["delivery"] = charts.line_chart(
            "Delivery rates of outbound messages", months,
            {
                name: [None if row[column] is None else float(row[column]) for row in board.delivery]
                for name, column in (("delivered", "delivery_rate"), ("read", "read_rate"),
                                     ("failed", "failure_rate"))
            },
            "share of outbound", percent=True,
        )  # fmt: skip
    return figures


def operator_figures(board: OperatorDashboard) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    if board.turnover_global:
        figures["turnover_global"] = charts.bar_chart(
            "Global turnover per month (EUR)", [row["month"] for row in board.turnover_global],
            {"EUR": [(row["turnover_cents"] or 0) / 100 for row in board.turnover_global]}, "EUR",
        )  # fmt: skip
    if board.turnover_by_instance:
        rows = [
            {**row, "series": f"{row['instance_id']} ({row['currency']})",
             "amount": (row["turnover_cents"] or 0) / 100}
            for row in board.turnover_by_instance
        ]  # fmt: skip
        months, series = charts.pivot(rows, "month", "series", "amount")
        figures["turnover_by_instance"] = charts.line_chart(
            "Turnover per instance and month (instance currency)", months, series, "amount"
        )
    if board.new_organizations:
        months, series = charts.pivot(board.new_organizations, "month", "kind", "new_organizations")
        figures["new_organizations"] = charts.bar_chart(
            "New organizations per month, by kind (every instance)", months, series,
            "organizations", stacked=True,
        )  # fmt: skip
    if board.active_users_monthly:
        figures["active_users_global"] = charts.bar_chart(
            "Active users per month (every instance, UTC)",
            [row["month"] for row in board.active_users_monthly],
            {"active contacts": [row["active_contacts"] for row in board.active_users_monthly]},
            "contacts",
        )  # fmt: skip
    return figures
