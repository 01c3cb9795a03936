"""The oracle: every metric mart computed in plain Python straight from the source databases.

Independent of dbt on purpose (no SQL mirroring the models): rows are read as they are, classified
with the contract's quarantine rules, converted to local time with zoneinfo, and summed in integer
cents; rounding is half away from zero. The definitions are docs/architecture.md's, with the
choices the contract leaves open written next to the code that makes them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from reference_platform.database import Database
from reference_platform.local_calendar import LocalCalendar, utc_text
from reference_platform.schema import TABLES
from reference_platform.seeds import Seeds
from reference_platform.timeutil import as_utc, format_us, next_month, to_us, zone

ORDER_STATES = ("cart", "complete", "cancelled", "returned")
# Columns the oracle needs (no personal data, no bodies).
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "organization_id"),
    "contacts": ("id", "organization_id"),
    "orders": ("id", "organization_id", "contact_id", "state", "total_cents", "created_at",
               "completed_at", "cancelled_at", "returned_at", "updated_at"),
    "order_items": ("id", "organization_id"),
    "messages": ("id", "organization_id", "contact_id", "direction", "status", "created_at",
                 "updated_at"),
}
MIN_YEAR, MAX_YEAR = 2000, 2100
CENT = Decimal("0.01")
RATE = Decimal("0.0001")
Row = dict[str, Any]
PERIODS = ("day", "week", "month")
CALENDAR = LocalCalendar()

MARTS = (
    "turnover_by_organization_month",
    "turnover_by_instance_month",
    "turnover_global_month",
    "active_users_by_organization",
    "active_users_by_instance",
    "active_users_global",
    "new_organizations_by_month",
    "billing_by_organization_month",
    "message_delivery_by_organization_month",
    "dq_quarantined_rows",
)


def round_half_away(value: Decimal) -> int:
    """Round to an integer, ties away from zero (Decimal's ROUND_HALF_UP)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None  # no outbound messages: a rate is undefined, not 0
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)


def month_end_text(month: date, time_zone: str) -> str:
    """The instant a local month ends (local midnight starting the next month), as UTC text."""
    start = next_month(month)
    return utc_text(datetime(start.year, start.month, 1, tzinfo=zone(time_zone)))


def _text(database: Database, column: str) -> str:
    if database.dialect == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    return column


def _fetch(database: Database, table: str, columns: tuple[str, ...]) -> list[Row]:
    """Rows as dicts with timestamps as the contract's UTC text on both engines (the oracle
    compares and buckets text; PostgreSQL renders timestamptz the way SQLite stores it)."""
    stamps = set(TABLES[table].timestamp_columns)
    expressions = [_text(database, c) if c in stamps else c for c in columns]
    rows = database.query(f"SELECT {', '.join(expressions)} FROM {table} ORDER BY id")
    result = [dict(zip(columns, row, strict=True)) for row in rows]
    if database.dialect == "sqlite":
        # Text written by other tools may lack microseconds or carry an offset: normalise it so
        # text comparisons stay comparisons of instants.
        for row in result:
            for column in stamps & row.keys():
                value = row[column]
                if value is not None:
                    instant = readable_instant(value)
                    row[column] = None if instant is None else format_us(to_us(instant))
    return result


def readable_instant(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime, or None when it is not a time at all (text
    such as '2026-02-30' or 'n/a'): the contract reads such a value as null, as ingestion does
    (which reports it), and judges the row on what is left."""
    try:
        return as_utc(value)
    except (TypeError, ValueError, OverflowError):
        return None


def stored_rows(url: str, table: str) -> list[tuple[Any, ...]]:
    """A table exactly as stored (SQLite text timestamps included), ordered by every column:
    for byte-level comparisons such as "the same seed gives the same rows"."""
    columns = ", ".join(TABLES[table].column_names)
    return Database(url).query(f"SELECT {columns} FROM {table} ORDER BY {columns}")


def latest_rows(url: str, table: str) -> list[Row]:
    """Every row of a source table as dicts, ordered by id (by all columns when there is none),
    timestamps as aware UTC datetimes, so either engine compares equal to the raw layer."""
    spec = TABLES[table]
    columns = spec.column_names
    order = "id" if "id" in columns else ", ".join(columns)
    rows = Database(url).query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")
    stamps = set(spec.timestamp_columns)
    return [
        {c: readable_instant(v) if c in stamps else v for c, v in zip(columns, row, strict=True)}
        for row in rows
    ]


@dataclass
class Organization:
    id: int
    kind: str
    plan: str
    time_zone: str  # the zone its local calendar uses (the instance's when its own is invalid)
    created_at: str  # UTC text
    deleted_at: str | None
    source_time_zone: str | None  # as the source holds it
    is_time_zone_fallback: bool  # its own time zone is invalid: the instance's is used


@dataclass
class Source:
    """One instance's rows, read once and classified."""

    instance_id: str
    currency: str
    time_zone: str
    organizations: dict[int, Organization]
    orders: list[Row]  # valid orders only
    messages: list[Row]  # valid messages only
    plan_history: dict[int, list[tuple[str, str]]]  # (changed_at UTC text, plan)
    quarantined: list[Row]

    @classmethod
    def read(cls, instance_id: str, url: str, seeds: Seeds) -> Source:
        spec = seeds.instances[instance_id]
        database = Database(url)
        # One bad attribute does not remove an organization: with an invalid time zone it keeps
        # its rows, counted on the instance's calendar, and is listed with the bad value.
        organizations = {}
        for r in _fetch(database, "organizations", TABLES["organizations"].column_names):
            invalid = r["time_zone"] not in seeds.time_zones
            organizations[r["id"]] = Organization(
                r["id"], r["kind"], r["plan"], spec.time_zone if invalid else r["time_zone"],
                r["created_at"], r["deleted_at"], r["time_zone"], invalid,
            )
        quarantined: list[Row] = []

        def flag(table: str, row_id: int, org_id: int | None, reason: str,
                 value: str | None = None, kept: bool = False) -> None:
            quarantined.append({
                "instance_id": instance_id, "organization_id": org_id,
                "tenant_id": None if org_id is None else f"{instance_id}:{org_id}",
                "table_name": table, "row_id": row_id, "quarantine_reason": reason,
                "quarantined_value": value, "is_kept_in_marts": kept,
            })

        for org in organizations.values():
            if org.is_time_zone_fallback:
                flag("organizations", org.id, org.id, "invalid_time_zone",
                     value=org.source_time_zone, kept=True)
        valid: dict[str, list[Row]] = {}
        for table, columns in READ_COLUMNS.items():
            valid[table] = []
            for row in _fetch(database, table, columns):
                reason = _reason(table, row, organizations)
                if reason == "unknown_organization":
                    continue  # no organization row at all: nothing to attach it to
                if reason:
                    flag(table, row["id"], row["organization_id"], reason)
                else:
                    valid[table].append(row)
        history: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for org_id, plan, changed in database.query(
                f"SELECT organization_id, plan, {_text(database, 'changed_at')} "
                "FROM sim_plan_changes"):
            history[org_id].append((changed, plan))
        for changes in history.values():
            changes.sort()
        return cls(instance_id, spec.currency, spec.time_zone, organizations, valid["orders"],
                   valid["messages"], dict(history), quarantined)

    def org(self, row: Row) -> Organization:
        return self.organizations[row["organization_id"]]

    def tenant(self, org_id: int) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "organization_id": org_id,
                "tenant_id": f"{self.instance_id}:{org_id}"}


def _reason(table: str, row: Row, organizations: Mapping[int, Organization]) -> str | None:
    """The contract's quarantine reason of a row (None when valid). One reason per row, in this
    precedence: missing_tenant, negative_money, unknown_state, impossible_date. An organization
    with an invalid time zone does not quarantine its rows (they use the instance's zone)."""
    org_id = row["organization_id"]
    if org_id is None:
        return "missing_tenant"
    org = organizations.get(org_id)
    if org is None:
        return "unknown_organization"
    if table != "orders":
        return None
    if row["total_cents"] < 0:
        return "negative_money"
    if row["state"] not in ORDER_STATES:
        return "unknown_state"
    stamps = [row[c] for c in ("created_at", "completed_at", "cancelled_at", "returned_at")]
    if any(s is not None and not MIN_YEAR <= int(s[:4]) <= MAX_YEAR for s in stamps):
        return "impossible_date"
    if row["created_at"] is None:
        return "impossible_date"  # only when the stored value is not a time (see _fetch)
    if row["completed_at"] is not None and row["completed_at"] < row["created_at"]:
        return "impossible_date"
    if row["completed_at"] is None and row["state"] in ("complete", "cancelled", "returned"):
        return "impossible_date"
    return None


# -- marts ----------------------------------------------------------------------------------


def turnover_by_organization_month(sources: Iterable[Source]) -> list[Row]:
    rows = []
    for source in sources:
        totals: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
        for order in source.orders:
            if order["state"] != "complete" or order["completed_at"] is None:
                continue
            org = source.org(order)
            month = CALENDAR.month(order["completed_at"], org.time_zone)
            total = totals[(org.id, month)]
            total[0] += 1
            total[1] += order["total_cents"]
        for (org_id, month), (count, cents) in totals.items():
            rows.append({**source.tenant(org_id), "month_start": month,
                         "currency": source.currency, "completed_orders": count,
                         "turnover_cents": cents, "turnover": money(cents)})
    return sorted(rows, key=lambda r: (r["instance_id"], r["organization_id"], r["month_start"]))


def turnover_by_instance_month(by_organization: list[Row]) -> list[Row]:
    """The organizations' rows summed per instance, keeping each organization's local month."""
    totals: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in by_organization:
        total = totals[(row["instance_id"], row["month_start"], row["currency"])]
        total[0] += row["completed_orders"]
        total[1] += row["turnover_cents"]
    return [
        {"instance_id": i, "month_start": m, "currency": c, "completed_orders": n,
         "turnover_cents": cents, "turnover": money(cents)}
        for (i, m, c), (n, cents) in sorted(totals.items())
    ]


def turnover_global_month(by_instance: list[Row], seeds: Seeds) -> list[Row]:
    """Each instance-month converted to EUR at that month's rate and rounded to the cent
    (half away from zero) before summing."""
    totals: dict[date, int] = defaultdict(int)
    for row in by_instance:
        rate = seeds.rate_to_eur(row["month_start"], row["currency"])
        totals[row["month_start"]] += round_half_away(row["turnover_cents"] * rate)
    return [{"month_start": m, "currency": "EUR", "turnover_cents": c, "turnover": money(c)}
            for m, c in sorted(totals.items())]


def active_users(sources: list[Source]) -> tuple[list[Row], list[Row], list[Row]]:
    """(by organization, by instance, global). Activity: an inbound message (created_at) or an
    order completion (completed_at, whatever the order's state now)."""
    by_org: dict[tuple[str, int, str, date], set[int]] = defaultdict(set)
    by_instance: dict[tuple[str, str, date], set[int]] = defaultdict(set)
    overall: dict[tuple[str, date], set[tuple[str, int]]] = defaultdict(set)
    for source in sources:
        events = [(m, m["created_at"]) for m in source.messages if m["direction"] == "inbound"]
        events += [(o, o["completed_at"]) for o in source.orders if o["completed_at"] is not None]
        for row, at in events:
            contact = row["contact_id"]
            if contact is None:
                continue
            org = source.org(row)
            for period, start in zip(PERIODS, CALENDAR.periods(at, org.time_zone), strict=True):
                by_org[(source.instance_id, org.id, period, start)].add(contact)
            for period, start in zip(PERIODS, CALENDAR.periods(at, source.time_zone),
                                     strict=True):
                by_instance[(source.instance_id, period, start)].add(contact)
            for period, start in zip(PERIODS, CALENDAR.periods(at, "UTC"), strict=True):
                overall[(period, start)].add((source.instance_id, contact))
    organization_rows = [
        {"instance_id": i, "organization_id": o, "tenant_id": f"{i}:{o}", "period": p,
         "period_start": s, "active_contacts": len(c)}
        for (i, o, p, s), c in sorted(by_org.items())
    ]
    instance_rows = [
        {"instance_id": i, "period": p, "period_start": s, "active_contacts": len(c)}
        for (i, p, s), c in sorted(by_instance.items())
    ]
    global_rows = [{"period": p, "period_start": s, "active_contacts": len(c)}
                   for (p, s), c in sorted(overall.items())]
    return organization_rows, instance_rows, global_rows


def new_organizations_by_month(sources: Iterable[Source]) -> list[Row]:
    """By instance, month of created_at in the instance's zone, and kind; deleted organizations
    count, and so do ones with an invalid time zone."""
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    for source in sources:
        for org in source.organizations.values():
            month = CALENDAR.month(org.created_at, source.time_zone)
            counts[(source.instance_id, month, org.kind)] += 1
    return [{"instance_id": i, "month_start": m, "kind": k, "new_organizations": n}
            for (i, m, k), n in sorted(counts.items())]


def billing_by_organization_month(
    sources: Iterable[Source], turnover: list[Row], seeds: Seeds
) -> list[Row]:
    turnover_cents = {(r["instance_id"], r["organization_id"], r["month_start"]):
                      r["turnover_cents"] for r in turnover}
    rows = []
    for source in sources:
        # The instance's latest activity: newest updated_at over its valid orders and messages.
        stamps = [r["updated_at"] for r in (*source.orders, *source.messages)]
        if not stamps:
            continue
        latest = max(stamps)
        for org in source.organizations.values():
            last_month = CALENDAR.month(latest, org.time_zone)
            month = CALENDAR.month(org.created_at, org.time_zone)
            while month <= last_month:
                row = _bill(source, org, month, month < last_month, turnover_cents, seeds)
                if row:
                    rows.append(row)
                month = next_month(month)
    return sorted(rows, key=lambda r: (r["instance_id"], r["organization_id"], r["month_start"]))


def _bill(source: Source, org: Organization, month: date, closed: bool,
          turnover_cents: Mapping[tuple[str, int, date], int], seeds: Seeds) -> Row | None:
    end = month_end_text(month, org.time_zone)
    if org.deleted_at is not None and (not closed or org.deleted_at < end):
        return None  # soft-deleted at the month's end (the open month: deleted now)
    plan = org.plan
    if closed:
        # The plan in force at the month's end: the latest change strictly before local
        # midnight that starts the next month.
        history = [p for changed, p in source.plan_history.get(org.id, []) if changed < end]
        plan = history[-1] if history else org.plan
    price = seeds.price(plan, source.currency)
    cents = turnover_cents.get((source.instance_id, org.id, month), 0)
    variable = round_half_away(Decimal(price.turnover_rate_bps * cents) / 10_000)
    billed = price.monthly_fee_cents + variable
    return {**source.tenant(org.id), "month_start": month, "plan": plan,
            "currency": source.currency, "turnover_cents": cents,
            "monthly_fee_cents": price.monthly_fee_cents, "variable_fee_cents": variable,
            "billed_cents": billed, "billed": money(billed), "is_closed": closed}


def message_delivery_by_organization_month(sources: Iterable[Source]) -> list[Row]:
    rows = []
    for source in sources:
        counts: dict[tuple[int, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for message in source.messages:
            org = source.org(message)
            month = CALENDAR.month(message["created_at"], org.time_zone)
            bucket = counts[(org.id, month)]
            bucket[message["direction"]] += 1
            if message["direction"] == "outbound":
                bucket[message["status"]] += 1
        for (org_id, month), c in counts.items():
            outbound = c["outbound"]
            delivered = c["delivered"] + c["read"]
            rows.append({
                **source.tenant(org_id), "month_start": month, "inbound_messages": c["inbound"],
                "outbound_messages": outbound, "delivered_messages": delivered,
                "read_messages": c["read"], "failed_messages": c["failed"],
                "delivery_rate": ratio(delivered, outbound), "read_rate": ratio(c["read"], outbound),
                "failure_rate": ratio(c["failed"], outbound),
            })
    return sorted(rows, key=lambda r: (r["instance_id"], r["organization_id"], r["month_start"]))


def compute_truth(urls: Mapping[str, str], seeds_dir: Path | None = None) -> dict[str, list[Row]]:
    """Every metric mart (and dq_quarantined_rows) for the instances at `urls`."""
    seeds = Seeds.load(seeds_dir)
    sources = [Source.read(instance, url, seeds) for instance, url in sorted(urls.items())]
    by_org = turnover_by_organization_month(sources)
    by_instance = turnover_by_instance_month(by_org)
    active_org, active_instance, active_global = active_users(sources)
    quarantined = sorted((q for s in sources for q in s.quarantined),
                         key=lambda q: (q["instance_id"], q["table_name"], q["row_id"]))
    return {
        "turnover_by_organization_month": by_org,
        "turnover_by_instance_month": by_instance,
        "turnover_global_month": turnover_global_month(by_instance, seeds),
        "active_users_by_organization": active_org,
        "active_users_by_instance": active_instance,
        "active_users_global": active_global,
        "new_organizations_by_month": new_organizations_by_month(sources),
        "billing_by_organization_month": billing_by_organization_month(sources, by_org, seeds),
        "message_delivery_by_organization_month": message_delivery_by_organization_month(sources),
        "dq_quarantined_rows": quarantined,
    }
