"""Generate an instance's history from 2026-01-01 up to the start clock (2026-06-28 00:00 UTC).

Day by day, in bounded memory: organizations and users first, then each day's contacts, orders
(with items) and messages, buffered and flushed in large batches. Every random stream is derived
from (seed, instance, scale, purpose), so the same inputs give the same rows byte for byte.
Activity on a day uses only contacts created on earlier days; volume per day is proportional to
the contacts that exist, so the business grows and the simulator can continue at the same rates.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference_platform import badrows
from reference_platform.activity import (
    KINDS,
    MONTH_END_EXTRA_SHARE,
    PLANS,
    IdAllocator,
    Volumes,
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
from reference_platform.database import Database, Session
from reference_platform.fakes import catalogue, organization_name, person
from reference_platform.instances import Instance, get_instance
from reference_platform.randomness import Carry, WeightedChoice, derive_rng
from reference_platform.schema import PLATFORM_TABLE_NAMES, TABLES
from reference_platform.timeutil import (
    DAY,
    HISTORY_START,
    HOUR,
    MINUTE,
    SECOND,
    START_CLOCK,
    format_us,
    to_us,
)

Progress = Callable[[str], None]
NEVER = np.iinfo(np.int64).max
FLUSH_ROWS = 50_000


@dataclass
class Organization:
    id: int
    name: str
    kind: str
    plan: str
    time_zone: str
    created: int
    deleted: int | None
    weight: float
    valid: bool  # False when its time zone is deliberately invalid

    def active_at(self, at: int) -> bool:
        return self.created < at and (self.deleted is None or at < self.deleted)


class _Writer:
    """Buffers rows per table and flushes them in one transaction per batch."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.buffers: dict[str, list[tuple]] = {}
        self.counts: dict[str, int] = {}
        self.pending = 0

    def add(self, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        self.buffers.setdefault(table, []).extend(rows)
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        self.pending += len(rows)
        if self.pending >= FLUSH_ROWS:
            self.flush()

    def flush(self, extra: Callable[[Session], None] | None = None) -> None:
        with self.database.transaction() as session:
            for table, rows in self.buffers.items():
                session.insert(table, TABLES[table].column_names, rows)
            if extra is not None:
                extra(session)
        self.buffers.clear()
        self.pending = 0


def generate(
    url: str,
    instance: str,
    seed: int = 1,
    scale: float = 0.01,
    progress: Progress | None = None,
    bad_row_rate: float = badrows.DEFAULT_BAD_ROW_RATE,
) -> dict[str, int]:
    """(Re)create the instance database at `url` with its history; returns rows per table.

    Refuses to touch a database that has platform tables but no `sim_state` (not ours).
    """
    spec = get_instance(instance)
    database = Database(url)
    _prepare(database)
    database.create_schema(indexes=False)
    writer = _Writer(database)
    history = _History(spec, seed, scale, bad_row_rate, writer, progress)
    history.run()
    writer.flush(extra=history.finish)
    database.create_indexes()
    counts = {t: writer.counts.get(t, 0) for t in PLATFORM_TABLE_NAMES}
    if progress:
        progress(f"{instance}: generated {sum(counts.values())} rows {counts}")
    return counts


def _prepare(database: Database) -> None:
    if database.dialect == "sqlite":
        if database.path.exists():
            _refuse_foreign(database)
            database.drop_database()
        database.ensure_database()
        return
    database.ensure_database()
    _refuse_foreign(database)
    database.drop_tables()


def _refuse_foreign(database: Database) -> None:
    existing = database.existing_tables()
    if existing & set(PLATFORM_TABLE_NAMES) and "sim_state" not in existing:
        raise RuntimeError(
            f"{database.name} has application tables but no sim_state: it is not a reference "
            "platform database, refusing to overwrite it"
        )


class _History:
    def __init__(
        self, instance: Instance, seed: int, scale: float, bad_row_rate: float,
        writer: _Writer, progress: Progress | None,
    ) -> None:
        self.instance = instance
        self.seed = seed
        self.scale = scale
        self.rate = bad_row_rate
        self.writer = writer
        self.progress = progress
        self.volumes = Volumes.for_scale(scale)
        self.ids = IdAllocator({t: 0 for t in PLATFORM_TABLE_NAMES})
        self.carry = Carry()
        self.start = to_us(HISTORY_START)
        self.clock = to_us(START_CLOCK)
        self.days = (self.clock - self.start) // DAY
        self.organizations: list[Organization] = []
        # Contacts activity may use (created on an earlier day), as growable numpy arrays.
        self.pool_contacts = np.zeros(1024, dtype=np.int64)
        self.pool_orgs = np.zeros(1024, dtype=np.int64)
        self.pool_size = 0
        self.price_list = [price for _, price in catalogue(instance)]
        self.prices = np.asarray(self.price_list, dtype=np.int64)
        self.contacts_by_org: dict[int, list[int]] = {}
        self.bad_rows: list[tuple] = []
        self.events: list[tuple] = []
        self.bad_seen: set[str] = set()

    def rng(self, *purpose: object) -> random.Random:
        return derive_rng(self.seed, self.instance.instance_id, repr(self.scale), *purpose)

    # -- organizations and users -------------------------------------------------------------

    def _organizations(self) -> None:
        rng = self.rng("organizations")
        count = self.volumes.organizations
        zones = self.instance.organization_time_zones
        launch = max(len(zones), round(0.3 * count))
        created = sorted(
            self.start + rng.randrange(6 * HOUR) if i < launch
            else self.start + DAY + rng.randrange(self.clock - self.start - 4 * DAY)
            for i in range(count)
        )
        zone_choice = WeightedChoice([z for z, _ in zones], [w for _, w in zones])
        kinds = WeightedChoice([k for k, _ in KINDS], [w for _, w in KINDS])
        plans = WeightedChoice([p for p, _ in PLANS], [w for _, w in PLANS])
        for index, at in enumerate(created):
            kind = kinds.pick(rng)
            # The first organizations cover every zone of the instance, whatever the scale.
            covering = index < len(zones)
            valid = covering or self.rate <= 0 or not badrows.is_invalid_organization(
                self.carry, self.rate)
            if covering:
                time_zone = zones[index][0]
            elif valid:
                time_zone = zone_choice.pick(rng)
            else:
                time_zone = badrows.invalid_time_zone(rng)
            self.organizations.append(Organization(
                id=self.ids.next("organizations"), name=organization_name(rng, kind), kind=kind,
                plan=plans.pick(rng), time_zone=time_zone, created=at, deleted=None,
                weight=rng.lognormvariate(0, 1), valid=valid,
            ))
        others = self.organizations[len(zones):]
        if self.rate > 0 and others and all(o.valid for o in others):
            # Every kind of bad row exists after generation, even at a tiny scale.
            others[-1].valid = False
            others[-1].time_zone = badrows.invalid_time_zone(rng)
        deletable = [o for o in others if o.created < self.clock - 40 * DAY and o.valid]
        for org in rng.sample(deletable, min(len(deletable), max(1, round(0.04 * count)))):
            span = self.clock - DAY - (org.created + 20 * DAY)
            org.deleted = org.created + 20 * DAY + rng.randrange(span)
        self.org_deleted = np.full(len(self.organizations) + 1, NEVER, dtype=np.int64)
        for org in self.organizations:
            self.org_deleted[org.id] = org.deleted or NEVER
        rows = [
            (o.id, o.name, o.kind, o.plan, o.time_zone, format_us(o.created),
             format_us(o.deleted or o.created), _ts(o.deleted))
            for o in self.organizations
        ]
        self.writer.add("organizations", rows)
        for org in self.organizations:
            if not org.valid:
                self.bad_rows.append(("organizations", org.id, "invalid_time_zone",
                                      format_us(org.created)))
                self.bad_seen.add("organizations.invalid_time_zone")

    def _users(self) -> None:
        rng = self.rng("users")
        drafts = []
        for org in self.organizations:
            end = org.deleted or self.clock
            drafts.append((org.created + rng.randrange(SECOND, 10 * MINUTE), org.id, "admin"))
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                at = org.created + rng.randrange(HOUR, 30 * DAY)
                if at < end:
                    drafts.append((at, org.id, "staff"))
        drafts.sort()
        rows = []
        for at, org_id, role in drafts:
            deleted = None
            if role == "staff" and rng.random() < 0.1:
                candidate = at + rng.randrange(DAY, 60 * DAY)
                deleted = candidate if candidate < self.clock else None
            name, email, phone = person(rng, self.instance)
            rows.append((self.ids.next("users"), org_id, name, email, phone, role, format_us(at),
                         format_us(deleted or at), _ts(deleted)))
        self.writer.add("users", rows)

    # -- daily activity ----------------------------------------------------------------------

    def _daily_plan(self) -> tuple[list[int], list[int], list[int]]:
        """Contacts, orders and messages per day; activity follows the contacts that exist."""
        carry = Carry()
        weights = [0.0, 0.1 * (self.days - 2)] + [1.0] * (self.days - 2)
        total = sum(weights)
        contacts = [carry.take("c", self.volumes.contacts * w / total) for w in weights]
        pools = []
        existing = 0
        for count in contacts:
            pools.append(existing)
            existing += count
        pool_total = sum(pools)
        orders = [carry.take("o", self.volumes.orders * p / pool_total) for p in pools]
        messages = [carry.take("m", self.volumes.messages * p / pool_total) for p in pools]
        self.rates = {
            "contacts_per_day": self.volumes.contacts / self.days,
            "orders_per_contact_day": self.volumes.orders / pool_total,
            "messages_per_contact_day": self.volumes.messages / pool_total,
            "organizations_per_day": len(self.organizations) / self.days,
        }
        return contacts, orders, messages

    def run(self) -> None:
        self._organizations()
        self._users()
        contacts, orders, messages = self._daily_plan()
        month_ends = self._month_end_schedule()
        for day in range(self.days):
            self._day(day, contacts[day], orders[day], messages[day], month_ends.get(day, []))
            if self.progress and (day % 30 == 29 or day == self.days - 1):
                done = sum(self.writer.counts.values())
                self.progress(f"{self.instance.instance_id}: day {day + 1}/{self.days}, {done} rows")

    def _month_end_schedule(self) -> dict[int, list[tuple[str, int]]]:
        schedule: dict[int, list[tuple[str, int]]] = {}
        for zone, _ in self.instance.organization_time_zones:
            for at in month_end_instants(zone, self.start, self.clock):
                schedule.setdefault((at - self.start) // DAY, []).append((zone, at))
        return schedule

    def _pool(self, start: int, end: int) -> Pool:
        size = self.pool_size
        active = [o.id for o in self.organizations if o.active_at(start) and o.active_at(end - 1)]
        return Pool(self.pool_contacts[:size], self.pool_orgs[:size], self.org_deleted,
                    np.asarray(active, dtype=np.int64))

    def _day(
        self, day: int, n_contacts: int, n_orders: int, n_messages: int,
        month_ends: list[tuple[str, int]],
    ) -> None:
        rng = self.rng("day", day)
        g = np.random.Generator(np.random.PCG64(rng.getrandbits(128)))
        start = self.start + day * DAY
        end = start + DAY
        pool = self._pool(start, end)
        messages = [draft_messages(g, pool, start, end, n_messages, self.clock)]
        orders = [draft_orders(g, pool, self.prices, start, end, n_orders, self.clock)]
        records = [r for zone, at in month_ends for r in self._month_end_orders(rng, zone, at)]
        contact_drafts = self._contact_drafts(rng, start, end, n_contacts)
        counts = badrows.draw_counts(self.carry, self.rate, {
            "contacts": len(contact_drafts), "orders": len(orders[0]),
            "messages": len(messages[0])})
        bad_messages = []
        last_day = day == self.days - 1
        # Bad rows go to valid organizations, so each has exactly the one reason it was made for.
        tenants = [o.id for o in self.organizations
                   if o.valid and o.active_at(start) and o.active_at(end - 1)]
        for kind, count in counts.items():
            if last_day and self.rate > 0 and kind.key not in self.bad_seen:
                count = max(count, 1)  # every kind exists after generation, even when tiny
            if not len(pool) or not tenants:
                continue
            for _ in range(count):
                self.bad_seen.add(kind.key)
                at = start + rng.randrange(DAY - HOUR)
                contact_id = int(pool.contacts[rng.randrange(len(pool))])
                if kind.table == "contacts":
                    contact_drafts.append(badrows.bad_contact_draft(rng, self.instance, at))
                elif kind.table == "messages":
                    bad_messages.append(badrows.bad_message_record(rng, contact_id, at))
                else:
                    org_id = tenants[rng.randrange(len(tenants))]
                    records.append(badrows.bad_order_record(rng, kind.reason, org_id, contact_id,
                                                            at))
        messages.append(MessageBatch.from_records(bad_messages))
        orders.append(OrderBatch.from_records(records))
        self._emit(contact_drafts, OrderBatch.concat(orders), MessageBatch.concat(messages))

    def _month_end_orders(self, rng: random.Random, zone: str, at: int) -> list[dict]:
        candidates = [o for o in self.organizations
                      if o.valid and o.time_zone == zone and o.active_at(at - DAY)
                      and o.active_at(at) and self.contacts_by_org.get(o.id)]
        if not candidates:
            return []
        chosen = {candidates[rng.randrange(len(candidates))].id}
        chosen.update(o.id for o in candidates if rng.random() < MONTH_END_EXTRA_SHARE)
        records = []
        for org_id in sorted(chosen):
            contacts = self.contacts_by_org[org_id]
            contact_id = contacts[rng.randrange(len(contacts))]
            records.append(month_end_order(rng, at, org_id, contact_id, self.price_list))
        return records

    def _contact_drafts(self, rng: random.Random, start: int, end: int, count: int) -> list[tuple]:
        eligible = [o for o in self.organizations if o.created < start
                    and (o.deleted is None or o.deleted > end)]
        if not eligible:
            return []
        choice = WeightedChoice(eligible, [o.weight for o in eligible])
        languages = WeightedChoice([lang for lang, _ in self.instance.languages],
                                   [w for _, w in self.instance.languages])
        drafts = []
        for _ in range(count):
            org = choice.pick(rng)
            name, email, phone = person(rng, self.instance)
            drafts.append((start + rng.randrange(DAY), org.id, name, email, phone,
                           languages.pick(rng)))
        return drafts

    def _emit(
        self, contact_drafts: list[tuple], orders: OrderBatch, messages: MessageBatch
    ) -> None:
        contact_drafts.sort(key=lambda d: d[0])
        contact_rows = []
        for at, org_id, name, email, phone, language in contact_drafts:
            contact_id = self.ids.next("contacts")
            stamp = format_us(at)
            contact_rows.append((contact_id, org_id, name, email, phone, language, stamp, stamp))
            if org_id is None:
                self.bad_rows.append(("contacts", contact_id, "missing_tenant", stamp))
            else:
                self._add_to_pool(contact_id, org_id)
        order_table, item_table, order_ids = orders.rows(self.ids)
        self._bookkeep_orders(orders, order_ids)
        message_table, message_ids = messages.rows(self.ids)
        for index in np.flatnonzero(messages.organization == NO_ORG).tolist():
            self.bad_rows.append(("messages", int(message_ids[index]), "missing_tenant",
                                  format_us(int(messages.created[index]))))
        self.writer.add("contacts", contact_rows)
        self.writer.add("orders", order_table)
        self.writer.add("order_items", item_table)
        self.writer.add("messages", message_table)

    def _bookkeep_orders(self, orders: OrderBatch, order_ids: np.ndarray) -> None:
        for index in np.flatnonzero(orders.bad).tolist():
            reason = BAD_REASONS[int(orders.bad[index])]
            self.bad_rows.append(("orders", int(order_ids[index]), reason,
                                  format_us(int(orders.created[index]))))
        for index in np.flatnonzero(orders.event).tolist():
            detail = json.dumps({"completed_at": format_us(int(orders.completed[index]))})
            self.events.append((0, EVENTS[int(orders.event[index])], "orders",
                                int(order_ids[index]), detail))

    def _add_to_pool(self, contact_id: int, org_id: int) -> None:
        if self.pool_size == self.pool_contacts.size:
            self.pool_contacts = np.concatenate([self.pool_contacts, self.pool_contacts])
            self.pool_orgs = np.concatenate([self.pool_orgs, self.pool_orgs])
        self.pool_contacts[self.pool_size] = contact_id
        self.pool_orgs[self.pool_size] = org_id
        self.pool_size += 1
        self.contacts_by_org.setdefault(org_id, []).append(contact_id)

    # -- bookkeeping -------------------------------------------------------------------------

    def finish(self, session: Session) -> None:
        """Runs inside the last flush: bookkeeping, sequences and the simulator's state."""
        session.insert("sim_plan_changes", TABLES["sim_plan_changes"].column_names,
                       [(o.id, o.plan, format_us(o.created)) for o in self.organizations])
        session.insert("sim_bad_rows", TABLES["sim_bad_rows"].column_names, self.bad_rows)
        session.insert("sim_events", TABLES["sim_events"].column_names, self.events)
        for table, last in self.ids.last.items():
            session.set_sequence(table, last)
        state = {
            "clock": START_CLOCK.isoformat(),
            "tick": "0",
            "seed": str(self.seed),
            "scale": repr(self.scale),
            "instance": self.instance.instance_id,
            "rates": json.dumps(self.rates, sort_keys=True),
            "carry": "{}",
            "bulk_cursor": "0",
        }
        session.insert("sim_state", ("key", "value"), sorted(state.items()))


def _ts(value: int | None) -> str | None:
    return None if value is None else format_us(value)

