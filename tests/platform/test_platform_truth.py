"""The oracle agrees with what the simulator says it did (sim_bad_rows) and with itself."""

from __future__ import annotations

from collections import Counter

from reference_platform.simulator import SimulationSummary
from reference_platform.truth import MARTS, compute_truth, latest_rows

Simulated = tuple[str, SimulationSummary]


def test_quarantine_matches_the_recorded_bad_rows(simulated: Simulated) -> None:
    url, _ = simulated
    truth = compute_truth({"uk": url})
    assert set(truth) == set(MARTS)
    quarantined = truth["dq_quarantined_rows"]
    deliberate = {(q["table_name"], q["row_id"], q["quarantine_reason"]) for q in quarantined}
    assert deliberate == {(b["table_name"], b["row_id"], b["reason"])
                          for b in latest_rows(url, "sim_bad_rows")}
    # An organization with an invalid time zone is listed but kept: its rows are not quarantined.
    assert {q["is_kept_in_marts"] for q in quarantined
            if q["quarantine_reason"] == "invalid_time_zone"} <= {True}


def test_turnover_totals_and_levels_agree(simulated: Simulated) -> None:
    url, _ = simulated
    truth = compute_truth({"uk": url})
    excluded = {q["row_id"] for q in truth["dq_quarantined_rows"] if q["table_name"] == "orders"}
    complete = [o for o in latest_rows(url, "orders")
                if o["state"] == "complete" and o["id"] not in excluded]
    by_org = truth["turnover_by_organization_month"]
    assert sum(r["turnover_cents"] for r in by_org) == sum(o["total_cents"] for o in complete)
    assert sum(r["completed_orders"] for r in by_org) == len(complete)
    per_month: Counter = Counter()
    for row in by_org:
        per_month[row["month_start"]] += row["turnover_cents"]
    assert {r["month_start"]: r["turnover_cents"]
            for r in truth["turnover_by_instance_month"]} == dict(per_month)
    assert [r["month_start"] for r in truth["turnover_global_month"]] == sorted(per_month)


def test_billing_covers_each_live_month_once(simulated: Simulated) -> None:
    url, _ = simulated
    truth = compute_truth({"uk": url})
    bills = truth["billing_by_organization_month"]
    keys = [(b["organization_id"], b["month_start"]) for b in bills]
    assert len(keys) == len(set(keys))
    open_months = {b["month_start"] for b in bills if not b["is_closed"]}
    assert len(open_months) == 1  # all uk zones are in July at the end of the simulation
    for bill in bills:
        assert bill["billed_cents"] == bill["monthly_fee_cents"] + bill["variable_fee_cents"]
    active = truth["active_users_by_organization"]
    assert all(r["active_contacts"] > 0 for r in active)
    assert {r["period"] for r in active} == {"day", "week", "month"}
