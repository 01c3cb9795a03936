"""Statement lines: one per organization and month, read from the billing marts through the
tenant door, with what the month was first reported as (restatements).

Every figure is copied from the marts in integer cents (`billing_by_organization_month`,
`billing_reported_by_organization_month`); nothing is recomputed here, so a statement equals the
marts to the cent. The plan's rate (basis points) comes from seed `plans`, the public price list.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tenant_warehouse.settings import Settings

MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
BILLING = "billing_by_organization_month"
REPORTED = "billing_reported_by_organization_month"
# The price list: the contract model every profile with billing builds (its schema from dbt's
# manifest), else the reference platform's seed (a warehouse built before the contract).
PRICE_MODEL = "contract_plan_prices"
PRICE_SEED = ("reference", "plans")


class StatementError(ValueError):
    """A statement that cannot be made as asked (unknown month, no billing); names the tenant."""


@dataclass(frozen=True)
class StatementLine:
    tenant_id: str
    instance_id: str
    organization_id: int
    organization_name: str
    month_start: dt.date
    currency: str
    is_closed: bool
    # What the month bills today (None: no longer billed, e.g. organization deleted before the
    # month's end after it was reported).
    plan: str | None
    monthly_fee_cents: int | None
    turnover_rate_bps: int | None
    turnover_cents: int | None
    variable_fee_cents: int | None
    billed_cents: int | None
    # What the month was first reported as (None: not reported yet, e.g. the open month).
    reported_at: dt.datetime | None = None
    reported_plan: str | None = None
    reported_turnover_cents: int | None = None
    reported_billed_cents: int | None = None

    @property
    def month(self) -> str:
        return f"{self.month_start:%Y-%m}"

    @property
    def period_end(self) -> dt.date:
        following = (self.month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(days=1)

    @property
    def invoice_number(self) -> str:
        return f"{self.instance_id.upper()}-{self.organization_id}-{self.month_start:%Y%m}"

    @property
    def amount_due_cents(self) -> int:
        return self.billed_cents or 0

    @property
    def is_restated(self) -> bool:
        """Reported once, and today's figures (or plan) differ from that report."""
        if self.reported_billed_cents is None:
            return False
        return self.billed_cents != self.reported_billed_cents or self.plan != self.reported_plan

    @property
    def restatement_cents(self) -> int:
        """Today's bill minus the reported one: positive is owed, negative is a credit."""
        if self.reported_billed_cents is None:
            return 0
        return self.amount_due_cents - self.reported_billed_cents


def amount(cents: int | None) -> Decimal | None:
    """Cents as an exact decimal amount (2 places)."""
    return None if cents is None else (Decimal(cents) / 100).quantize(Decimal("0.01"))


def parse_month(tenant_id: str | None, month: str) -> dt.date:
    match = MONTH.match(month or "")
    if not match or not 1 <= int(match["month"]) <= 12:
        where = f"tenant {tenant_id}: month" if tenant_id else "--month"
        raise StatementError(f"{where} {month!r} is not YYYY-MM (e.g. 2026-05)")
    return dt.date(int(match["year"]), int(match["month"]), 1)


def statement_rows(settings: Settings, warehouse: str, tenant_id: str) -> list[StatementLine]:
    """Every billed or reported month of the tenant, oldest first."""
    from tenant_warehouse.tenants.access import tenant_reader

    with tenant_reader(settings, warehouse, tenant_id) as reader:
        published = {relation.name for relation in reader.relations()}
        if BILLING not in published:
            raise StatementError(
                f"tenant {tenant_id}: no billing in this warehouse ({BILLING} is not built: the "
                "platform profile has no orders or no plan prices)"
            )
        organization = reader.query(
            "select instance_id, organization_id, organization_name from tenant.organization"
        ).to_pylist()
        billing = reader.query(
            "select month_start, plan, currency, turnover_cents, monthly_fee_cents,"
            f" variable_fee_cents, billed_cents, is_closed from tenant.{BILLING}"
            " order by month_start"
        ).to_pylist()
        reported = reader.query(
            "select month_start, plan, currency, reported_at, reported_turnover_cents,"
            f" reported_billed_cents from tenant.{REPORTED}"
        ).to_pylist() if REPORTED in published else []
    if not organization:
        raise StatementError(f"tenant {tenant_id}: no such organization in the warehouse")
    rates = plan_rates(settings, warehouse)
    return build_lines(tenant_id, organization[0], billing, reported, rates)


def build_lines(
    tenant_id: str,
    organization: dict[str, Any],
    billing: list[dict[str, Any]],
    reported: list[dict[str, Any]],
    rates: list[dict[str, Any]],
) -> list[StatementLine]:
    reports = {_date(row["month_start"]): row for row in reported}
    current = {_date(row["month_start"]): row for row in billing}
    lines = []
    for month_start in sorted(set(current) | set(reports)):
        row, report = current.get(month_start), reports.get(month_start) or {}
        currency = (row or report)["currency"]
        plan = row["plan"] if row else None
        lines.append(StatementLine(
            tenant_id=tenant_id,
            instance_id=organization["instance_id"],
            organization_id=int(organization["organization_id"]),
            organization_name=organization["organization_name"] or f"organization {tenant_id}",
            month_start=month_start,
            currency=currency,
            is_closed=bool(row["is_closed"]) if row else True,
            plan=plan,
            monthly_fee_cents=_int(row, "monthly_fee_cents"),
            turnover_rate_bps=rate_of(rates, plan, currency, month_start) if plan else None,
            turnover_cents=_int(row, "turnover_cents"),
            variable_fee_cents=_int(row, "variable_fee_cents"),
            billed_cents=_int(row, "billed_cents"),
            reported_at=report.get("reported_at"),
            reported_plan=report.get("plan"),
            reported_turnover_cents=_int(report, "reported_turnover_cents"),
            reported_billed_cents=_int(report, "reported_billed_cents"),
        ))  # fmt: skip
    return lines


def plan_rates(settings: Settings, warehouse: str) -> list[dict[str, Any]]:
    """The price list's rows (plan, currency, valid_from, valid_to, turnover_rate_bps; no tenant
    data): the profile's contract model, else seed `plans`; none when neither exists."""
    from tenant_warehouse.monitoring.store import open_warehouse
    from tenant_warehouse.tenants.catalog import profile_models

    models = profile_models(settings, warehouse)
    located = models.relation_of(PRICE_MODEL) if models else None
    with open_warehouse(settings, warehouse, read_only=True) as store:
        schema, name = located.split(".", 1) if located else PRICE_SEED
        if store.relation_exists(schema, name):
            validity = "valid_from, valid_to" if located else "null as valid_from, null as valid_to"
            return store.query(f"select plan, currency, {validity}, turnover_rate_bps"
                               f" from {schema}.{name}")
    return []


def rate_of(rates: list[dict[str, Any]], plan: str, currency: str, month_start: dt.date) -> int | None:
    """The plan's turnover rate in force for the month: valid_from <= month start < valid_to
    (null bounds are open), as the billing marts price it."""
    for row in rates:
        if (row["plan"], row["currency"]) != (plan, currency):
            continue
        start, end = row.get("valid_from"), row.get("valid_to")
        if (start is None or _date(start) <= month_start) and (end is None or month_start < _date(end)):
            return int(row["turnover_rate_bps"])
    return None


def _int(row: dict[str, Any] | None, key: str) -> int | None:
    if not row or row.get(key) is None:
        return None
    return int(row[key])


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value
