"""Statements on a warehouse whose platform profile has no billing: one clear error naming the
tenant, not a crash; and the rate of a price list with validity dates is the one in force."""

from __future__ import annotations

import datetime as dt

import pytest

from tenant_warehouse.settings import Settings
from tenant_warehouse.statements import StatementError, statement_rows
from tenant_warehouse.statements.lines import rate_of
from tests.exports.billing_scenario import billing_warehouse
from tests.tenants.profile_fixture import without_orders


def test_no_billing_in_the_profile_is_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = billing_warehouse(tmp_path_factory).home
    home = without_orders(built, tmp_path_factory.mktemp("chatbot") / "home")
    monkeypatch.setenv("TW_HOME", str(home))
    monkeypatch.delenv("TW_DUCKDB_PATH", raising=False)
    with pytest.raises(StatementError, match=r"tenant uk:2: no billing in this warehouse"):
        statement_rows(Settings(home=home), "duckdb", "uk:2")


def test_the_rate_in_force_is_the_one_of_the_month() -> None:
    rates = [
        {"plan": "pro", "currency": "EUR", "valid_from": None, "valid_to": dt.date(2026, 3, 15),
         "turnover_rate_bps": 150},
        {"plan": "pro", "currency": "EUR", "valid_from": dt.date(2026, 3, 15), "valid_to": None,
         "turnover_rate_bps": 200},
        {"plan": "pro", "currency": "GBP", "valid_from": None, "valid_to": None,
         "turnover_rate_bps": 90},
    ]
    # A mid-month change applies from the next month (valid_from <= month start < valid_to).
    assert rate_of(rates, "pro", "EUR", dt.date(2026, 3, 1)) == 150
    assert rate_of(rates, "pro", "EUR", dt.date(2026, 4, 1)) == 200
    assert rate_of(rates, "pro", "GBP", dt.date(2026, 4, 1)) == 90
    assert rate_of(rates, "basic", "EUR", dt.date(2026, 4, 1)) is None
