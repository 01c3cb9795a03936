"""The Open Food Network oracle: the numbers the `ofn` profile's marts must equal, computed in
plain Python from the instance databases and the profile's seeds (no SQL beyond SELECT *-style
reads, nothing shared with dbt or ingestion).

Inputs: each instance's database; `platforms/ofn/seeds/ofn_instances.csv` (currency and time zone
of each instance: enterprises have no zone); `platforms/ofn/seeds/ofn_plans.csv` (prices by
`sells`, currency and validity dates); `seeds/fx_rates.csv` (monthly rates to EUR). Naive
timestamps are read in the zone the instance stores (reference_platform.samples.ofn.instances).

Rules, with their edges:

- Order classification. States past checkout are complete, canceled, awaiting_return, returned;
  checkout states are cart, address, delivery, payment. A checkout-state order with no
  distributor (a cart whose customer has not chosen a shop yet) is normal and belongs to nobody:
  it is neither counted nor quarantined. Any other order is quarantined (left out of every
  number, listed by `quarantined_orders` with one reason) with the first reason that applies:
  `unknown_state` (any other state, e.g. `cancelled` with two l, or none), `missing_tenant`
  (no distributor), `negative_money` (total < 0), `foreign_currency` (the order's `currency`
  is set and is not the instance's: its minor units cannot be summed with the others; the ofn
  profile's own reason), `impossible_date` (created_at before 2000 or
  from 2101 on, UTC; past checkout: no completed_at, completed_at before created_at, or
  completed_at before 2000 or from 2101 on, UTC).
- Turnover of a distributor and month: `total` (item total plus adjustments: fees, shipping) of
  orders whose CURRENT state is complete or awaiting_return (a return asked for but not received
  has refunded nothing yet); canceled and returned orders count nowhere, in past months too
  (the source keeps no history: freezing reported months is the warehouse's snapshots' job).
  Month = local month of completed_at in the INSTANCE's time zone (enterprises have no zone of
  their own: the product's "organization zone, null = instance zone" is the instance zone for
  every OFN enterprise): 23:30:00 on the 31st is January, 00:00:00 on the 1st is the new month.
  Money in minor units, exact (numeric(10,2) x 100). Per instance: the distributors' rows
  summed. Global, EUR: each instance-month times that month's rate, rounded to the cent half
  away from zero, then summed.
- New enterprises per instance and month of created_at (instance zone), by kind from the CURRENT
  `sells`/`is_primary_producer` (no history exists): hub (sells any), shop (own), producer
  (none, primary producer), profile (anything else). New shops to charge = hub + shop.
- Billing of a shop (current sells own or any) and month: from the month it was created through
  the instance's as-of month: the local month of the newest `updated_at` of the instance's
  valid orders (not quarantined, with a distributor; open orders included). Price = the
  ofn_plans.csv row for (sells, instance currency) whose valid_from <= month start < valid_to
  (empty valid_to: open); a mid-month valid_from applies from the next month. billed =
  monthly_fee_cents + round_half_away(turnover_cents * turnover_rate_bps / 10000); a month
  without turnover pays the fee. An enterprise that stops selling (sells none) drops out of
  billing for every month, as its turnover does not.
- Active customers (the product's active contacts, orders only): distinct customers with an
  order completion (a valid order with completed_at and a customer, whatever its current
  state: a canceled order was an activity) per shop and local month, per instance and local
  month (the instance's zone for both), and per UTC month over all instances (an instance's
  customer once, then summed: customer ids are per instance).
- Quarantined line items (`quarantined_order_lines`): the lines of a quarantined order without
  a distributor (they reach a shop only through their order), reason `missing_tenant`; lines
  of a cart that belongs to nobody belong to nobody too.

Changes made to agree with the product's rules (docs: the platform contract), each was a
difference from the first version of this oracle:

- As-of month of billing: was the newest created_at or updated_at of the enterprises and of
  all orders (quarantined ones included); now the newest updated_at of the valid orders, the
  product's "latest activity of the instance" (latest updated_at of any valid order).
- Carts without a distributor were valid orders (they moved the as-of month); they now belong
  to nobody, as the profile leaves them out of the contract.
- Quarantine precedence and `impossible_date`: the year bounds are checked on the UTC instant
  (was the stored wall-clock value's year), created_at is bounds-checked too, and a checkout-
  state order with a shop is checked for negative money and created_at like any other (it
  was never checked); the contract's reasons are the same.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference_platform.database import Database
from reference_platform.samples.ofn.instances import get_instance
from reference_platform.timeutil import next_month, zone
from reference_platform.truth import round_half_away

ROOT = Path(__file__).resolve().parents[3]
SEEDS_DIR = ROOT / "platforms" / "ofn" / "seeds"
FX_RATES = ROOT / "seeds" / "fx_rates.csv"
CHECKOUT_STATES = frozenset({"cart", "address", "delivery", "payment"})
FINAL_STATES = frozenset({"complete", "canceled", "awaiting_return", "returned"})
TURNOVER_STATES = frozenset({"complete", "awaiting_return"})
MIN_YEAR, MAX_YEAR = 2000, 2100
Row = dict[str, Any]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class Price:
    sells: str
    currency: str
    valid_from: date
    valid_to: date | None
    monthly_fee_cents: int
    turnover_rate_bps: int


@dataclass(frozen=True)
class OfnSeeds:
    currencies: dict[str, str]
    time_zones: dict[str, str]
    prices: tuple[Price, ...]
    fx_rates: dict[tuple[date, str], Decimal]

    @classmethod
    def load(cls, seeds_dir: Path = SEEDS_DIR, fx_rates: Path = FX_RATES) -> OfnSeeds:
        instances = read_csv(seeds_dir / "ofn_instances.csv")
        prices = tuple(
            Price(r["sells"], r["currency"], date.fromisoformat(r["valid_from"]),
                  date.fromisoformat(r["valid_to"]) if r["valid_to"] else None,
                  int(r["monthly_fee_cents"]), int(r["turnover_rate_bps"]))
            for r in read_csv(seeds_dir / "ofn_plans.csv"))
        rates = {(date.fromisoformat(r["month_start"]), r["currency"]): Decimal(r["rate_to_eur"])
                 for r in read_csv(fx_rates)}
        return cls({r["instance_id"]: r["currency"] for r in instances},
                   {r["instance_id"]: r["time_zone"] for r in instances}, prices, rates)

    def price(self, sells: str, currency: str, month: date) -> Price:
        for price in self.prices:
            if (price.sells == sells and price.currency == currency
                    and price.valid_from <= month
                    and (price.valid_to is None or month < price.valid_to)):
                return price
        raise KeyError(f"ofn_plans.csv has no price for sells={sells!r} in {currency} "
                       f"valid on {month}")


@dataclass
class OfnSource:
    """One instance's rows, read once, timestamps as aware instants."""

    instance_id: str
    currency: str
    time_zone: str
    enterprises: list[Row]
    orders: list[Row]  # valid orders only
    quarantined: list[Row]
    quarantined_lines: list[Row]
    as_of: datetime | None

    @classmethod
    def read(cls, instance_id: str, url: str, seeds: OfnSeeds) -> OfnSource:
        stored = zone(get_instance(instance_id).stored_time_zone)
        database = Database(url)

        def instant(value: datetime | None) -> datetime | None:
            return None if value is None else value.replace(tzinfo=stored).astimezone(UTC)

        enterprises = [
            {"id": i, "sells": sells, "is_primary_producer": producer,
             "created_at": instant(created), "updated_at": instant(updated)}
            for i, sells, producer, created, updated in database.query(
                "SELECT id, sells, is_primary_producer, created_at, updated_at "
                "FROM enterprises ORDER BY id")
        ]
        orders, quarantined, tenantless = [], [], set()
        currency = seeds.currencies[instance_id]
        for i, state, distributor, total, created, updated, completed, customer, money in (
                database.query(
                    "SELECT id, state, distributor_id, total, created_at, updated_at, "
                    "completed_at, customer_id, currency FROM spree_orders ORDER BY id")):
            order = {"id": i, "state": state, "distributor_id": distributor, "total": total,
                     "created_at": instant(created), "updated_at": instant(updated),
                     "completed_at": instant(completed), "customer_id": customer,
                     "currency": money}
            if belongs_to_nobody(order):
                continue
            reason = classify(order, currency)
            if reason:
                quarantined.append({"instance_id": instance_id, "order_id": i,
                                    "distributor_id": distributor, "reason": reason})
                if distributor is None:
                    tenantless.add(i)
            else:
                orders.append(order)
        quarantined_lines = [
            {"instance_id": instance_id, "order_line_id": line, "order_id": order,
             "reason": "missing_tenant"}
            for line, order in database.query(
                "SELECT id, order_id FROM spree_line_items ORDER BY id")
            if order in tenantless
        ]
        as_of = max((o["updated_at"] for o in orders), default=None)
        return cls(instance_id, seeds.currencies[instance_id], seeds.time_zones[instance_id],
                   enterprises, orders, quarantined, quarantined_lines, as_of)

    def month(self, instant: datetime) -> date:
        return instant.astimezone(zone(self.time_zone)).date().replace(day=1)


def belongs_to_nobody(order: Row) -> bool:
    """A cart (checkout state) whose customer has not chosen a shop yet: nobody's order."""
    return order["state"] in CHECKOUT_STATES and order["distributor_id"] is None


def classify(order: Row, currency: str | None = None) -> str | None:
    """The quarantine reason of an order of an instance in `currency` (None when it is valid;
    without `currency` the order's is not checked); see the module docstring."""
    state = order["state"]
    if state not in CHECKOUT_STATES | FINAL_STATES:
        return "unknown_state"
    if order["distributor_id"] is None:
        return "missing_tenant"
    if order["total"] < 0:
        return "negative_money"
    if currency is not None and order.get("currency") not in (None, currency):
        return "foreign_currency"
    if not possible(order["created_at"]):
        return "impossible_date"
    if state in CHECKOUT_STATES:
        return None
    completed = order["completed_at"]
    if not possible(completed) or completed < order["created_at"]:
        return "impossible_date"
    return None


def possible(instant: datetime | None) -> bool:
    """A time the warehouse accepts: known, from 2000 and before 2101 (UTC)."""
    return instant is not None and MIN_YEAR <= instant.astimezone(UTC).year <= MAX_YEAR


def minor_units(amount: Decimal) -> int:
    value = amount * 100
    if value != value.to_integral_value():
        raise ValueError(f"{amount} has more than two decimals")
    return int(value)


def turnover_by_distributor_month(sources: Iterable[OfnSource]) -> list[Row]:
    rows = []
    for source in sources:
        totals: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
        for order in source.orders:
            if order["state"] not in TURNOVER_STATES:
                continue
            total = totals[(order["distributor_id"], source.month(order["completed_at"]))]
            total[0] += 1
            total[1] += minor_units(order["total"])
        rows += [{"instance_id": source.instance_id, "distributor_id": d, "month_start": m,
                  "currency": source.currency, "completed_orders": n, "turnover_cents": c}
                 for (d, m), (n, c) in totals.items()]
    return sorted(rows, key=lambda r: (r["instance_id"], r["distributor_id"], r["month_start"]))


def turnover_by_instance_month(by_distributor: Iterable[Row]) -> list[Row]:
    totals: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in by_distributor:
        total = totals[(row["instance_id"], row["month_start"], row["currency"])]
        total[0] += row["completed_orders"]
        total[1] += row["turnover_cents"]
    return [{"instance_id": i, "month_start": m, "currency": c, "completed_orders": n,
             "turnover_cents": cents} for (i, m, c), (n, cents) in sorted(totals.items())]


def turnover_global_month(by_instance: Iterable[Row], seeds: OfnSeeds) -> list[Row]:
    totals: dict[date, int] = defaultdict(int)
    for row in by_instance:
        rate = seeds.fx_rates.get((row["month_start"], row["currency"]))
        if rate is None:
            raise KeyError(f"fx_rates.csv has no rate for {row['currency']} in "
                           f"{row['month_start']:%Y-%m}")
        totals[row["month_start"]] += round_half_away(row["turnover_cents"] * rate)
    return [{"month_start": m, "currency": "EUR", "turnover_cents": c}
            for m, c in sorted(totals.items())]


def enterprise_kind(enterprise: Row) -> str:
    if enterprise["sells"] == "any":
        return "hub"
    if enterprise["sells"] == "own":
        return "shop"
    return "producer" if enterprise["is_primary_producer"] else "profile"


def new_enterprises_by_month(sources: Iterable[OfnSource]) -> list[Row]:
    counts: dict[tuple[str, date, str], int] = defaultdict(int)
    for source in sources:
        for enterprise in source.enterprises:
            month = source.month(enterprise["created_at"])
            counts[(source.instance_id, month, enterprise_kind(enterprise))] += 1
    return [{"instance_id": i, "month_start": m, "kind": k, "new_enterprises": n}
            for (i, m, k), n in sorted(counts.items())]


def billing_by_shop_month(sources: Iterable[OfnSource], by_distributor: Iterable[Row],
                          seeds: OfnSeeds) -> list[Row]:
    turnover = {(r["instance_id"], r["distributor_id"], r["month_start"]): r["turnover_cents"]
                for r in by_distributor}
    rows = []
    for source in sources:
        if source.as_of is None:
            continue
        last = source.month(source.as_of)
        for enterprise in source.enterprises:
            if enterprise["sells"] not in ("own", "any"):
                continue
            month = source.month(enterprise["created_at"])
            while month <= last:
                price = seeds.price(enterprise["sells"], source.currency, month)
                cents = turnover.get((source.instance_id, enterprise["id"], month), 0)
                variable = round_half_away(
                    Decimal(cents * price.turnover_rate_bps) / Decimal(10_000))
                rows.append({
                    "instance_id": source.instance_id, "enterprise_id": enterprise["id"],
                    "month_start": month, "sells": enterprise["sells"],
                    "currency": source.currency, "turnover_cents": cents,
                    "monthly_fee_cents": price.monthly_fee_cents,
                    "variable_fee_cents": variable,
                    "billed_cents": price.monthly_fee_cents + variable,
                })
                month = next_month(month)
    return sorted(rows, key=lambda r: (r["instance_id"], r["enterprise_id"], r["month_start"]))


def active_customers(sources: Iterable[OfnSource]) -> dict[str, list[Row]]:
    """Distinct customers with an order completion (valid order, any current state) per shop
    and local month, per instance and local month (instance zone both), and globally per UTC
    month (each instance's customers counted once, then summed)."""
    by_shop: dict[tuple[str, int, date], set[int]] = defaultdict(set)
    by_instance: dict[tuple[str, date], set[int]] = defaultdict(set)
    by_utc_month: dict[date, set[tuple[str, int]]] = defaultdict(set)
    for source in sources:
        for order in source.orders:
            if order["completed_at"] is None or order["customer_id"] is None:
                continue
            month = source.month(order["completed_at"])
            customer = order["customer_id"]
            by_shop[(source.instance_id, order["distributor_id"], month)].add(customer)
            by_instance[(source.instance_id, month)].add(customer)
            by_utc_month[order["completed_at"].date().replace(day=1)].add(
                (source.instance_id, customer))
    return {
        "active_customers_by_shop_month": [
            {"instance_id": i, "distributor_id": d, "month_start": m, "active_customers": len(c)}
            for (i, d, m), c in sorted(by_shop.items())],
        "active_customers_by_instance_month": [
            {"instance_id": i, "month_start": m, "active_customers": len(c)}
            for (i, m), c in sorted(by_instance.items())],
        "active_customers_global_month": [
            {"month_start": m, "active_customers": len(c)}
            for m, c in sorted(by_utc_month.items())],
    }


def compute_truth(urls: Mapping[str, str], seeds: OfnSeeds | None = None) -> dict[str, list[Row]]:
    """Every number of the ofn profile for the instances at `urls` ({instance_id: url})."""
    seeds = seeds or OfnSeeds.load()
    sources = [OfnSource.read(i, url, seeds) for i, url in sorted(urls.items())]
    by_distributor = turnover_by_distributor_month(sources)
    by_instance = turnover_by_instance_month(by_distributor)
    return {
        "turnover_by_distributor_month": by_distributor,
        "turnover_by_instance_month": by_instance,
        "turnover_global_month": turnover_global_month(by_instance, seeds),
        "new_enterprises_by_month": new_enterprises_by_month(sources),
        "billing_by_shop_month": billing_by_shop_month(sources, by_distributor, seeds),
        **active_customers(sources),
        "quarantined_orders": sorted((q for s in sources for q in s.quarantined),
                                     key=lambda q: (q["instance_id"], q["order_id"])),
        "quarantined_order_lines": sorted(
            (q for s in sources for q in s.quarantined_lines),
            key=lambda q: (q["instance_id"], q["order_line_id"])),
    }
