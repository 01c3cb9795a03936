"""The ofn profile's marts equal the OFN oracle, on DuckDB and PostgreSQL, after each of two
cycles (conftest.py builds them once per session).

The oracle (reference_platform.samples.ofn.truth) reads the source databases and the profile's
seeds in plain Python; the marts come from raw through the profile's staging and contract
models and the product's intermediate models and marts. Money compares in exact minor units
(and the decimal amounts beside them exactly), counts exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from tests.platforms.ofn.conftest import ABSENT, WAREHOUSES, Cycle, Row
from tests.support.verify import compare_rows

CYCLES = {"generated": 0, "after_a_day": 1}


def tenant(row: Row, organization_column: str) -> str:
    return f"{row['instance_id']}:{row[organization_column]}"


def turnover_by_organization(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"tenant_id": tenant(r, "distributor_id"), "month_start": r["month_start"],
             "currency": r["currency"], "completed_orders": r["completed_orders"],
             "turnover_cents": r["turnover_cents"],
             "turnover": Decimal(r["turnover_cents"]) / 100}
            for r in truth["turnover_by_distributor_month"]]


def turnover_by_instance(truth: dict[str, list[Row]]) -> list[Row]:
    return [{**r, "turnover": Decimal(r["turnover_cents"]) / 100}
            for r in truth["turnover_by_instance_month"]]


def turnover_global(truth: dict[str, list[Row]]) -> list[Row]:
    return [{**r, "turnover": Decimal(r["turnover_cents"]) / 100}
            for r in truth["turnover_global_month"]]


def new_organizations(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"instance_id": r["instance_id"], "month_start": r["month_start"], "kind": r["kind"],
             "new_organizations": r["new_enterprises"]}
            for r in truth["new_enterprises_by_month"]]


def billing(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"tenant_id": tenant(r, "enterprise_id"), "month_start": r["month_start"],
             "plan": r["sells"], "currency": r["currency"],
             "turnover_cents": r["turnover_cents"], "monthly_fee_cents": r["monthly_fee_cents"],
             "variable_fee_cents": r["variable_fee_cents"], "billed_cents": r["billed_cents"],
             "billed": Decimal(r["billed_cents"]) / 100}
            for r in truth["billing_by_shop_month"]]


def active_by_organization(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"tenant_id": tenant(r, "distributor_id"), "period": "month",
             "period_start": r["month_start"], "active_contacts": r["active_customers"]}
            for r in truth["active_customers_by_shop_month"]]


def active_by_instance(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"instance_id": r["instance_id"], "period": "month", "period_start": r["month_start"],
             "active_contacts": r["active_customers"]}
            for r in truth["active_customers_by_instance_month"]]


def active_global(truth: dict[str, list[Row]]) -> list[Row]:
    return [{"period": "month", "period_start": r["month_start"],
             "active_contacts": r["active_customers"]}
            for r in truth["active_customers_global_month"]]


def quarantined(truth: dict[str, list[Row]]) -> list[Row]:
    orders = [{"instance_id": q["instance_id"], "table_name": "orders", "row_id": q["order_id"],
               "quarantine_reason": q["reason"]} for q in truth["quarantined_orders"]]
    lines = [{"instance_id": q["instance_id"], "table_name": "order_lines",
              "row_id": q["order_line_id"], "quarantine_reason": q["reason"]}
             for q in truth["quarantined_order_lines"]]
    return orders + lines


# mart -> (its grain, the oracle's rows in the mart's column names)
EXPECTED: dict[str, tuple[tuple[str, ...], Callable[[dict[str, list[Row]]], list[Row]]]] = {
    "turnover_by_organization_month": (("tenant_id", "month_start"), turnover_by_organization),
    "turnover_by_instance_month": (("instance_id", "month_start"), turnover_by_instance),
    "turnover_global_month": (("month_start",), turnover_global),
    "new_organizations_by_month": (("instance_id", "month_start", "kind"), new_organizations),
    "billing_by_organization_month": (("tenant_id", "month_start"), billing),
    "dq_quarantined_rows": (("instance_id", "table_name", "row_id"), quarantined),
    # The oracle counts months; the marts' day and week rows are left out of the comparison.
    "active_users_by_organization": (("tenant_id", "period", "period_start"),
                                     active_by_organization),
    "active_users_by_instance": (("instance_id", "period", "period_start"), active_by_instance),
    "active_users_global": (("period", "period_start"), active_global),
}


@pytest.mark.parametrize("cycle", CYCLES.values(), ids=CYCLES.keys())
@pytest.mark.parametrize("warehouse", WAREHOUSES)
@pytest.mark.parametrize("mart", EXPECTED)
def test_mart_equals_oracle(ofn_cycles: list[Cycle], mart: str, warehouse: str,
                            cycle: int) -> None:
    keys, expected_rows = EXPECTED[mart]
    state = ofn_cycles[cycle]
    expected = expected_rows(state.truth)
    actual = state.relations[warehouse][mart]
    assert actual is not None, f"{mart} was not built on {warehouse}"
    actual = [row for row in actual if row.get("period", "month") == "month"]
    assert len(expected) >= 3, f"the oracle has too few {mart} rows to prove anything"
    comparison = compare_rows(mart, keys, expected, actual)
    assert comparison.ok, comparison.describe()


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_every_bad_row_kind_is_quarantined_with_its_reason(ofn_cycles: list[Cycle],
                                                          warehouse: str) -> None:
    rows = ofn_cycles[-1].relations[warehouse]["dq_quarantined_rows"] or []
    reasons = {(r["table_name"], r["quarantine_reason"]) for r in rows}
    # The generator writes every bad kind (missing distributor, missing completed_at, negative
    # total, misspelled state, 1970): each surfaces with the contract's reason.
    assert reasons >= {("orders", "missing_tenant"), ("orders", "negative_money"),
                       ("orders", "unknown_state"), ("orders", "impossible_date"),
                       ("order_lines", "missing_tenant")}
    # The profile's own reason: an order in a currency that is not its instance's.
    changes = ofn_cycles[-1].changes
    assert changes is not None
    assert ("uk", "orders", changes.foreign_order, "foreign_currency") in {
        (r["instance_id"], r["table_name"], r["row_id"], r["quarantine_reason"]) for r in rows}
    valid_orders = {(r["instance_id"], r["order_id"])
                    for r in ofn_cycles[-1].relations[warehouse]["fct_orders"] or []}
    assert not valid_orders & {(r["instance_id"], r["row_id"]) for r in rows
                               if r["table_name"] == "orders"}


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_enterprises_map_to_kinds_and_plans(ofn_cycles: list[Cycle], warehouse: str) -> None:
    organizations = ofn_cycles[-1].relations[warehouse]["dim_organizations"] or []
    pairs = {(o["kind"], o["plan"]) for o in organizations}
    assert pairs <= {("hub", "any"), ("shop", "own"), ("producer", None), ("profile", None)}
    assert {"hub", "shop", "producer"} <= {kind for kind, _ in pairs}
    # Enterprises have no zone: the instance's applies, and that is not a fallback.
    zones = {"au": "Australia/Melbourne", "fr": "Europe/Paris", "uk": "Europe/London"}
    assert {(o["instance_id"], o["time_zone"]) for o in organizations} == set(zones.items())
    assert not any(o["is_time_zone_fallback"] for o in organizations)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_message_marts_are_not_built_for_a_platform_without_messages(
    ofn_cycles: list[Cycle], warehouse: str
) -> None:
    built = [name for name in ABSENT if ofn_cycles[-1].relations[warehouse][name] is not None]
    assert not built


def test_second_cycle_saw_new_activity(ofn_cycles: list[Cycle]) -> None:
    first, second = (cycle.truth for cycle in ofn_cycles)
    assert len(second["quarantined_orders"]) > len(first["quarantined_orders"])
    assert second["turnover_by_distributor_month"] != first["turnover_by_distributor_month"]


def test_a_shop_that_stops_selling_leaves_billing_and_a_producer_that_starts_enters_it(
    ofn_cycles: list[Cycle],
) -> None:
    first, second = ofn_cycles
    assert second.changes is not None
    stopped = f"uk:{second.changes.stopped_selling}"
    started = f"uk:{second.changes.started_selling}"

    def billed(cycle: Cycle) -> set[str]:
        return {row["tenant_id"] for row in billing(cycle.truth)}

    # The oracle sees the change (so the mart comparisons above prove the warehouse does).
    assert stopped in billed(first) and stopped not in billed(second)
    assert started not in billed(first) and started in billed(second)
