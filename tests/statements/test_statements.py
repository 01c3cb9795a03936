"""Billing statements equal the billing marts to the cent: the lines, the accounting CSV and the
printable HTML (opened in headless Chromium and printed to PDF); restatements show the reported
figure, today's and the difference."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tenant_warehouse.cli import main
from tenant_warehouse.settings import Settings
from tenant_warehouse.statements import (
    CSV_COLUMNS,
    StatementError,
    statement_html,
    statement_rows,
)
from tests.exports.billing_scenario import RESTATED_MONTH, RESTATED_TENANT, warehouse_file
from tests.support.pipeline import Pipeline


def marts(scenario: Pipeline) -> tuple[dict, dict, list[str]]:
    with duckdb.connect(str(warehouse_file(scenario)), read_only=True) as connection:
        billing = {
            (r[0], f"{r[1]:%Y-%m}"): r[2:]
            for r in connection.execute(
                "select b.tenant_id, b.month_start, b.plan, b.currency, b.turnover_cents,"
                " b.monthly_fee_cents, b.variable_fee_cents, b.billed_cents, b.billed,"
                " b.is_closed, p.turnover_rate_bps"
                " from marts.billing_by_organization_month as b"
                " inner join reference.plans as p on b.plan = p.plan and b.currency = p.currency"
            ).fetchall()
        }
        reported = {
            (r[0], f"{r[1]:%Y-%m}"): r[2:]
            for r in connection.execute(
                "select tenant_id, month_start, plan, reported_turnover_cents,"
                " reported_billed_cents, current_billed_cents, is_restated"
                " from marts.billing_reported_by_organization_month"
            ).fetchall()
        }
        tenants = [r[0] for r in connection.execute(
            "select tenant_id from marts.dim_organizations order by tenant_id"
        ).fetchall()]  # fmt: skip
    return billing, reported, tenants


def test_statement_lines_equal_the_billing_marts_to_the_cent(
    settings: Settings, scenario: Pipeline
) -> None:
    billing, reported, tenants = marts(scenario)
    lines = [line for tenant in tenants for line in statement_rows(settings, "duckdb", tenant)]
    billed = {(item.tenant_id, item.month): item for item in lines if item.billed_cents is not None}
    assert set(billed) == {key for key in billing if key[0] in tenants}
    for key, line in billed.items():
        plan, currency, turnover, fee, variable, cents, amount, closed, rate = billing[key]
        assert (line.plan, line.currency, line.turnover_cents, line.monthly_fee_cents,
                line.variable_fee_cents, line.billed_cents, line.is_closed,
                line.turnover_rate_bps) == (plan, currency, turnover, fee, variable, cents,
                                            closed, rate), key  # fmt: skip
        assert line.monthly_fee_cents + line.variable_fee_cents == line.amount_due_cents
        assert Decimal(line.amount_due_cents) / 100 == amount
    for key, (plan, turnover, cents, _current, restated) in reported.items():
        if key[0] not in tenants:
            continue
        line = next(item for item in lines if (item.tenant_id, item.month) == key)
        assert (line.reported_plan, line.reported_turnover_cents, line.reported_billed_cents) == (plan, turnover, cents)
        assert line.is_restated == restated, key
    restated = [(item.tenant_id, item.month) for item in lines if item.is_restated]
    assert restated == [(RESTATED_TENANT, RESTATED_MONTH)]
    line = next(item for item in lines if (item.tenant_id, item.month) == restated[0])
    assert line.restatement_cents == line.billed_cents - line.reported_billed_cents < 0


def test_accounting_csv_equals_the_marts(
    settings: Settings, scenario: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    billing, reported, _ = marts(scenario)
    assert main(["statements", "--all-tenants", "--output", str(tmp_path)]) == 0
    assert f"{len({key[0] for key in billing})} statement(s)" in capsys.readouterr().out
    text = (tmp_path / "statements.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {(r["tenant_id"], r["period_start"][:7]) for r in rows} == set(billing)
    for row in rows:
        plan, currency, turnover, fee, variable, cents, amount, closed, rate = billing[
            (row["tenant_id"], row["period_start"][:7])
        ]
        assert Decimal(row["amount_due"]) == amount
        assert (Decimal(row["monthly_fee"]) * 100, Decimal(row["variable_fee"]) * 100,
                Decimal(row["amount_due"]) * 100) == (fee, variable, cents)  # fmt: skip
        assert Decimal(row["monthly_fee"]) + Decimal(row["variable_fee"]) == Decimal(row["amount_due"])
        assert (Decimal(row["turnover"]) * 100, row["plan"], row["currency"], int(row["turnover_rate_bps"])) == (
            turnover, plan, currency, rate,
        )
        assert row["status"] == ("closed" if closed else "open")
    restated = [r for r in rows if r["restatement_adjustment"]]
    assert [(r["tenant_id"], r["period_start"][:7]) for r in restated] == [(RESTATED_TENANT, RESTATED_MONTH)]
    _, _, reported_cents, current, _ = reported[(RESTATED_TENANT, RESTATED_MONTH)]
    assert Decimal(restated[0]["reported_amount"]) * 100 == reported_cents
    assert Decimal(restated[0]["restatement_adjustment"]) * 100 == current - reported_cents
    assert len(list(tmp_path.glob("statement-*.html"))) == len({key[0] for key in billing})


def test_printable_html_statement_shows_the_month_and_its_restatements(
    settings: Settings, scenario: Pipeline, tmp_path: Path
) -> None:
    billing, reported, _ = marts(scenario)
    month = "2026-06"  # the month after the restated one
    html = statement_html(settings, "duckdb", RESTATED_TENANT, month)
    amount = billing[(RESTATED_TENANT, month)][6]
    _, _, reported_cents, current, _ = reported[(RESTATED_TENANT, RESTATED_MONTH)]

    page = render_in_chromium(html, tmp_path)
    assert page["due"] == f"{amount:,.2f}" == page["total"]
    assert page["restated"] == [[
        RESTATED_MONTH, f"{Decimal(reported_cents) / 100:,.2f}", f"{Decimal(current) / 100:,.2f}",
        f"{Decimal(current - reported_cents) / 100:,.2f}",
    ]]
    assert page["pdf_bytes"] > 5_000 and page["fits_width"]

    # The whole account: every billed month, same restatement.
    full = statement_html(settings, "duckdb", RESTATED_TENANT, None)
    assert full.count('<tr data-month="') == len([k for k in billing if k[0] == RESTATED_TENANT]) + 1


def render_in_chromium(html: str, tmp_path: Path) -> dict:
    from playwright.sync_api import Error, sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    path = tmp_path / "statement.html"
    path.write_text(html, encoding="utf-8")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ])  # fmt: skip
            page = browser.new_page(viewport={"width": 800, "height": 1100})
            page.goto(path.as_uri())
            result = page.evaluate("""() => ({
                due: document.querySelector('#charges tbody .amount-due').textContent.trim(),
                total: document.querySelector('#total-due').textContent.trim(),
                restated: [...document.querySelectorAll('#restatements tbody tr')].map(r =>
                    [r.dataset.month, ...[...r.querySelectorAll('td.num')].map(c => c.textContent.trim())]),
                fits_width: document.documentElement.scrollWidth <= window.innerWidth,
            })""")
            result["pdf_bytes"] = len(page.pdf(format="A4"))
            browser.close()
    except Error as exc:
        pytest.fail(f"chromium could not render the statement: {exc}")
    return result


def test_statement_mistakes_name_tenant_and_month(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(StatementError, match=r"tenant uk:2: no billing for 2025-01 \(billed months: 2026-01"):
        statement_html(settings, "duckdb", "uk:2", "2025-01")
    with pytest.raises(StatementError, match="tenant uk:2: month '2026-13' is not YYYY-MM"):
        statement_html(settings, "duckdb", "uk:2", "2026-13")
    with pytest.raises(StatementError, match="tenant uk:999999: no such organization"):
        statement_rows(settings, "duckdb", "uk:999999")
    with pytest.raises(SystemExit) as exit_info:
        main(["statements", "--tenant", "uk:2", "--month", "May", "--output", "/nonexistent"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().out.strip() == "error: --month 'May' is not YYYY-MM (e.g. 2026-05)"
