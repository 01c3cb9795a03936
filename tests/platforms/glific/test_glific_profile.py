"""The glific profile's marts equal the Glific oracle, on DuckDB and on PostgreSQL, after the
generated history and again after more activity with hard deletes (conftest.py builds both
cycles once per session).

The oracle (reference_platform/samples/glific/truth.py) reads the instance databases with plain
SQL and counts in Python: active contacts per organization and month (organization's zone),
message delivery per organization and month, new organizations per instance and month
(instance's zone), and the rows kept out (missing_direction, tenant_mismatch) or kept with a
fallback (invalid_time_zone). Counts compare exactly, rates to the 4 decimals the mart has.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.platforms.glific.conftest import ABSENT_MARTS, WAREHOUSES, Cycle
from tests.support.verify import MART_KEYS, compare_rows

Rows = list[dict[str, Any]]
CASES = [(w, c) for c in (1, 2) for w in WAREHOUSES]
IDS = [f"{w}-cycle{c}" for w, c in CASES]


def tenant(row: dict[str, Any]) -> str:
    return f"{row['instance_id']}:{row['organization_id']}"


def months(row: dict[str, Any]) -> dict[str, Any]:
    """An oracle row of a month as the active-user marts put it: period 'month', period_start."""
    shaped = {k: v for k, v in row.items() if k != "month_start"}
    return {**shaped, "period": "month", "period_start": row["month_start"]}


def expected_marts(truth: dict[str, Rows]) -> dict[str, Rows]:
    """The oracle's rows in the marts' shape (tenant_id, period rows)."""
    return {
        "active_users_by_organization": [
            {"tenant_id": tenant(r), "period": "month", "period_start": r["month_start"],
             "active_contacts": r["active_contacts"]}
            for r in truth["active_contacts_by_organization_month"]],
        "active_users_by_instance": [
            months(r) for r in truth["active_contacts_by_instance_month"]],
        "active_users_global": [
            months(r) for r in truth["active_contacts_global_month"]],
        "message_delivery_by_organization_month": [
            {**{k: v for k, v in r.items() if k not in ("instance_id", "organization_id")},
             "tenant_id": tenant(r)}
            for r in truth["message_delivery_by_organization_month"]],
        "new_organizations_by_month": truth["new_organizations_by_month"],
        "dq_quarantined_rows": [
            {"instance_id": q["instance_id"], "table_name": q["table_name"],
             "row_id": q["row_id"], "quarantine_reason": q["reason"]}
            for q in truth["quarantined"]],
    }


def actual_marts(cycle: Cycle, warehouse: str) -> dict[str, Rows]:
    marts = cycle.marts[warehouse]
    return {
        **{mart: [r for r in marts[mart] if r["period"] == "month"]
           for mart in ("active_users_by_organization", "active_users_by_instance",
                        "active_users_global")},
        "message_delivery_by_organization_month":
            marts["message_delivery_by_organization_month"],
        "new_organizations_by_month": marts["new_organizations_by_month"],
        "dq_quarantined_rows": marts["dq_quarantined_rows"],
    }


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest, glific_cycles: list[Cycle]) -> tuple[str, Cycle]:
    warehouse, number = request.param
    return warehouse, glific_cycles[number - 1]


def test_marts_equal_the_oracle(case: tuple[str, Cycle]) -> None:
    warehouse, cycle = case
    expected, actual = expected_marts(cycle.truth), actual_marts(cycle, warehouse)
    comparisons = [compare_rows(mart, MART_KEYS[mart], expected[mart], actual[mart])
                   for mart in expected]
    failures = [c.describe() for c in comparisons if not c.ok]
    assert not failures, "\n".join(failures)
    # Not a comparison of empty sets: a history of several months, tenants and instances.
    assert len(expected["active_users_by_organization"]) >= 15
    assert len(expected["message_delivery_by_organization_month"]) >= 15
    assert {r["instance_id"] for r in expected["new_organizations_by_month"]} == {
        "br", "in", "ng"}
    delivery = expected["message_delivery_by_organization_month"]
    assert sum(r["outbound_messages"] for r in delivery) > 200
    assert sum(r["failed_messages"] for r in delivery) > 0


def test_every_kind_of_bad_row_is_quarantined(case: tuple[str, Cycle]) -> None:
    warehouse, cycle = case
    reasons = {r["quarantine_reason"] for r in cycle.marts[warehouse]["dq_quarantined_rows"]}
    assert reasons >= {"missing_direction", "tenant_mismatch", "invalid_time_zone"}
    # The organization whose zone is not a zone name stays, counted in its instance's zone.
    kept = {(q["instance_id"], q["row_id"]) for q in cycle.truth["quarantined"] if q["kept"]}
    assert kept
    fallback = {(r["instance_id"], r["organization_id"]): r["time_zone"]
                for r in cycle.marts[warehouse]["dim_organizations"]
                if r["is_time_zone_fallback"]}
    assert set(fallback) == kept
    zones = {"br": "America/Sao_Paulo", "in": "Asia/Kolkata", "ng": "Africa/Lagos"}
    assert all(zone == zones[instance] for (instance, _), zone in fallback.items())


def test_no_order_or_billing_marts(case: tuple[str, Cycle]) -> None:
    warehouse, cycle = case
    assert cycle.present[warehouse] == dict.fromkeys(ABSENT_MARTS, False)


@pytest.mark.parametrize("warehouse", WAREHOUSES)
def test_second_cycle_propagates_hard_deletes(glific_cycles: list[Cycle],
                                              warehouse: str) -> None:
    first, second = glific_cycles
    erased = set(second.erased_messages)
    assert erased, "the erasure deleted no message"
    before = {(r["instance_id"], r["message_id"]) for r in first.marts[warehouse]["fct_messages"]}
    after = {(r["instance_id"], r["message_id"]) for r in second.marts[warehouse]["fct_messages"]}
    assert erased <= before
    assert not erased & after
    # The generator wiped a soft-deleted organization's data in the second cycle: more rows left
    # than the erasure alone, and new messages arrived.
    assert len(before - after) > len(erased)
    assert after - before
    # The second cycle's marts differ from the first's (the comparison above is not vacuous).
    assert first.truth["active_contacts_by_organization_month"] != (
        second.truth["active_contacts_by_organization_month"])
