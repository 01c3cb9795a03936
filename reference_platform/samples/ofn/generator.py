"""Deterministic activity on a sample Open Food Network instance (schema.sql beside this file).

What the application does, in its own tables: enterprises join (shops that sell their own
produce, hubs that sell anyone's, producers and profiles that sell nothing), each with an owner
in `spree_users` and a row in `enterprise_roles`; customers fill carts with line items; carts
walk cart -> address -> delivery -> payment -> complete (`completed_at` set on the last step);
complete orders are later `canceled` or go `awaiting_return` -> `returned` (`completed_at`
stays); line items are added to and removed from open carts (totals follow); abandoned carts are
hard-deleted with their line items (Rails `dependent: :destroy`: children first); customers
without orders are deleted; roles are added, removed and changed (a table without timestamps).

The ugly cases, on purpose: a row committed late with an `updated_at` before the previous run's
clock; a bulk update giving many orders the same `updated_at`; orders completed at 23:30:00
local time on a month's last day and at exactly 00:00:00 local on the 1st, and one of them
canceled; carts with no distributor yet; and bad rows (see BAD_KINDS), one of each kind in the
generated history and one per step after that.

Usage: `python -m reference_platform.samples.ofn.generator --help`.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from reference_platform.fakes import CATALOGUE, FIRST_NAMES, KIND_SUFFIX, LAST_NAMES, ORG_WORDS
from reference_platform.randomness import derive_rng
from reference_platform.samples import cli
from reference_platform.samples.activity import ActivityBase
from reference_platform.samples.ofn.instances import INSTANCES, OfnInstance, get_instance
from reference_platform.samples.runner import Platform
from reference_platform.samples.store import Row, Store
from reference_platform.timeutil import next_month, zone

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

# Columns the generator writes (the others keep their defaults), tables in foreign-key order.
TABLES: dict[str, tuple[str, ...]] = {
    "spree_users": ("id", "encrypted_password", "password_salt", "email", "login",
                    "sign_in_count", "last_sign_in_at", "created_at", "updated_at",
                    "spree_api_key", "locale", "confirmed_at", "disabled_at",
                    "terms_of_service_accepted_at", "admin"),
    "enterprises": ("id", "name", "description", "is_primary_producer", "contact_name", "phone",
                    "website", "created_at", "updated_at", "owner_id", "sells", "permalink",
                    "email_address", "visible", "external_billing_id"),
    "enterprise_roles": ("id", "user_id", "enterprise_id", "receives_notifications"),
    "customers": ("id", "email", "enterprise_id", "code", "user_id", "created_at", "updated_at",
                  "name", "first_name", "last_name", "created_manually"),
    "spree_orders": ("id", "number", "item_total", "total", "state", "adjustment_total",
                     "user_id", "created_at", "updated_at", "completed_at", "payment_total",
                     "shipment_state", "payment_state", "email", "special_instructions",
                     "distributor_id", "currency", "last_ip_address", "customer_id", "note"),
    "spree_line_items": ("id", "order_id", "variant_id", "quantity", "price", "created_at",
                         "updated_at", "currency", "product_name", "variant_name"),
}

CHECKOUT_STATES = ("cart", "address", "delivery", "payment")
# (sells, is_primary_producer, weight): hubs sell anyone's produce, shops their own.
KINDS = (("any", False, 0.2), ("own", True, 0.45), ("none", True, 0.25), ("none", False, 0.1))
BAD_KINDS = ("missing_distributor", "missing_completed_at", "negative_total",
             "misspelled_state", "impossible_date")
CENT = Decimal("0.01")

# Rates per simulated day at scale 1.
NEW_ENTERPRISES_PER_DAY = 0.15
CARTS_PER_SHOP_PER_DAY = 2.5
ORPHAN_CARTS_PER_DAY = 0.3
MEAN_HOURS_PER_CHECKOUT_STEP = 1.5
# Orders are canceled or returned within AFTER_SALE_WINDOW of completion (~4% and ~3%).
AFTER_SALE_WINDOW = timedelta(days=14)
CANCEL_PER_DAY = 0.003
RETURN_REQUEST_PER_DAY = 0.002
RETURN_RECEIVED_PER_DAY = 0.1
CART_EDIT_PER_SLICE = 0.1
ABANDONED_AFTER = timedelta(days=2)
LATE_COMMIT_BACKDATE = timedelta(minutes=10)
INITIAL_ENTERPRISES = 8


def money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def cents(value: Decimal) -> int:
    return int(value * 100)


class OfnActivity(ActivityBase):
    """One generator run on one instance: mutates the loaded Store like the application."""

    def __init__(self, store: Store, instance_id: str, rng: random.Random, scale: float) -> None:
        self.instance: OfnInstance = get_instance(instance_id)
        super().__init__(store, self.instance.stored_time_zone, rng, scale)
        self.catalogue = [(name, round(price * self.instance.price_factor))
                          for name, price in CATALOGUE]
        # Indexes kept in step with the store, so a slice never scans whole tables.
        self.items: dict[int, list[Row]] = defaultdict(list)
        for item in store.rows("spree_line_items"):
            self.items[item["order_id"]].append(item)
        self.by_state: dict[str | None, set[int]] = defaultdict(set)
        self.customer_ids_with_orders: set[int] = set()
        for order in store.rows("spree_orders"):
            self.by_state[order["state"]].add(order["id"])
            self.customer_ids_with_orders.add(order["customer_id"])
        self.customers: dict[int, list[Row]] = defaultdict(list)
        for customer in store.rows("customers"):
            self.customers[customer["enterprise_id"]].append(customer)

    # -- entities ----------------------------------------------------------------------------

    def new_user(self, at: datetime, name: tuple[str, str] | None = None) -> Row:
        first, last = name or self.person()
        stamp = self.stamp(at)
        user = self.store.insert("spree_users", {
            "encrypted_password": f"{self.rng.getrandbits(128):032x}",
            "password_salt": f"{self.rng.getrandbits(40):010x}",
            "login": None, "sign_in_count": 0, "created_at": stamp, "updated_at": stamp,
            "spree_api_key": None, "locale": self.instance.locale, "confirmed_at": stamp,
            "terms_of_service_accepted_at": stamp, "admin": False,
        })
        email = f"{first.lower()}.{last.lower()}.{user['id']}@{self.instance.email_domain}"
        user.update(email=email, login=email)
        return user

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def new_enterprise(self, at: datetime, kind: tuple[str, bool, float] | None = None) -> Row:
        sells, producer, _ = kind or self.rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
        owner = self.new_user(at)
        suffix = KIND_SUFFIX["hub" if sells == "any" else "producer" if producer else "shop"]
        stamp = self.stamp(at)
        enterprise = self.store.insert("enterprises", {
            "description": "Local food, fairly traded.", "is_primary_producer": producer,
            "contact_name": owner["email"].split("@")[0].replace(".", " ").title(),
            "phone": self.phone(), "website": None, "created_at": stamp, "updated_at": stamp,
            "owner_id": owner["id"], "sells": sells,
            "visible": "public" if sells != "none" else "only_through_links",
            "external_billing_id": None,
        })
        name = (f"{self.rng.choice(ORG_WORDS)} {self.rng.choice(ORG_WORDS)} "
                f"{self.rng.choice(suffix)} {enterprise['id']}")
        enterprise.update(name=name, permalink=name.lower().replace(" ", "_"),
                          email_address=f"hello.{enterprise['id']}@{self.instance.email_domain}")
        self.store.insert("enterprise_roles", {"user_id": owner["id"],
                                               "enterprise_id": enterprise["id"],
                                               "receives_notifications": True})
        return enterprise

    def phone(self) -> str:
        digits = f"{self.rng.randrange(10**8, 10**9)}"
        return f"{self.instance.phone_prefix}{digits[:2]} {digits[2:5]} {digits[5:]}"

    def new_customer(self, shop: Row, at: datetime, manual: bool = False) -> Row:
        first, last = self.person()
        user = self.new_user(at, (first, last)) if self.rng.random() < 0.5 else None
        stamp = self.stamp(at)
        customer = self.store.insert("customers", {
            "enterprise_id": shop["id"], "user_id": user["id"] if user else None,
            "created_at": stamp, "updated_at": stamp, "name": f"{first} {last}",
            "first_name": first, "last_name": last, "created_manually": manual,
        })
        customer.update(
            email=user["email"] if user else
            f"{first.lower()}{customer['id']}@{self.instance.email_domain}",
            code=f"C{customer['id']:05d}" if manual else None)
        self.customers[shop["id"]].append(customer)
        return customer

    def new_order(self, shop: Row | None, at: datetime, customer: Row | None = None) -> Row:
        stamp = self.stamp(at)
        order = self.store.insert("spree_orders", {
            "item_total": money(0), "total": money(0), "state": "cart",
            "adjustment_total": money(0), "user_id": customer["user_id"] if customer else None,
            "created_at": stamp, "updated_at": stamp, "completed_at": None,
            "payment_total": money(0), "shipment_state": None, "payment_state": None,
            "email": customer["email"] if customer else None,
            "special_instructions": "Leave by the back door" if self.rng.random() < 0.1 else None,
            "distributor_id": shop["id"] if shop else None, "currency": self.instance.currency,
            "last_ip_address": f"203.0.113.{self.rng.randrange(1, 255)}",
            "customer_id": customer["id"] if customer else None, "note": "",
        })
        order["number"] = f"R{order['id']:09d}"
        self.by_state["cart"].add(order["id"])
        if customer:
            self.customer_ids_with_orders.add(customer["id"])
        for _ in range(self.rng.randint(1, 4)):
            self.add_line_item(order, at)
        return order

    def add_line_item(self, order: Row, at: datetime) -> None:
        variant = self.rng.randrange(len(self.catalogue))
        name, price = self.catalogue[variant]
        stamp = self.stamp(at)
        item = self.store.insert("spree_line_items", {
            "order_id": order["id"], "variant_id": variant + 1,
            "quantity": self.rng.choice((1, 1, 1, 2, 3)), "price": money(price),
            "created_at": stamp, "updated_at": stamp, "currency": self.instance.currency,
            "product_name": name, "variant_name": "Standard",
        })
        self.items[order["id"]].append(item)
        self.retotal(order, at)

    def retotal(self, order: Row, at: datetime) -> None:
        items = self.items[order["id"]]
        item_total = sum(cents(i["price"]) * i["quantity"] for i in items)
        fee = 0 if order["distributor_id"] is None else 350 + (order["distributor_id"] % 3) * 150
        self.update_order(order, item_total=money(item_total),
                          adjustment_total=money(fee), total=money(item_total + fee),
                          updated_at=self.stamp(at))

    def update_order(self, order: Row, **values: object) -> None:
        self.by_state[order["state"]].discard(order["id"])
        self.store.update("spree_orders", order, **values)
        self.by_state[order["state"]].add(order["id"])

    def orders_in(self, *states: str) -> list[Row]:
        ids = sorted(i for state in states for i in self.by_state[state])
        return [self.store.get("spree_orders", i) for i in ids]

    def delete_order(self, order: Row) -> None:
        for item in self.items.pop(order["id"], []):
            self.store.delete("spree_line_items", item)
        self.by_state[order["state"]].discard(order["id"])
        self.store.delete("spree_orders", order)

    def shops(self, before: datetime) -> list[Row]:
        stamp = self.stamp(before)
        return [e for e in self.store.rows("enterprises")
                if e["sells"] != "none" and e["created_at"] < stamp]

    def shop_weight(self, shop: Row) -> float:
        return derive_rng("ofn-weight", self.instance.instance_id, shop["id"]).uniform(0.3, 2.0)

    def complete(self, order: Row, at: datetime) -> None:
        stamp = self.stamp(at)
        paid = self.rng.random() < 0.8
        self.update_order(order, state="complete", completed_at=stamp,
                          updated_at=stamp, payment_state="paid" if paid else "balance_due",
                          payment_total=order["total"] if paid else money(0),
                          shipment_state="ready")

    # -- the run -----------------------------------------------------------------------------

    def bootstrap(self, at: datetime) -> None:
        # A hub, a shop and a producer whatever the scale, then a random mix.
        for index in range(max(3, round(INITIAL_ENTERPRISES * self.scale))):
            self.new_enterprise(at, KINDS[index] if index < 3 else None)

    def run_slice(self, start: datetime, end: datetime) -> None:
        for _ in range(self.count(NEW_ENTERPRISES_PER_DAY, start, end)):
            self.new_enterprise(self.between(start, end))
        self.new_carts(start, end)
        self.checkout(start, end)
        self.after_sale(start, end)
        self.housekeeping(start, end)
        self.month_edges(start, end)

    def new_carts(self, start: datetime, end: datetime) -> None:
        for shop in self.shops(start):
            per_day = CARTS_PER_SHOP_PER_DAY * self.shop_weight(shop)
            for _ in range(self.count(per_day, start, end)):
                at = self.between(start, end)
                known = self.customers[shop["id"]]
                if known and self.rng.random() < 0.7:
                    customer = self.rng.choice(known)
                else:
                    customer = self.new_customer(shop, at)
                self.new_order(shop, at, customer)
        for _ in range(self.count(ORPHAN_CARTS_PER_DAY, start, end)):
            self.new_order(None, self.between(start, end))  # no shop chosen yet: no tenant

    def checkout(self, start: datetime, end: datetime) -> None:
        hours = (end - start).total_seconds() / 3600
        advance = 1 - math.exp(-hours / MEAN_HOURS_PER_CHECKOUT_STEP)
        stamp_end = self.stamp(end)
        open_orders = [o for o in self.orders_in(*CHECKOUT_STATES)
                       if o["created_at"] < stamp_end]
        for order in open_orders:
            if order["distributor_id"] is None:
                if self.instant(order["created_at"]) < end - ABANDONED_AFTER:
                    self.delete_order(order)
                continue
            at = max(self.instant(order["updated_at"]), start)
            if order["state"] == "cart" and self.rng.random() < 0.25:
                # Left in the cart; old ones are cleaned up with their line items.
                if self.instant(order["created_at"]) < end - ABANDONED_AFTER:
                    self.delete_order(order)
                continue
            if order["state"] in ("cart", "address") and self.rng.random() < CART_EDIT_PER_SLICE:
                at = self.between(at, end)
                self.edit_cart(order, at)
            while order["state"] != "complete" and self.rng.random() < advance:
                at = self.between(at, end)
                index = CHECKOUT_STATES.index(order["state"])
                if index + 1 == len(CHECKOUT_STATES):
                    self.complete(order, at)
                else:
                    self.update_order(order, state=CHECKOUT_STATES[index + 1],
                                      updated_at=self.stamp(at))

    def edit_cart(self, order: Row, at: datetime) -> None:
        items = self.items[order["id"]]
        if len(items) > 1 and self.rng.random() < 0.5:
            item = self.rng.choice(items)
            items.remove(item)
            self.store.delete("spree_line_items", item)
            self.retotal(order, at)
        else:
            self.add_line_item(order, at)

    def after_sale(self, start: datetime, end: datetime) -> None:
        recent = self.stamp(start - AFTER_SALE_WINDOW)
        sold = [o for o in self.orders_in("complete") if o["distributor_id"] is not None
                and o["completed_at"] is not None and o["completed_at"] >= recent]
        for order in self.pick(sold, CANCEL_PER_DAY + RETURN_REQUEST_PER_DAY, start, end):
            if self.rng.random() < CANCEL_PER_DAY / (CANCEL_PER_DAY + RETURN_REQUEST_PER_DAY):
                self.update_order(order, state="canceled", payment_state="void",
                                  shipment_state="canceled",
                                  updated_at=self.later_stamp(order, start, end))
            else:
                self.update_order(order, state="awaiting_return",
                                  updated_at=self.later_stamp(order, start, end))
        waiting = self.orders_in("awaiting_return")
        for order in self.pick(waiting, RETURN_RECEIVED_PER_DAY, start, end):
            self.update_order(order, state="returned", payment_state="credit_owed",
                              updated_at=self.later_stamp(order, start, end))

    def later_stamp(self, row: Row, start: datetime, end: datetime) -> datetime:
        return self.stamp(self.between(max(self.instant(row["updated_at"]), start), end))

    def housekeeping(self, start: datetime, end: datetime) -> None:
        for shop in self.shops(start):
            if self.happens(0.1, start, end):
                self.new_customer(shop, self.between(start, end), manual=True)
            if self.happens(0.02, start, end):
                self.store.update("enterprises", shop, description="Seasonal boxes now open.",
                                  updated_at=self.later_stamp(shop, start, end))
            if self.happens(0.01, start, end):
                manager = self.new_user(self.between(start, end))
                self.store.insert("enterprise_roles", {"user_id": manager["id"],
                                                       "enterprise_id": shop["id"],
                                                       "receives_notifications": False})
        for customers in self.customers.values():
            for customer in list(customers):
                if (customer["created_manually"]
                        and customer["id"] not in self.customer_ids_with_orders
                        and self.happens(0.05, start, end)):
                    customers.remove(customer)
                    self.store.delete("customers", customer)
        owners = {e["owner_id"] for e in self.store.rows("enterprises")}
        for role in list(self.store.rows("enterprise_roles")):
            if self.happens(0.01, start, end):
                # A change nothing timestamps: only a full read of the table can see it.
                self.store.update("enterprise_roles", role,
                                  receives_notifications=not role["receives_notifications"])
            elif role["user_id"] not in owners and self.happens(0.02, start, end):
                self.store.delete("enterprise_roles", role)

    def month_edges(self, start: datetime, end: datetime) -> None:
        """On each local month end inside the slice: an order completed at 23:30:00 on the
        last day (another one of them canceled later) and one at exactly 00:00:00 on the 1st."""
        tz = zone(self.instance.time_zone)
        shops = self.shops(start)
        if not shops:
            return
        first = start.astimezone(tz).date().replace(day=1)
        for month in (first, next_month(first)):
            midnight = datetime(month.year, month.month, 1, tzinfo=tz)
            last_evening = datetime.combine(month - timedelta(days=1),
                                            datetime.min.time(), tz) + timedelta(hours=23,
                                                                                 minutes=30)
            for at, cancel in ((last_evening, False), (last_evening, True), (midnight, False)):
                if start <= at < end:
                    self.edge_order(shops[0], at, cancel, end)

    def edge_order(self, shop: Row, at: datetime, cancel: bool, end: datetime) -> None:
        created = at - timedelta(minutes=20)
        order = self.new_order(shop, created, self.new_customer(shop, created))
        self.complete(order, at)
        if cancel:
            self.update_order(order, state="canceled", payment_state="void",
                              updated_at=self.stamp(min(at + timedelta(minutes=5), end)))

    # -- ugly cases --------------------------------------------------------------------------

    def ugly_cases(self, start: datetime, end: datetime, step: int) -> None:
        shops = self.shops(end)
        if not shops:
            return
        if step > 1:
            # A transaction that began before the previous run's clock and commits only now.
            late_at = start - LATE_COMMIT_BACKDATE
            late = self.new_order(shops[step % len(shops)], late_at - timedelta(minutes=15))
            self.complete(late, late_at)
        # An admin bulk action: one UPDATE, one updated_at for every row it touches.
        bulk_at = self.stamp(end - timedelta(seconds=30))
        ready = [o for o in self.orders_in("complete") if o["shipment_state"] == "ready"
                 and o["distributor_id"] is not None]
        per_shop = Counter(o["distributor_id"] for o in ready)
        if per_shop:
            busiest = min(per_shop, key=lambda shop_id: (-per_shop[shop_id], shop_id))
            for order in ready:
                if order["distributor_id"] == busiest:
                    self.update_order(order, shipment_state="shipped", updated_at=bulk_at)
        kinds = BAD_KINDS if step == 1 else (BAD_KINDS[step % len(BAD_KINDS)],)
        for kind in kinds:
            opened = self.instant(shops[0]["created_at"]) + timedelta(minutes=5)
            self.bad_order(kind, shops[0], self.between(max(start, opened), end))

    def bad_order(self, kind: str, shop: Row, at: datetime) -> None:
        order = self.new_order(shop, at - timedelta(minutes=5))
        self.complete(order, at)
        if kind == "missing_distributor":
            self.update_order(order, distributor_id=None)
        elif kind == "missing_completed_at":
            self.update_order(order, completed_at=None)
        elif kind == "negative_total":
            self.update_order(order, total=money(-cents(order["total"])))
        elif kind == "misspelled_state":
            self.update_order(order, state="cancelled")  # two l: a data fix, not OFN's spelling
        elif kind == "impossible_date":
            self.update_order(order, completed_at=datetime(1970, 1, 1))
        else:  # pragma: no cover - BAD_KINDS is the list above
            raise AssertionError(kind)


PLATFORM = Platform(name="ofn", schema_file=SCHEMA_FILE, tables=TABLES,
                    instances=tuple(sorted(INSTANCES)), activity=OfnActivity)


if __name__ == "__main__":
    raise SystemExit(cli.main(PLATFORM))
