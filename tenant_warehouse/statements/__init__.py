"""Billing statements of the organizations (the food-hub network's invoices), from the billing
marts: a CSV an accounting tool imports and a printable HTML statement per organization.

Public functions (the web dashboard links to them):
- `statement_rows(settings, warehouse, tenant_id) -> list[StatementLine]`
- `statement_html(settings, warehouse, tenant_id, month: str | None) -> str`
"""

from tenant_warehouse.statements.lines import (
    StatementError,
    StatementLine,
    amount,
    statement_rows,
)
from tenant_warehouse.statements.render import (
    CSV_COLUMNS,
    render_statement_html,
    statement_csv,
    statement_html,
    write_statements,
)

__all__ = [
    "CSV_COLUMNS",
    "StatementError",
    "StatementLine",
    "amount",
    "render_statement_html",
    "statement_csv",
    "statement_html",
    "statement_rows",
    "write_statements",
]
