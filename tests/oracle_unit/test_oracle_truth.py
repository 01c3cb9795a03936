"""The oracle on tiny hand-made databases: each test is one case the marts must get right."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from math import gcd
from pathlib import Path
from typing import Any

import pytest

from reference_platform.handmade import HandMade, at
from reference_platform.seeds import Seeds
from reference_platform.truth import compute_truth, latest_rows, round_half_away

Make = Callable[[str], HandMade]
SEEDS = Seeds.load()
JAN, FEB, MAR, APR, MAY, JUN, JUL = (date(2026, m, 1) for m in range(1, 8))


@pytest.fixture
def make(tmp_path: Path) -> Make:
    return lambda instance: HandMade(tmp_path, instance)


def truth(*sources: HandMade) -> dict[str, list[dict[str, Any]]]:
    return compute_truth({s.instance: s.url for s in sources})


def pick(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def months(rows: list[dict[str, Any]], **match: Any) -> list[date]:
    return [r["period_start"] for r in pick(rows, period="month", **match)]


# (instance, organization zone, month in the instance's zone, month in UTC) of an order
# completed at 23:30 local on 2026-01-31.
MONTH_END_CASES = [
    ("uk", "Europe/London", JAN, JAN),
    ("uk", "Europe/Gibraltar", JAN, JAN),
    ("uk", "Atlantic/Stanley", FEB, FEB),
    ("au", "Australia/Sydney", JAN, JAN),
    ("au", "Australia/Perth", FEB, JAN),
    ("au", "Australia/Brisbane", FEB, JAN),
    ("au", "Australia/Adelaide", FEB, JAN),
    ("fr", "Europe/Paris", JAN, JAN),
    ("fr", "Indian/Reunion", JAN, JAN),
    ("fr", "America/Martinique", FEB, FEB),
]


@pytest.mark.parametrize(("instance", "time_zone", "instance_month", "utc_month"),
                         MONTH_END_CASES)
def test_2330_on_the_last_day_belongs_to_the_organizations_month(
    make: Make, instance: str, time_zone: str, instance_month: date, utc_month: date
) -> None:
    source = make(instance)
    org = source.org(time_zone, created="2025-12-01 00:00:00")
    source.order(org, contact_id=7, completed=at("2026-01-31 23:30", time_zone), total=1234)
    source.order(org, contact_id=8, completed=at("2026-06-30 23:30", time_zone), total=99)
    result = truth(source)
    turnover = result["turnover_by_organization_month"]
    assert [(r["month_start"], r["turnover_cents"]) for r in turnover] == [(JAN, 1234), (JUN, 99)]
    # The instance sums its organizations' own local months, whatever its zone says.
    assert [r["month_start"] for r in result["turnover_by_instance_month"]] == [JAN, JUN]
    assert months(result["active_users_by_organization"], period_start=JAN) == [JAN]
    assert pick(result["active_users_by_organization"], period="day")[0]["period_start"] == date(
        2026, 1, 31)
    # Instance-level active users use the instance's zone, global ones UTC.
    assert instance_month in months(result["active_users_by_instance"])
    assert utc_month in months(result["active_users_global"])
    if instance_month != JAN:
        assert JAN not in months(result["active_users_by_instance"])


def test_cancelled_or_returned_after_the_month_closed(make: Make) -> None:
    source = make("uk")
    org = source.org("Europe/London")
    source.order(org, 1, completed=at("2026-01-20 10:00"), cancelled=at("2026-02-03 09:00"),
                 total=500)
    source.order(org, 2, completed=at("2026-01-25 10:00"), total=700)
    source.order(org, 3, completed=at("2026-01-28 10:00"), returned=at("2026-02-10 09:00"),
                 total=900)
    source.order(org, 4, completed=None, total=300)  # an abandoned cart
    result = truth(source)
    (january,) = result["turnover_by_organization_month"]
    assert (january["month_start"], january["completed_orders"], january["turnover_cents"]) == (
        JAN, 1, 700)
    assert january["turnover"] == Decimal("7.00") and january["currency"] == "GBP"
    # A completion makes the contact active whatever the order's state is now.
    (active,) = pick(result["active_users_by_organization"], period="month")
    assert active["active_contacts"] == 3


def test_plan_in_force_at_month_end_and_billing(make: Make) -> None:
    zone = "Australia/Perth"
    source = make("au")
    org = source.org(zone, created=at("2026-01-05 10:00", zone), plan="basic")
    source.plan_change(org, "pro", at("2026-02-10 12:00", zone))
    source.plan_change(org, "free", at("2026-03-31 23:59:59", zone))
    source.plan_change(org, "basic", at("2026-04-01 00:00:00", zone))  # April's, not March's
    source.order(org, 1, completed=at("2026-02-15 12:00", zone), total=12_345)
    source.order(org, 1, completed=at("2026-04-15 12:00", zone), total=20)
    source.message(org, 1, at("2026-05-20 12:00", zone))  # the instance's latest activity
    bills = truth(source)["billing_by_organization_month"]
    assert [(b["month_start"], b["plan"], b["is_closed"]) for b in bills] == [
        (JAN, "basic", True), (FEB, "pro", True), (MAR, "free", True), (APR, "basic", True),
        (MAY, "basic", False)]
    pro, basic = SEEDS.price("pro", "AUD"), SEEDS.price("basic", "AUD")
    february = bills[1]
    assert february["turnover_cents"] == 12_345
    assert february["variable_fee_cents"] == round_half_away(
        Decimal(pro.turnover_rate_bps * 12_345) / 10_000)
    assert february["billed_cents"] == pro.monthly_fee_cents + february["variable_fee_cents"]
    assert february["billed"] == Decimal(february["billed_cents"]) / 100
    # 20 cents at the basic rate is exactly half a cent away from a whole one: rounds up.
    april = bills[3]
    exact = Decimal(basic.turnover_rate_bps * 20) / 10_000
    assert april["variable_fee_cents"] == round_half_away(exact)
    if exact % 1 == Decimal("0.5"):
        assert april["variable_fee_cents"] == int(exact) + 1
    assert bills[0]["turnover_cents"] == 0 and bills[0]["billed_cents"] == basic.monthly_fee_cents


def test_soft_deleted_organizations_are_not_billed_after_deletion(make: Make) -> None:
    source = make("uk")
    keeper = source.org("Europe/London", created=at("2026-01-02 00:00"))
    gone = source.org("Europe/London", created=at("2026-01-10 00:00"),
                      deleted=at("2026-03-15 00:00"))
    recent = source.org("Europe/London", created=at("2026-01-10 00:00"),
                        deleted=at("2026-05-02 00:00"))
    source.message(keeper, 1, at("2026-05-05 10:00"))
    bills = truth(source)["billing_by_organization_month"]
    assert [b["month_start"] for b in pick(bills, organization_id=keeper)] == [
        JAN, FEB, MAR, APR, MAY]
    assert [b["month_start"] for b in pick(bills, organization_id=gone)] == [JAN, FEB]
    # Deleted during the open month: no row for it.
    assert [b["month_start"] for b in pick(bills, organization_id=recent)] == [JAN, FEB, MAR, APR]


def test_contact_active_in_two_organizations_counts_once_above_them(make: Make) -> None:
    uk, fr = make("uk"), make("fr")
    shop, hub = uk.org("Europe/London"), uk.org("Europe/London")
    uk.message(shop, 42, at("2026-03-03 10:00"))
    uk.order(hub, 42, completed=at("2026-03-03 12:00"))
    uk.message(shop, 43, at("2026-03-03 10:00"), direction="outbound")  # outbound: not active
    fr_org = fr.org("Europe/Paris")
    fr.message(fr_org, 42, at("2026-03-03 11:00"))  # another instance's contact 42
    result = truth(uk, fr)
    day = {"period": "day", "period_start": date(2026, 3, 3)}
    assert [r["active_contacts"] for r in pick(result["active_users_by_organization"],
                                               instance_id="uk", **day)] == [1, 1]
    assert pick(result["active_users_by_instance"], instance_id="uk", **day)[0][
        "active_contacts"] == 1
    assert pick(result["active_users_global"], **day)[0]["active_contacts"] == 2
    week = pick(result["active_users_global"], period="week")
    assert [(w["period_start"], w["active_contacts"]) for w in week] == [(date(2026, 3, 2), 2)]


def test_quarantined_rows_are_excluded_everywhere(make: Make) -> None:
    source = make("uk")
    valid = source.org("Europe/London", plan="pro")
    invalid = source.org("Europe/Londres")
    good = source.order(valid, 1, completed=at("2026-02-01 10:00"), total=1000)
    bad = {
        source.order(None, 2, completed=at("2026-02-01 10:00")): "missing_tenant",
        source.order(valid, 3, completed=at("2026-02-01 10:00"), total=-500): "negative_money",
        source.order(valid, 4, completed=at("2026-02-01 10:00"), state="COMPLETE"):
            "unknown_state",
        source.order(valid, 5, created=at("2026-02-02 10:00"), completed=at("2026-02-01 10:00")):
            "impossible_date",
        source.order(valid, 6, created=at("2026-02-01 10:00"), completed="1970-01-01 00:00:00",
                     updated=at("2026-02-01 10:00")): "impossible_date",
        source.order(valid, 7, created=at("2026-02-01 10:00"), completed="2999-12-31 00:00:00",
                     updated=at("2026-02-01 10:00")): "impossible_date",
    }
    # An invalid time zone keeps the organization: its order counts on the instance's calendar.
    kept = source.order(invalid, 8, completed=at("2026-02-01 10:00"), total=300)
    bad_message = source.message(None, 9, at("2026-02-01 10:00"))
    source.message(invalid, 10, at("2026-02-01 10:00"))
    result = truth(source)
    assert [(r["organization_id"], r["turnover_cents"])
            for r in result["turnover_by_organization_month"]] == [(valid, 1000), (invalid, 300)]
    # Contacts of orders 1 and 8 and of message 10.
    assert [r["active_contacts"] for r in result["active_users_global"]] == [3, 3, 3]
    assert {r["organization_id"] for r in result["billing_by_organization_month"]} == {
        valid, invalid}
    assert [r["new_organizations"] for r in result["new_organizations_by_month"]] == [2]
    assert [r["organization_id"] for r in result["message_delivery_by_organization_month"]] == [
        invalid]
    reasons = {(q["table_name"], q["row_id"]): q["quarantine_reason"]
               for q in result["dq_quarantined_rows"]}
    assert {k[1]: v for k, v in reasons.items() if k[0] == "orders"} == bad
    assert reasons[("organizations", invalid)] == "invalid_time_zone"
    assert ("orders", kept) not in reasons
    listed = next(q for q in result["dq_quarantined_rows"] if q["table_name"] == "organizations")
    assert (listed["quarantined_value"], listed["is_kept_in_marts"]) == ("Europe/Londres", True)
    assert reasons[("messages", bad_message)] == "missing_tenant"
    assert ("orders", good) not in reasons


def test_global_turnover_rounds_each_instance_month_half_away_from_zero(make: Make) -> None:
    rate = SEEDS.rate_to_eur(JAN, "GBP")
    scaled = int(rate * 1_000_000)
    divisor = gcd(scaled, 1_000_000)
    assert 500_000 % divisor == 0, "the seed rate cannot produce a half cent"
    modulus = 1_000_000 // divisor
    cents = (500_000 // divisor) * pow(scaled // divisor, -1, modulus) % modulus
    assert (cents * rate) % 1 == Decimal("0.5")
    uk, fr = make("uk"), make("fr")
    uk.order(uk.org("Europe/London"), 1, completed=at("2026-01-10 10:00"), total=cents)
    fr.order(fr.org("Europe/Paris"), 1, completed=at("2026-01-10 10:00"), total=101)
    (january,) = truth(uk, fr)["turnover_global_month"]
    assert january["turnover_cents"] == int(cents * rate) + 1 + 101
    assert january["currency"] == "EUR"
    assert january["turnover"] == Decimal(january["turnover_cents"]) / 100


def test_message_delivery_rates(make: Make) -> None:
    source = make("fr")
    org = source.org("America/Martinique")
    late_january = at("2026-01-31 23:30", "America/Martinique")  # 1 February in UTC
    for status in ("delivered", "read", "failed"):
        source.message(org, 1, late_january, direction="outbound", status=status)
    source.message(org, 1, late_january)
    source.message(org, 2, at("2026-02-05 10:00"))
    january, february = truth(source)["message_delivery_by_organization_month"]
    assert january["month_start"] == JAN
    assert (january["outbound_messages"], january["inbound_messages"]) == (3, 1)
    assert (january["delivered_messages"], january["read_messages"],
            january["failed_messages"]) == (2, 1, 1)
    assert (january["delivery_rate"], january["read_rate"], january["failure_rate"]) == (
        Decimal("0.6667"), Decimal("0.3333"), Decimal("0.3333"))
    assert (february["outbound_messages"], february["delivery_rate"]) == (0, None)


def test_new_organizations_by_instance_month_and_kind(make: Make) -> None:
    source = make("fr")
    source.org("Europe/Paris", created=at("2026-01-31 23:30", "Europe/Paris"), kind="hub")
    source.org("Europe/Paris", created=at("2026-01-31 23:30"), kind="hub")  # Feb in Paris
    source.org("Indian/Reunion", created=at("2026-02-10 00:00"), kind="hub",
               deleted=at("2026-03-01 00:00"))
    source.org("Europe/Paris", created=at("2026-02-11 00:00"), kind="ngo")
    source.org("Paris", created=at("2026-02-12 00:00"), kind="ngo")  # invalid zone: still new
    rows = truth(source)["new_organizations_by_month"]
    assert [(r["month_start"], r["kind"], r["new_organizations"]) for r in rows] == [
        (JAN, "hub", 1), (FEB, "hub", 2), (FEB, "ngo", 2)]


def test_round_half_away_from_zero() -> None:
    cases = {"0.5": 1, "-0.5": -1, "1.4999": 1, "2.5": 3, "-2.5": -3, "2.4": 2}
    assert {k: round_half_away(Decimal(k)) for k in cases} == cases


def test_latest_rows_normalises_timestamps(make: Make) -> None:
    source = make("uk")
    org = source.org("Europe/London", created="2026-01-01 10:00:00.000001")
    (row,) = latest_rows(source.url, "organizations")
    assert row["id"] == org and row["created_at"].isoformat() == "2026-01-01T10:00:00.000001+00:00"
    assert row["deleted_at"] is None
