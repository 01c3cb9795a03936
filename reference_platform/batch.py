"""Vectorised activity: messages, orders and order items drafted as numpy columns.

Used for the bulk of the volume by both the generator (a day at a time) and the simulator (a tick
window at a time). Times are int64 microseconds; NULL timestamps are NULL_TS, a NULL tenant is
-1. `rows()` sorts by creation time and allocates ids, so ids grow with `created_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from reference_platform.activity import IdAllocator
from reference_platform.fakes import AUTO_REPLY, CATALOGUE, INBOUND_BODIES, OUTBOUND_BODIES
from reference_platform.timefmt import NULL_TS, format_many, format_nullable
from reference_platform.timeutil import DAY, HOUR, SECOND

Array = npt.NDArray[np.int64]
NO_ORG = -1

STATES = ("cart", "complete", "cancelled", "returned", "pending_payment", "refunded", "COMPLETE",
          "shipped")
CART, COMPLETE, CANCELLED, RETURNED = 0, 1, 2, 3
DIRECTIONS = ("inbound", "outbound")
STATUSES = ("received", "sent", "delivered", "read", "failed")
RECEIVED, SENT, DELIVERED, READ, FAILED = range(5)
BODIES = (*INBOUND_BODIES, *OUTBOUND_BODIES, AUTO_REPLY)
AUTO_REPLY_BODY = len(BODIES) - 1
BAD_REASONS = (None, "missing_tenant", "negative_money", "unknown_state", "impossible_date")
EVENTS = (None, "month_end_order")
PRODUCTS = tuple(name for name, _ in CATALOGUE)

INBOUND_SHARE = 0.45
AUTO_REPLY_SHARE = 0.02
FAILED_SHARE = 0.05
READ_SHARE = 0.6
COMPLETE_SHARE = 0.75
CANCELLED_SHARE = 0.04
RETURNED_SHARE = 0.03
CROSS_ORGANIZATION_SHARE = 0.02  # orders placed with another organization of the instance
ITEM_COUNTS = np.array((1,) * 6 + (2,) * 5 + (3,) * 4 + (4,) * 3 + (5,) * 2)  # mean 2.5


def _empty() -> Array:
    return np.empty(0, dtype=np.int64)


def _i64(values: Any) -> Array:
    return np.asarray(values, dtype=np.int64)


def _objects(values: Array, null: int = NO_ORG) -> list[int | None]:
    result = values.astype(object)
    result[values == null] = None
    return result.tolist()


def outbound_outcomes(g: np.random.Generator, created: Array, limit: int) -> tuple[Array, Array]:
    """(status, updated) of outbound messages as of `limit`: sent -> delivered -> read, or failed."""
    n = created.size
    failed = g.random(n) < FAILED_SHARE
    failed_at = created + SECOND + (g.exponential(60.0, n) * SECOND).astype(np.int64)
    delivered_at = (created + g.integers(200_000, 5 * SECOND, n)
                    + (g.exponential(20.0, n) * SECOND).astype(np.int64))
    read_at = delivered_at + SECOND + (g.exponential(7200.0, n) * SECOND).astype(np.int64)
    reads = g.random(n) < READ_SHARE
    status = np.full(n, SENT, dtype=np.int64)
    updated = created.copy()
    delivered = ~failed & (delivered_at < limit)
    status[delivered], updated[delivered] = DELIVERED, delivered_at[delivered]
    read = delivered & reads & (read_at < limit)
    status[read], updated[read] = READ, read_at[read]
    fail = failed & (failed_at < limit)
    status[fail], updated[fail] = FAILED, failed_at[fail]
    return status, updated


@dataclass
class Pool:
    """Contacts activity can be drawn from, and when each organization stops (soft delete)."""

    contacts: Array
    organizations: Array
    org_deleted: Array  # indexed by organization id; int64 max when never deleted
    active_organizations: Array  # ids that may receive cross-organization orders

    def __len__(self) -> int:
        return int(self.contacts.size)


@dataclass
class MessageBatch:
    created: Array
    organization: Array
    contact: Array
    direction: Array
    status: Array
    body: Array
    updated: Array

    @classmethod
    def empty(cls) -> MessageBatch:
        return cls(*(_empty() for _ in fields(cls)))

    @classmethod
    def from_records(cls, records: list[tuple[int, int, int, int, int, int, int]]) -> MessageBatch:
        if not records:
            return cls.empty()
        return cls(*(_i64(column) for column in zip(*records, strict=True)))

    @classmethod
    def concat(cls, batches: list[MessageBatch]) -> MessageBatch:
        return cls(*(np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)))

    def __len__(self) -> int:
        return int(self.created.size)

    def take(self, index: npt.NDArray[Any]) -> MessageBatch:
        return MessageBatch(*(getattr(self, f.name)[index] for f in fields(self)))

    def rows(self, ids: IdAllocator) -> tuple[list[tuple], Array]:
        """Rows in `messages` column order (ids by creation time) and the ids in batch order."""
        order = np.argsort(self.created, kind="stable")
        batch = self.take(order)
        first = ids.last["messages"] + 1
        ids.last["messages"] += len(batch)
        new_ids = np.arange(first, first + len(batch), dtype=np.int64)
        created = format_many(batch.created)
        same = batch.updated == batch.created
        updated = format_many(batch.updated)
        updated = [c if s else u for c, u, s in zip(created, updated, same.tolist(), strict=True)]
        rows = list(zip(
            new_ids.tolist(), _objects(batch.organization), batch.contact.tolist(),
            np.array(DIRECTIONS, dtype=object)[batch.direction].tolist(),
            np.array(STATUSES, dtype=object)[batch.status].tolist(),
            np.array(BODIES, dtype=object)[batch.body].tolist(), created, updated, strict=True,
        ))
        ids_in_batch_order = np.empty_like(new_ids)
        ids_in_batch_order[order] = new_ids
        return rows, ids_in_batch_order


def draft_messages(
    g: np.random.Generator, pool: Pool, start: int, end: int, count: int, limit: int,
    force_auto_reply: bool = False,
) -> MessageBatch:
    """`count` messages from random contacts created in [start, end), statuses as of `limit`.

    Some inbound messages get an automatic reply a few microseconds later: two timestamps that
    differ below a millisecond, which millisecond cursors cannot order.
    """
    if count <= 0 or len(pool) == 0:
        return MessageBatch.empty()
    pick = g.integers(0, len(pool), count)
    contact, organization = pool.contacts[pick], pool.organizations[pick]
    created = start + g.integers(0, end - start, count)
    keep = created < pool.org_deleted[organization]
    contact, organization, created = contact[keep], organization[keep], created[keep]
    n = created.size
    inbound = g.random(n) < INBOUND_SHARE
    if force_auto_reply and n and not inbound.any():
        inbound[0] = True
    status, updated = outbound_outcomes(g, created, limit)
    status[inbound], updated[inbound] = RECEIVED, created[inbound]
    body = np.where(inbound, g.integers(0, len(INBOUND_BODIES), n),
                    len(INBOUND_BODIES) + g.integers(0, len(OUTBOUND_BODIES), n))
    main = MessageBatch(created, organization, contact, np.where(inbound, 0, 1), status, body,
                        updated)
    auto = inbound & (g.random(n) < AUTO_REPLY_SHARE)
    if force_auto_reply and inbound.any() and not auto.any():
        auto[np.argmax(inbound)] = True
    replied = np.flatnonzero(auto)
    reply_at = created[replied] + g.integers(1, 1000, replied.size)
    replied, reply_at = replied[reply_at < limit], reply_at[reply_at < limit]
    if not replied.size:
        return main
    reply_status, reply_updated = outbound_outcomes(g, reply_at, limit)
    if force_auto_reply:
        # The forced reply is still 'sent' (no receipt yet): its updated_at stays within a
        # millisecond of the inbound message's.
        reply_status[0], reply_updated[0] = SENT, reply_at[0]
    replies = MessageBatch(reply_at, organization[replied], contact[replied],
                           np.ones(replied.size, dtype=np.int64), reply_status,
                           np.full(replied.size, AUTO_REPLY_BODY, dtype=np.int64), reply_updated)
    return MessageBatch.concat([main, replies])


@dataclass
class OrderBatch:
    created: Array
    organization: Array
    contact: Array
    state: Array
    total: Array
    completed: Array
    cancelled: Array
    returned: Array
    updated: Array
    bad: Array  # index into BAD_REASONS
    event: Array  # index into EVENTS
    # Items, parallel arrays; item_order indexes the order within this batch.
    item_order: Array
    item_at: Array
    item_product: Array
    item_quantity: Array
    item_price: Array

    ORDER_FIELDS = ("created", "organization", "contact", "state", "total", "completed",
                    "cancelled", "returned", "updated", "bad", "event")
    ITEM_FIELDS = ("item_order", "item_at", "item_product", "item_quantity", "item_price")

    @classmethod
    def empty(cls) -> OrderBatch:
        return cls(*(_empty() for _ in fields(cls)))

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> OrderBatch:
        """Small hand-built batches (month-end orders, bad rows). Keys: ORDER_FIELDS (timestamps
        may be None) and `items`: [(at, product, quantity, price)]."""
        if not records:
            return cls.empty()
        columns = {}
        for name in cls.ORDER_FIELDS:
            default = 0 if name in ("bad", "event") else NULL_TS
            columns[name] = _i64([default if r.get(name) is None else r[name] for r in records])
        items = [(i, *item) for i, r in enumerate(records) for item in r.get("items", ())]
        for index, name in enumerate(cls.ITEM_FIELDS):
            columns[name] = _i64([item[index] for item in items])
        return cls(**columns)

    @classmethod
    def concat(cls, batches: list[OrderBatch]) -> OrderBatch:
        offsets = np.cumsum([0] + [len(b) for b in batches[:-1]])
        columns = {name: np.concatenate([getattr(b, name) for b in batches])
                   for name in (*cls.ORDER_FIELDS, *cls.ITEM_FIELDS[1:])}
        columns["item_order"] = np.concatenate(
            [b.item_order + offset for b, offset in zip(batches, offsets, strict=True)])
        return cls(**columns)

    def __len__(self) -> int:
        return int(self.created.size)

    def rows(self, ids: IdAllocator) -> tuple[list[tuple], list[tuple], Array]:
        """(orders rows, order_items rows, order ids in batch order)."""
        order = np.argsort(self.created, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first = ids.last["orders"] + 1
        ids.last["orders"] += len(self)
        order_ids = first + rank  # batch order
        created = format_many(self.created[order])
        updated = format_many(self.updated[order])
        same = (self.updated[order] == self.created[order]).tolist()
        orders = list(zip(
            order_ids[order].tolist(), _objects(self.organization[order]),
            self.contact[order].tolist(), np.array(STATES, dtype=object)[self.state[order]].tolist(),
            self.total[order].tolist(), created, format_nullable(self.completed[order]),
            format_nullable(self.cancelled[order]), format_nullable(self.returned[order]),
            [c if s else u for c, u, s in zip(created, updated, same, strict=True)], strict=True,
        ))
        item_sort = np.lexsort((self.item_at, rank[self.item_order]))
        first_item = ids.last["order_items"] + 1
        ids.last["order_items"] += item_sort.size
        owner = self.item_order[item_sort]
        stamps = format_many(self.item_at[item_sort])
        items = list(zip(
            range(first_item, first_item + item_sort.size), order_ids[owner].tolist(),
            _objects(self.organization[owner]),
            np.array(PRODUCTS, dtype=object)[self.item_product[item_sort]].tolist(),
            self.item_quantity[item_sort].tolist(), self.item_price[item_sort].tolist(),
            stamps, stamps, strict=True,
        ))
        return orders, items, order_ids


def draft_orders(
    g: np.random.Generator, pool: Pool, prices: Array, start: int, end: int, count: int,
    limit: int,
) -> OrderBatch:
    """`count` carts created in [start, end) with items; as of `limit` some completed, and of
    those a few cancelled or returned."""
    if count <= 0 or len(pool) == 0:
        return OrderBatch.empty()
    pick = g.integers(0, len(pool), count)
    contact, organization = pool.contacts[pick], pool.organizations[pick].copy()
    cross = np.flatnonzero(g.random(count) < CROSS_ORGANIZATION_SHARE)
    if cross.size and pool.active_organizations.size:
        choice = g.integers(0, pool.active_organizations.size, cross.size)
        organization[cross] = pool.active_organizations[choice]
    created = start + g.integers(0, end - start, count)
    keep = created < pool.org_deleted[organization]
    contact, organization, created = contact[keep], organization[keep], created[keep]
    n = created.size
    per_order = ITEM_COUNTS[g.integers(0, ITEM_COUNTS.size, n)]
    item_order = np.repeat(np.arange(n), per_order)
    firsts = np.cumsum(per_order) - per_order
    gaps = g.integers(5 * SECOND, 90 * SECOND, item_order.size)
    gaps[firsts] = 0
    running = np.cumsum(gaps)
    item_at = created[item_order] + running - running[firsts][item_order]
    kept = item_at < limit  # the first item is always kept: created < end <= limit
    item_order, item_at = item_order[kept], item_at[kept]
    product = g.integers(0, prices.size, item_order.size)
    price = prices[product]
    quantity = 1 + (g.random(item_order.size) < 0.25) + (g.random(item_order.size) < 0.05)
    total = np.zeros(n, dtype=np.int64)
    np.add.at(total, item_order, quantity * price)
    last_item = item_at[np.searchsorted(item_order, np.arange(n), side="right") - 1]

    state = np.full(n, CART, dtype=np.int64)
    updated = last_item.copy()
    completed_at = last_item + SECOND + (g.exponential(600.0, n) * SECOND).astype(np.int64)
    completes = (g.random(n) < COMPLETE_SHARE) & (completed_at < limit)
    state[completes], updated[completes] = COMPLETE, completed_at[completes]
    completed = np.where(completes, completed_at, NULL_TS)
    roll = g.random(n)
    cancelled_at = completed_at + g.integers(2 * HOUR, 7 * DAY, n)
    returned_at = completed_at + g.integers(DAY, 14 * DAY, n)
    cancels = completes & (roll < CANCELLED_SHARE) & (cancelled_at < limit)
    returns = (completes & (roll >= CANCELLED_SHARE)
               & (roll < CANCELLED_SHARE + RETURNED_SHARE) & (returned_at < limit))
    state[cancels], updated[cancels] = CANCELLED, cancelled_at[cancels]
    state[returns], updated[returns] = RETURNED, returned_at[returns]
    zeros = np.zeros(n, dtype=np.int64)
    return OrderBatch(
        created, organization, contact, state, total, completed,
        np.where(cancels, cancelled_at, NULL_TS), np.where(returns, returned_at, NULL_TS),
        updated, zeros, zeros.copy(), item_order, item_at, product, quantity, price,
    )
