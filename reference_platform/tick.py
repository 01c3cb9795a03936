"""Plan one simulator tick: read what the platform looks like, decide what happens in the window.

The plan is pure data (rows to insert, statements to run, ids to delete, the late commit); the
simulator writes it. Every update stamps `updated_at` inside [start, end) and touches a row at most
once per tick, so `updated_at` never goes backwards for a row (except the deliberate late commit).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference_platform import badrows
from reference_platform.activity import (
    KINDS,
    MONTH_END_EXTRA_SHARE,
    PLANS,
    IdAllocator,
    bulk_update_size,
    month_end_instants,
    month_end_order,
)
from reference_platform.batch import (
    BAD_REASONS,
    EVENTS,
    NO_ORG,
    MessageBatch,
    OrderBatch,
    Pool,
    draft_messages,
    draft_orders,
)
from reference_platform.database import Session
from reference_platform.fakes import INBOUND_BODIES, catalogue, organization_name, person
from reference_platform.instances import Instance
from reference_platform.randomness import Carry, WeightedChoice, derive_rng, stochastic_round
from reference_platform.schema import PLATFORM_TABLE_NAMES
from reference_platform.state import SimState, us_or_none
from reference_platform.timeutil import DAY, MINUTE, SECOND, format_us, to_us

NEVER = np.iinfo(np.int64).max
CART_LOOKBACK = 7 * DAY
COMPLETE_LOOKBACK = 14 * DAY
IN_FLIGHT_LOOKBACK = 3 * DAY
LATE_MESSAGES = 2

# Per-day rates of rare events, with floors so a tiny database still shows each of them.
PLAN_CHANGES_PER_ORG_DAY, PLAN_CHANGES_MIN_DAY = 0.008, 2.0
ORG_DELETES_PER_ORG_DAY, ORG_DELETES_MIN_DAY = 0.0015, 0.25
ERASURES_PER_CONTACT_DAY, ERASURES_MIN_DAY = 0.00005, 1.0
CANCELS_PER_ORDER_DAY, CANCELS_MIN_DAY = 0.012, 1.0
RETURNS_PER_ORDER_DAY, RETURNS_MIN_DAY = 0.008, 0.5
ITEM_REMOVALS_PER_CART_DAY, ITEM_REMOVALS_MIN_DAY = 0.05, 2.0
CART_COMPLETIONS_PER_CART_DAY = 0.1
USERS_PER_ORG_DAY, USER_DELETES_PER_USER_DAY = 0.01, 0.002
CONTACT_UPDATES_PER_CONTACT_DAY = 0.002
MIN_MESSAGES_PER_TICK = 4


@dataclass
class Org:
    id: int
    kind: str
    plan: str
    time_zone: str
    created: int
    deleted: int | None

    @property
    def valid(self) -> bool:
        return self.time_zone not in badrows.INVALID_TIME_ZONES


@dataclass
class TickPlan:
    inserts: dict[str, list[tuple]] = field(default_factory=dict)
    updates: dict[str, list[tuple]] = field(default_factory=dict)  # statement -> params
    update_counts: Counter[str] = field(default_factory=Counter)
    deletes: dict[str, list[int]] = field(default_factory=dict)
    late: dict[str, list[tuple]] = field(default_factory=dict)
    bulk_size: int = 0
    bulk_at: int = 0
    bad_rows: Counter[str] = field(default_factory=Counter)

    def insert(self, table: str, rows: list[tuple]) -> None:
        if rows:
            self.inserts.setdefault(table, []).extend(rows)

    def update(self, table: str, statement: str, params: tuple) -> None:
        self.updates.setdefault(statement, []).append(params)
        self.update_counts[table] += 1

    def delete(self, table: str, row_id: int) -> None:
        self.deletes.setdefault(table, []).append(row_id)


class TickPlanner:
    def __init__(
        self, session: Session, instance: Instance, state: SimState, seed: int,
        tick_hours: float, bad_row_rate: float, late_commit_seconds: float,
    ) -> None:
        self.session = session
        self.instance = instance
        self.state = state
        self.tick = state.tick + 1
        self.start = state.clock_us
        self.end = self.start + int(tick_hours * 3600 * SECOND)
        self.days = tick_hours / 24
        self.rate = bad_row_rate
        self.late_seconds = late_commit_seconds
        self.rng = derive_rng(seed, instance.instance_id, "tick", self.tick)
        self.g = np.random.Generator(np.random.PCG64(self.rng.getrandbits(128)))
        self.carry = Carry(state.carry)
        self.ids = IdAllocator({t: session.sequence_value(t) for t in PLATFORM_TABLE_NAMES})
        self.price_list = [price for _, price in catalogue(instance)]
        self.plan = TickPlan()
        self.touched_orgs: set[int] = set()
        self.events: list[tuple] = []
        self.bad: list[tuple] = []

    # -- helpers -----------------------------------------------------------------------------

    def at(self) -> int:
        """A random instant in the window."""
        return self.start + self.rng.randrange(self.end - self.start)

    def within(self, at: int) -> int:
        return min(at, self.end - 1)

    def take(self, key: str, per_day: float, floor_per_day: float = 0.0) -> int:
        return self.carry.take(key, max(per_day, floor_per_day) * self.days)

    def event(self, kind: str, table: str | None, row_id: int | None, **detail: Any) -> None:
        self.events.append((self.tick, kind, table, row_id,
                            json.dumps(detail, sort_keys=True) if detail else None))

    # -- reading -----------------------------------------------------------------------------

    def load(self) -> None:
        q = self.session.query
        self.orgs = [Org(i, k, p, tz, us_or_none(c) or 0, us_or_none(d)) for i, k, p, tz, c, d in q(
            "SELECT id, kind, plan, time_zone, created_at, deleted_at FROM organizations ORDER BY id")]
        self.active_orgs = [o for o in self.orgs if o.deleted is None]
        self.bad_ids = {(t, i) for t, i in q("SELECT table_name, row_id FROM sim_bad_rows")}
        contacts = q("SELECT id, organization_id FROM contacts "
                     "WHERE organization_id IS NOT NULL ORDER BY id")
        self.contact_ids = np.asarray([c for c, _ in contacts], dtype=np.int64)
        self.contact_orgs = np.asarray([o for _, o in contacts], dtype=np.int64)
        self.users = q("SELECT id, organization_id, role FROM users WHERE deleted_at IS NULL "
                       "ORDER BY id")
        since = format_us(self.start - CART_LOOKBACK)
        self.carts = [r for r in q(
            "SELECT id, organization_id, total_cents FROM orders WHERE state = 'cart' "
            "AND organization_id IS NOT NULL AND updated_at >= ? ORDER BY id", (since,))
            if ("orders", r[0]) not in self.bad_ids]
        self.cart_items: dict[int, list[tuple[int, int, int]]] = {}
        for item_id, order_id, quantity, price in q(
            "SELECT i.id, i.order_id, i.quantity, i.unit_price_cents FROM order_items i "
            "JOIN orders o ON o.id = i.order_id WHERE o.state = 'cart' "
            "AND o.organization_id IS NOT NULL AND o.updated_at >= ? ORDER BY i.id", (since,)):
            self.cart_items.setdefault(order_id, []).append((item_id, quantity, price))
        self.completed = [r[0] for r in q(
            "SELECT id FROM orders WHERE state = 'complete' AND organization_id IS NOT NULL "
            "AND updated_at >= ? ORDER BY id", (format_us(self.start - COMPLETE_LOOKBACK),))
            if ("orders", r[0]) not in self.bad_ids]
        self.in_flight = q(
            "SELECT id, status FROM messages WHERE direction = 'outbound' "
            "AND status IN ('sent', 'delivered') AND updated_at >= ? ORDER BY id",
            (format_us(self.start - IN_FLIGHT_LOOKBACK),))

    # -- planning ----------------------------------------------------------------------------

    def build(self) -> TickPlan:
        self.load()
        late_order = self.ids.next("orders")
        late_items = [self.ids.next("order_items") for _ in range(self.rng.randint(1, 3))]
        late_messages = [self.ids.next("messages") for _ in range(LATE_MESSAGES)]
        contact_drafts = self.new_organizations()
        self.plan_changes()
        self.organization_deletes()
        self.active_orgs = [o for o in self.orgs if o.deleted is None]
        self.erasures()
        contact_drafts += self.new_contacts()
        self.user_changes()
        pool = self.pool()
        messages = draft_messages(self.g, pool, self.start, self.end,
                                  self.message_count(), self.end, force_auto_reply=True)
        orders = draft_orders(self.g, pool, np.asarray(self.price_list, dtype=np.int64),
                              self.start, self.end, self.order_count(), self.end)
        self.progress_messages()
        self.progress_carts()
        self.progress_completed()
        self.contact_updates()
        extra_orders = self.month_end_orders(pool)
        extra_messages: list[tuple] = []
        self.bad_rows(pool, contact_drafts, extra_orders, extra_messages,
                      {"contacts": len(contact_drafts), "orders": len(orders),
                       "messages": len(messages)})
        self.emit_contacts(contact_drafts)
        self.emit_orders(OrderBatch.concat([orders, OrderBatch.from_records(extra_orders)]))
        self.emit_messages(MessageBatch.concat([messages,
                                                MessageBatch.from_records(extra_messages)]))
        self.plan.bulk_size = bulk_update_size(self.state.scale)
        window = self.end - self.start
        self.plan.bulk_at = self.end - 1 - self.rng.randrange(max(1, min(5 * MINUTE, window // 10)))
        self.late_commit(pool, late_order, late_items, late_messages)
        self.plan.insert("sim_bad_rows", self.bad)
        self.plan.insert("sim_events", self.events)
        self.state.carry = self.carry.values
        return self.plan

    def pool(self) -> Pool:
        deleted = np.full(max((o.id for o in self.orgs), default=0) + 1, NEVER, dtype=np.int64)
        for org in self.orgs:
            if org.deleted is not None:
                deleted[org.id] = org.deleted
        active = np.asarray([o.id for o in self.active_orgs], dtype=np.int64)
        keep = ~np.isin(self.contact_ids, np.asarray(self.erased, dtype=np.int64))
        return Pool(self.contact_ids[keep], self.contact_orgs[keep], deleted, active)

    def message_count(self) -> int:
        expected = self.state.rates["messages_per_contact_day"] * self.contact_ids.size * self.days
        return max(MIN_MESSAGES_PER_TICK, stochastic_round(self.rng, expected))

    def order_count(self) -> int:
        expected = self.state.rates["orders_per_contact_day"] * self.contact_ids.size * self.days
        return stochastic_round(self.rng, expected)

    def new_organizations(self) -> list[tuple]:
        """New organizations with their admin, plan history row and first contacts."""
        count = self.take("organizations", self.state.rates["organizations_per_day"], 1.0)
        zones = WeightedChoice([z for z, _ in self.instance.organization_time_zones],
                               [w for _, w in self.instance.organization_time_zones])
        kinds = WeightedChoice([k for k, _ in KINDS], [w for _, w in KINDS])
        plans = WeightedChoice([p for p, _ in PLANS], [w for _, w in PLANS])
        contacts = []
        rows, users = [], []
        for created in sorted(self.at() for _ in range(count)):
            org_id = self.ids.next("organizations")
            self.touched_orgs.add(org_id)
            kind, plan = kinds.pick(self.rng), plans.pick(self.rng)
            invalid = self.rate > 0 and badrows.is_invalid_organization(self.carry, self.rate)
            zone = badrows.invalid_time_zone(self.rng) if invalid else zones.pick(self.rng)
            stamp = format_us(created)
            rows.append((org_id, organization_name(self.rng, kind), kind, plan, zone, stamp,
                         stamp, None))
            self.plan.insert("sim_plan_changes", [(org_id, plan, stamp)])
            if invalid:
                self.bad.append(("organizations", org_id, "invalid_time_zone", stamp))
                self.plan.bad_rows["invalid_time_zone"] += 1
            admin_at = format_us(self.within(created + self.rng.randrange(SECOND, 10 * MINUTE)))
            users.append((org_id, admin_at))
            for _ in range(self.rng.randint(1, 3)):
                at = self.within(created + self.rng.randrange(MINUTE, 60 * MINUTE))
                contacts.append(self.contact_draft(at, org_id))
        self.plan.insert("organizations", rows)
        for org_id, stamp in sorted(users, key=lambda u: u[1]):
            name, email, phone = person(self.rng, self.instance)
            self.plan.insert("users", [(self.ids.next("users"), org_id, name, email, phone,
                                        "admin", stamp, stamp, None)])
        return contacts

    def contact_draft(self, at: int, org_id: int | None) -> tuple:
        name, email, phone = person(self.rng, self.instance)
        languages = self.instance.languages
        language = WeightedChoice([lang for lang, _ in languages],
                                  [w for _, w in languages]).pick(self.rng)
        return (at, org_id, name, email, phone, language)

    def erasures(self) -> None:
        """Erasure requests: the contact row is hard-deleted; the erased values are kept in
        sim_erasures (test oracle only) to prove none survives downstream."""
        self.erased: list[int] = []
        count = min(self.take("erasures", ERASURES_PER_CONTACT_DAY * self.contact_ids.size,
                              ERASURES_MIN_DAY), self.contact_ids.size)
        if not count:
            return
        chosen = sorted(self.rng.sample(self.contact_ids.tolist(), count))
        marks = ", ".join("?" * len(chosen))
        found = self.session.query(
            f"SELECT id, organization_id, name, email, phone FROM contacts WHERE id IN ({marks}) "
            "ORDER BY id", chosen)
        for contact_id, org_id, name, email, phone in found:
            erased_at = format_us(self.at())
            self.erased.append(contact_id)
            self.plan.delete("contacts", contact_id)
            self.plan.insert("sim_erasures", [(contact_id, org_id, erased_at, name, email, phone)])
            self.event("hard_delete", "contacts", contact_id, reason="erasure",
                       erased_at=erased_at)

    def new_contacts(self) -> list[tuple]:
        eligible = list(self.active_orgs)
        if not eligible:
            return []
        per_org = Counter(self.contact_orgs.tolist())
        choice = WeightedChoice(eligible, [per_org.get(o.id, 0) + 1 for o in eligible])
        count = stochastic_round(self.rng, self.state.rates["contacts_per_day"] * self.days)
        return [self.contact_draft(self.at(), choice.pick(self.rng).id) for _ in range(count)]

    def user_changes(self) -> None:
        staff = [o for o in self.active_orgs if o.id not in self.touched_orgs]
        for _ in range(self.take("users", USERS_PER_ORG_DAY * len(staff)) if staff else 0):
            org = staff[self.rng.randrange(len(staff))]
            name, email, phone = person(self.rng, self.instance)
            stamp = format_us(self.at())
            self.plan.insert("users", [(self.ids.next("users"), org.id, name, email, phone,
                                        "staff", stamp, stamp, None)])
        removable = [u for u in self.users if u[2] == "staff"]
        count = min(len(removable), self.take("user_deletes",
                                              USER_DELETES_PER_USER_DAY * len(self.users)))
        for user_id, _, _ in sorted(self.rng.sample(removable, count)):
            stamp = format_us(self.at())
            self.plan.update("users", "UPDATE users SET deleted_at = ?, updated_at = ? WHERE id = ?",
                             (stamp, stamp, user_id))

    def progress_messages(self) -> None:
        """Outbound messages of earlier ticks move on: sent -> delivered/failed, delivered -> read."""
        statement = "UPDATE messages SET status = ?, updated_at = ? WHERE id = ?"
        for message_id, status in self.in_flight:
            roll = self.rng.random()
            at = self.at()
            if status == "sent" and roll < 0.85:
                new = "delivered"
                if self.rng.random() < 0.3:
                    new, at = "read", self.within(at + self.rng.randrange(SECOND, 30 * MINUTE))
            elif status == "sent" and roll < 0.9:
                new = "failed"
            elif status == "delivered" and roll < 0.35:
                new = "read"
            else:
                continue
            self.plan.update("messages", statement, (new, format_us(at), message_id))

    def progress_carts(self) -> None:
        """Open carts of earlier ticks: a few lose an item (hard delete), a few complete."""
        removable = [c for c in self.carts if len(self.cart_items.get(c[0], ())) > 1]
        count = min(len(removable), self.take(
            "item_removals", ITEM_REMOVALS_PER_CART_DAY * len(self.carts), ITEM_REMOVALS_MIN_DAY))
        shrunk = set()
        for order_id, _, total in sorted(self.rng.sample(removable, count)):
            item_id, quantity, price = self.rng.choice(self.cart_items[order_id])
            stamp = format_us(self.at())
            shrunk.add(order_id)
            self.plan.delete("order_items", item_id)
            self.event("hard_delete", "order_items", item_id, reason="removed_from_cart",
                       order_id=order_id)
            self.plan.update("orders",
                             "UPDATE orders SET total_cents = ?, updated_at = ? WHERE id = ?",
                             (total - quantity * price, stamp, order_id))
        share = CART_COMPLETIONS_PER_CART_DAY * self.days
        for order_id, _, _ in self.carts:
            if order_id not in shrunk and self.rng.random() < share:
                stamp = format_us(self.at())
                self.plan.update("orders", "UPDATE orders SET state = 'complete', "
                                 "completed_at = ?, updated_at = ? WHERE id = ?",
                                 (stamp, stamp, order_id))

    def progress_completed(self) -> None:
        """Completed orders of the last two weeks: some are cancelled, some returned (their
        month may already be closed: turnover restates it)."""
        n = len(self.completed)
        cancels = self.take("cancels", CANCELS_PER_ORDER_DAY * n, CANCELS_MIN_DAY)
        returns = self.take("returns", RETURNS_PER_ORDER_DAY * n, RETURNS_MIN_DAY)
        chosen = self.rng.sample(self.completed, min(n, cancels + returns))
        for index, order_id in enumerate(chosen):
            stamp = format_us(self.at())
            column, state = ("cancelled_at", "cancelled") if index < cancels else (
                "returned_at", "returned")
            self.plan.update("orders", f"UPDATE orders SET state = '{state}', {column} = ?, "
                             "updated_at = ? WHERE id = ?", (stamp, stamp, order_id))

    def plan_changes(self) -> None:
        candidates = [o for o in self.active_orgs if o.id not in self.touched_orgs]
        count = min(len(candidates), self.take(
            "plan_changes", PLAN_CHANGES_PER_ORG_DAY * len(candidates), PLAN_CHANGES_MIN_DAY))
        for org in sorted(self.rng.sample(candidates, count), key=lambda o: o.id):
            plan = self.rng.choice([p for p, _ in PLANS if p != org.plan])
            stamp = format_us(self.at())
            self.touched_orgs.add(org.id)
            self.plan.update("organizations",
                             "UPDATE organizations SET plan = ?, updated_at = ? WHERE id = ?",
                             (plan, stamp, org.id))
            # changed_at is the organization's new updated_at, which a timestamp snapshot sees.
            self.plan.insert("sim_plan_changes", [(org.id, plan, stamp)])

    def organization_deletes(self) -> None:
        candidates = [o for o in self.active_orgs if o.id not in self.touched_orgs]
        count = self.take("organization_deletes", ORG_DELETES_PER_ORG_DAY * len(candidates),
                          ORG_DELETES_MIN_DAY)
        live_by_zone = Counter(o.time_zone for o in self.active_orgs if o.valid)
        for org in self.rng.sample(candidates, min(count, len(candidates))):
            if org.valid and live_by_zone[org.time_zone] <= 1:
                continue  # keep every zone populated so month-end orders keep happening
            live_by_zone[org.time_zone] -= 1
            org.deleted = self.at()
            stamp = format_us(org.deleted)
            self.touched_orgs.add(org.id)
            self.plan.update("organizations", "UPDATE organizations SET deleted_at = ?, "
                             "updated_at = ? WHERE id = ?", (stamp, stamp, org.id))
            self.event("soft_delete", "organizations", org.id, deleted_at=stamp)

    def contact_updates(self) -> None:
        erased = set(self.erased)
        candidates = [c for c in self.contact_ids.tolist() if c not in erased]
        count = min(len(candidates), self.take(
            "contact_updates", CONTACT_UPDATES_PER_CONTACT_DAY * len(candidates)))
        for contact_id in sorted(self.rng.sample(candidates, count)):
            _, _, phone = person(self.rng, self.instance)
            self.plan.update("contacts", "UPDATE contacts SET phone = ?, updated_at = ? "
                             "WHERE id = ?", (phone, format_us(self.at()), contact_id))

    def month_end_orders(self, pool: Pool) -> list[dict[str, Any]]:
        """23:30 local on a month's last day, for one organization per zone and a few more."""
        records: list[dict[str, Any]] = []
        by_org: dict[int, list[int]] = {}
        for contact_id, org_id in zip(pool.contacts.tolist(), pool.organizations.tolist(),
                                      strict=True):
            by_org.setdefault(org_id, []).append(contact_id)
        for zone, _ in self.instance.organization_time_zones:
            for at in month_end_instants(zone, self.start, self.end):
                candidates = [o for o in self.active_orgs if o.time_zone == zone
                              and o.created < at - DAY and by_org.get(o.id)
                              and o.id not in self.touched_orgs]
                if not candidates:
                    continue
                chosen = {candidates[self.rng.randrange(len(candidates))].id}
                chosen.update(o.id for o in candidates
                              if self.rng.random() < MONTH_END_EXTRA_SHARE)
                for org_id in sorted(chosen):
                    contact_id = self.rng.choice(by_org[org_id])
                    records.append(month_end_order(self.rng, at, org_id, contact_id,
                                                   self.price_list))
        return records

    def bad_rows(
        self, pool: Pool, contacts: list[tuple], orders: list[dict[str, Any]],
        messages: list[tuple], inserted: dict[str, int],
    ) -> None:
        # Bad rows go to valid organizations, so each has exactly the one reason it was made for.
        tenants = [o.id for o in self.active_orgs if o.valid and o.id not in self.touched_orgs]
        if self.rate <= 0 or not len(pool) or not tenants:
            return
        for kind, count in badrows.draw_counts(self.carry, self.rate, inserted).items():
            for _ in range(count):
                at = self.start + self.rng.randrange(max(1, (self.end - self.start) // 2))
                contact_id = int(pool.contacts[self.rng.randrange(len(pool))])
                if kind.table == "contacts":
                    contacts.append(badrows.bad_contact_draft(self.rng, self.instance, at))
                elif kind.table == "messages":
                    messages.append(badrows.bad_message_record(self.rng, contact_id, at))
                else:
                    org_id = tenants[self.rng.randrange(len(tenants))]
                    orders.append(badrows.bad_order_record(self.rng, kind.reason, org_id,
                                                           contact_id, at))

    # -- rows --------------------------------------------------------------------------------

    def emit_contacts(self, drafts: list[tuple]) -> None:
        rows = []
        for at, org_id, name, email, phone, language in sorted(drafts, key=lambda d: d[0]):
            contact_id = self.ids.next("contacts")
            stamp = format_us(at)
            rows.append((contact_id, org_id, name, email, phone, language, stamp, stamp))
            if org_id is None:
                self.bad.append(("contacts", contact_id, "missing_tenant", stamp))
                self.plan.bad_rows["missing_tenant"] += 1
        self.plan.insert("contacts", rows)

    def emit_orders(self, batch: OrderBatch) -> None:
        orders, items, order_ids = batch.rows(self.ids)
        self.plan.insert("orders", orders)
        self.plan.insert("order_items", items)
        for index in np.flatnonzero(batch.bad).tolist():
            reason = BAD_REASONS[int(batch.bad[index])]
            self.bad.append(("orders", int(order_ids[index]), reason,
                             format_us(int(batch.created[index]))))
            self.plan.bad_rows[str(reason)] += 1
        for index in np.flatnonzero(batch.event).tolist():
            self.event(str(EVENTS[int(batch.event[index])]), "orders", int(order_ids[index]),
                       completed_at=format_us(int(batch.completed[index])))

    def emit_messages(self, batch: MessageBatch) -> None:
        rows, message_ids = batch.rows(self.ids)
        self.plan.insert("messages", rows)
        for index in np.flatnonzero(batch.organization == NO_ORG).tolist():
            self.bad.append(("messages", int(message_ids[index]), "missing_tenant",
                             format_us(int(batch.created[index]))))
            self.plan.bad_rows["missing_tenant"] += 1

    def newest_main_timestamp(self) -> int:
        newest = self.plan.bulk_at
        for table in ("organizations", "users", "contacts", "orders", "order_items", "messages"):
            for row in self.plan.inserts.get(table, ()):
                newest = max(newest, _row_updated(table, row))
        for params in self.plan.updates.values():
            for param in params:
                newest = max(newest, _param_updated(param))
        return newest

    def late_commit(self, pool: Pool, order_id: int, item_ids: list[int],
                    message_ids: list[int]) -> None:
        """A transaction that began early (lower ids) and commits after the rest of the tick,
        with `updated_at` up to `late_commit_seconds` older than rows already committed."""
        if not len(pool):
            return
        newest = self.newest_main_timestamp()
        lag = int(self.late_seconds * SECOND * (0.5 + 0.5 * self.rng.random()))
        stamp_at = newest - max(SECOND, lag)
        live = {o.id for o in self.active_orgs} - self.touched_orgs
        candidates = np.flatnonzero(np.isin(pool.organizations, np.asarray(sorted(live))))
        if not candidates.size:
            return
        pick = int(candidates[self.rng.randrange(candidates.size)])
        contact_id, org_id = int(pool.contacts[pick]), int(pool.organizations[pick])
        created = stamp_at - self.rng.randrange(2 * MINUTE, 10 * MINUTE)
        items, total = [], 0
        for index, item_id in enumerate(item_ids):
            product, price = catalogue(self.instance)[self.rng.randrange(len(self.price_list))]
            stamp = format_us(created + index * 30 * SECOND)
            items.append((item_id, order_id, org_id, product, 1, price, stamp, stamp))
            total += price
        stamp = format_us(stamp_at)
        late: dict[str, list[tuple]] = {
            "orders": [(order_id, org_id, contact_id, "complete", total, format_us(created), stamp,
                        None, None, stamp)],
            "order_items": items,
            "messages": [(message_id, org_id, contact_id, "inbound", "received",
                          self.rng.choice(INBOUND_BODIES), stamp, stamp)
                         for message_id in message_ids],
        }
        detail = json.dumps({"updated_at": stamp, "newest_committed_before": format_us(newest)})
        late["sim_events"] = [(self.tick, "late_commit", table, row[0], detail)
                              for table in ("orders", "order_items", "messages")
                              for row in late[table]]
        self.plan.late = late


def _row_updated(table: str, row: tuple) -> int:
    index = {"organizations": 6, "users": 7, "contacts": 7, "orders": 9, "order_items": 7,
             "messages": 7}[table]
    return to_us(row[index])


def _param_updated(params: tuple) -> int:
    """Every update statement here binds updated_at as the second-to-last parameter."""
    return to_us(params[-2])

