"""Statements as an accounting-tool CSV and as a printable HTML page per organization."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tenant_warehouse.settings import Settings
from tenant_warehouse.statements.lines import (
    StatementError,
    StatementLine,
    amount,
    parse_month,
    statement_rows,
)

# One row per organization and month; amounts are decimal strings with a point and 2 places,
# no thousands separator, so any accounting import reads them exactly.
CSV_COLUMNS = (
    "invoice_number", "tenant_id", "instance_id", "organization_id", "organization_name",
    "period_start", "period_end", "status", "plan", "currency", "monthly_fee",
    "turnover_rate_bps", "turnover", "variable_fee", "amount_due", "reported_at",
    "reported_plan", "reported_amount", "restatement_adjustment",
)  # fmt: skip


def csv_record(line: StatementLine) -> dict[str, str]:
    def money(cents: int | None) -> str:
        value = amount(cents)
        return "" if value is None else f"{value:.2f}"

    return {
        "invoice_number": line.invoice_number,
        "tenant_id": line.tenant_id,
        "instance_id": line.instance_id,
        "organization_id": str(line.organization_id),
        "organization_name": line.organization_name,
        "period_start": line.month_start.isoformat(),
        "period_end": line.period_end.isoformat(),
        "status": "closed" if line.is_closed else "open",
        "plan": line.plan or "",
        "currency": line.currency,
        "monthly_fee": money(line.monthly_fee_cents),
        "turnover_rate_bps": "" if line.turnover_rate_bps is None else str(line.turnover_rate_bps),
        "turnover": money(line.turnover_cents),
        "variable_fee": money(line.variable_fee_cents),
        "amount_due": money(line.amount_due_cents),
        "reported_at": line.reported_at.isoformat() if line.reported_at else "",
        "reported_plan": line.reported_plan or "",
        "reported_amount": money(line.reported_billed_cents),
        "restatement_adjustment": money(line.restatement_cents) if line.is_restated else "",
    }


def statement_csv(lines: Iterable[StatementLine]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for line in lines:
        writer.writerow(csv_record(line))
    return buffer.getvalue()


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("tenant_warehouse.statements", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = lambda cents: "" if cents is None else f"{amount(cents):,.2f}"
    environment.filters["bps"] = lambda bps: "" if bps is None else f"{bps / 100:.2f} %"
    return environment


def render_statement_html(lines: Sequence[StatementLine], month: str | None = None) -> str:
    """The printable statement of one organization: every month (month=None), or one month
    with the restatements of earlier months."""
    if not lines:
        raise StatementError("no billed month to put on a statement")
    tenant_id = lines[0].tenant_id
    if month is None:
        charged, restated = list(lines), [line for line in lines if line.is_restated]
        title = "Account statement"
    else:
        start = parse_month(tenant_id, month)
        charged = [line for line in lines if line.month_start == start]
        if not charged:
            available = ", ".join(line.month for line in lines)
            raise StatementError(
                f"tenant {tenant_id}: no billing for {month} (billed months: {available})"
            )
        restated = [line for line in lines if line.month_start < start and line.is_restated]
        title = f"Statement {month}"
    first = lines[0]
    return _environment().get_template("statement.html").render(
        title=title,
        organization=first.organization_name,
        tenant_id=tenant_id,
        currency=first.currency,
        lines=charged,
        restated=restated,
        total_due=sum(line.amount_due_cents for line in charged),
        total_restatement=sum(line.restatement_cents for line in restated),
        issued=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def statement_html(settings: Settings, warehouse: str, tenant_id: str, month: str | None) -> str:
    """The printable HTML statement of a tenant (organization), for one month or all."""
    if month is not None:
        parse_month(tenant_id, month)  # a bad month is reported before touching the warehouse
    lines = statement_rows(settings, warehouse, tenant_id)
    if not lines:
        raise StatementError(f"tenant {tenant_id}: no billed month yet")
    return render_statement_html(lines, month)


def write_statements(
    settings: Settings,
    warehouse: str,
    tenant_ids: Sequence[str],
    output_dir: Path,
    month: str | None = None,
    progress: object | None = None,
) -> tuple[Path, list[Path]]:
    """statements.csv with every tenant's lines (one month or all) and one HTML per tenant."""
    output_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"-{month}" if month else ""
    html_files: list[Path] = []
    all_lines: list[StatementLine] = []
    for tenant_id in tenant_ids:
        lines = statement_rows(settings, warehouse, tenant_id)
        if not lines:
            continue
        if month is not None:
            start = parse_month(tenant_id, month)
            if not any(line.month_start == start for line in lines):
                continue  # not billed that month (created later, deleted before): no statement
        html = render_statement_html(lines, month)
        from tenant_warehouse.exports.dump import tenant_slug

        path = output_dir / f"statement-{tenant_slug(tenant_id)}{suffix}.html"
        path.write_text(html, encoding="utf-8")
        html_files.append(path)
        all_lines += [line for line in lines if month is None or line.month == month]
        if callable(progress):
            progress(tenant_id)
    csv_path = output_dir / f"statements{suffix}.csv"
    csv_path.write_text(statement_csv(all_lines), encoding="utf-8", newline="")
    return csv_path, html_files
