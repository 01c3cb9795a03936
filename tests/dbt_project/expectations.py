"""What the marts must hold after `dbt build` on raw_fixture's loads, worked out by hand.

Shared by the DuckDB and PostgreSQL builds (test_dbt_build.py, test_dbt_build_postgres.py):
`check_first_load(build)` asserts the numbers of the first load on either warehouse. The global
turnover uses the committed fx_rates seed; everything else is plain arithmetic on the rows of
raw_fixture.py.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from tenant_warehouse.dbt_runner import DbtResult, run_dbt
from tenant_warehouse.settings import PROJECT_DIR, Settings

MARTS = (
    "dim_instances", "dim_organizations", "dim_contacts", "fct_orders", "fct_messages",
    "turnover_by_organization_month", "turnover_by_instance_month", "turnover_global_month",
    "active_users_by_organization", "active_users_by_instance", "active_users_global",
    "new_organizations_by_month", "billing_by_organization_month",
    "message_delivery_by_organization_month", "dq_quarantined_rows",
)
MAY, JUNE, JULY = dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1)
Rows = dict[str, list[dict[str, Any]]]


@dataclass
class Build:
    result: DbtResult
    marts: Rows

    def rows(self, mart: str, **where: Any) -> list[dict[str, Any]]:
        return [r for r in self.marts[mart] if all(r[k] == v for k, v in where.items())]

    def one(self, mart: str, **where: Any) -> dict[str, Any]:
        found = self.rows(mart, **where)
        assert len(found) == 1, f"{mart} {where}: {found}"
        return found[0]

    def bills(self, tenant_id: str) -> dict[dt.date, tuple[str, int, bool]]:
        return {r["month_start"]: (r["plan"], r["billed_cents"], r["is_closed"])
                for r in self.rows("billing_by_organization_month", tenant_id=tenant_id)}


def dbt_env(work: Path) -> dict[str, str]:
    """dbt's scratch paths (and the DuckDB file) under `work`, never the checkout's."""
    return {
        "TW_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }


def build(
    settings: Settings, env: dict[str, str], target: str = "duckdb", args: tuple[str, ...] = ()
) -> DbtResult:
    result = run_dbt(settings, ["build", *args], target=target, extra_env=env)
    assert result.ok, result.output[-6000:]
    return result


def as_dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_marts(cursor: Any) -> Rows:
    """Every mart through a DB-API cursor (DuckDB connection or psycopg2 cursor)."""
    marts = {}
    for mart in MARTS:
        cursor.execute(f"select * from marts.{mart}")
        marts[mart] = as_dicts(cursor)
    return marts


def to_eur_cents(cents: int, month: dt.date, currency: str) -> int:
    with (PROJECT_DIR / "seeds" / "fx_rates.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["month_start"] == month.isoformat() and row["currency"] == currency:
                rate = Decimal(row["rate_to_eur"])
                return int((cents * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    raise KeyError((month, currency))


def check_first_load(first: Build) -> None:
    """Every hand-computed number of the first load."""
    assert "Got 8 results" in first.result.output  # warn_on_quarantined_rows

    # Turnover: local months, only orders complete now.
    got = {(r["tenant_id"], r["month_start"]): (r["completed_orders"], r["turnover_cents"])
           for r in first.marts["turnover_by_organization_month"]}
    assert got == {
        ("uk:1", MAY): (1, 1020),  # the May order cancelled in June is not turnover
        ("uk:1", JUNE): (1, 10000),  # 23:30 BST on 30 June
        ("uk:2", dt.date(2026, 3, 1)): (1, 2500),
        ("uk:4", JUNE): (1, 4000),
        ("uk:3", JUNE): (1, 7000),  # invalid time zone: counted on Europe/London
        ("au:1", JUNE): (1, 8000),  # 23:30 AEST on 30 June
        ("au:1", JULY): (1, 6000),  # 00:30 AEST on 1 July, still June in UTC
        ("au:2", JUNE): (1, 12345),
        ("fr:1", JUNE): (2, 10000),  # 23:30 CEST on 30 June, and 00:30 on 1 June
    }
    june = first.one("turnover_by_organization_month", tenant_id="uk:1", month_start=JUNE)
    assert june["turnover"] == Decimal("100.00")
    instance = {(r["instance_id"], r["month_start"]): r["turnover_cents"]
                for r in first.marts["turnover_by_instance_month"]}
    assert instance[("uk", JUNE)] == 21000
    assert instance[("au", JUNE)] == 20345
    june_eur = to_eur_cents(21000, JUNE, "GBP") + to_eur_cents(20345, JUNE, "AUD") + 10000
    assert first.one("turnover_global_month", month_start=JUNE)["turnover_cents"] == june_eur

    # Active users: a contact counts once per organization, instance and globally.
    month = {(r["tenant_id"], r["period_start"]): r["active_contacts"]
             for r in first.rows("active_users_by_organization", period="month")}
    assert month[("uk:1", MAY)] == 2  # contact 2 (completion of a since-cancelled order), 3
    assert month[("uk:1", JUNE)] == 2  # contacts 1 and 2
    assert month[("uk:4", JUNE)] == 1  # contact 2 again, in another organization
    assert month[("uk:3", JUNE)] == 1  # contact 7 (order and message), on the instance's zone
    assert first.one("active_users_by_instance", instance_id="uk", period="month",
                     period_start=JUNE)["active_contacts"] == 3
    assert first.one("active_users_by_instance", instance_id="uk", period="week",
                     period_start=dt.date(2026, 6, 29))["active_contacts"] == 1
    # au/2 completed at 14:30 UTC on 30 June: June globally, July in Sydney.
    assert first.one("active_users_by_instance", instance_id="au", period="month",
                     period_start=JULY)["active_contacts"] == 1
    assert first.one("active_users_global", period="day",
                     period_start=dt.date(2026, 6, 30))["active_contacts"] == 4

    # Billing: plan at month end, months from creation to the open month.
    uk1 = first.bills("uk:1")
    assert sorted(uk1) == [dt.date(2026, m, 1) for m in range(1, 8)]
    assert uk1[MAY] == ("basic", 1526, True)  # 1500 + 250 bps of 1020 = 25.5 -> 26
    assert uk1[JUNE] == ("basic", 1750, True)
    assert uk1[JULY] == ("basic", 1500, False)  # the open month
    # Soft-deleted on 20 May: no row from May on.
    assert sorted(first.bills("uk:2")) == [dt.date(2026, m, 1) for m in (2, 3, 4)]
    assert first.bills("uk:4")[JUNE] == ("pro", 4960, True)
    # Invalid time zone: billed on the instance's calendar (pro: 4900 + 150 bps of 7000 in June).
    uk3 = first.bills("uk:3")
    assert sorted(uk3) == [dt.date(2026, m, 1) for m in range(3, 8)]
    assert uk3[JUNE] == ("pro", 5005, True)

    # Message delivery: outbound by current status.
    delivery = first.one("message_delivery_by_organization_month", tenant_id="uk:1",
                         month_start=JUNE)
    assert (delivery["inbound_messages"], delivery["outbound_messages"]) == (1, 4)
    assert (delivery["delivered_messages"], delivery["read_messages"]) == (2, 1)
    assert delivery["delivery_rate"] == Decimal("0.5000")
    assert delivery["read_rate"] == Decimal("0.2500")

    # Quarantine: every bad row once, with the contract's reason.
    got = {(r["table_name"], r["row_id"]): r["quarantine_reason"]
           for r in first.marts["dq_quarantined_rows"]}
    assert got == {
        ("organizations", 3): "invalid_time_zone",
        ("contacts", 6): "missing_tenant",
        ("orders", 8): "missing_tenant",
        ("orders", 9): "negative_money",
        ("orders", 10): "unknown_state",
        ("orders", 11): "impossible_date",
        ("orders", 13): "impossible_date",
        ("messages", 7): "missing_tenant",
    }
    new = {(r["instance_id"], r["month_start"], r["kind"]): r["new_organizations"]
           for r in first.marts["new_organizations_by_month"]}
    assert new[("uk", JUNE, "shop")] == 1  # 00:30 BST on 1 June
    assert new[("uk", dt.date(2026, 3, 1), "shop")] == 1  # the one with an invalid time zone
    fallback = first.one("dim_organizations", tenant_id="uk:3")
    assert (fallback["time_zone"], fallback["source_time_zone"],
            fallback["is_time_zone_fallback"]) == ("Europe/London", "Europe/Londn", True)
    kept = first.one("dq_quarantined_rows", table_name="organizations", row_id=3)
    assert (kept["quarantined_value"], kept["is_kept_in_marts"]) == ("Europe/Londn", True)

    # The deduplicated message kept its latest version.
    assert first.one("fct_messages", instance_id="uk", message_id=2)["status"] == "delivered"
    assert first.one("fct_messages", instance_id="uk", message_id=3)["status"] == "read"
