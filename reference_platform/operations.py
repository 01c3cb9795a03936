"""One-off platform operations for fault scenarios and tests, outside the tick loop.

Each is recorded like the simulator's own activity (sim_erasures, sim_plan_changes, sim_events),
so the oracle and the tests can see what happened. Unless `at` is given they are stamped at the
simulated clock (the end of the last tick), which is later than every committed `updated_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reference_platform.activity import PLANS
from reference_platform.database import Database, Session
from reference_platform.schema import PLATFORM_TABLE_NAMES, TABLES
from reference_platform.state import SimState
from reference_platform.timeutil import SECOND, format_us, to_us

EVENT_COLUMNS = TABLES["sim_events"].column_names


def read_state(url: str) -> SimState:
    with Database(url).transaction(read_only=True) as session:
        return SimState.load(session)


def _stamp(state: SimState, at: datetime | None) -> str:
    return format_us(to_us(at) if at is not None else state.clock_us)


def _event(session: Session, state: SimState, kind: str, table: str, row_id: int | None,
           **detail: Any) -> None:
    session.insert("sim_events", EVENT_COLUMNS,
                   [(state.tick, kind, table, row_id, json.dumps(detail, sort_keys=True))])


def erase_contact(url: str, contact_id: int, at: datetime | None = None) -> dict[str, Any]:
    """Erasure on request: hard-delete the contact; returns (and records) the erased values."""
    with Database(url).transaction() as session:
        state = SimState.load(session)
        found = session.query("SELECT organization_id, name, email, phone FROM contacts "
                              "WHERE id = ?", (contact_id,))
        if not found:
            raise KeyError(f"contact {contact_id} does not exist")
        org_id, name, email, phone = found[0]
        stamp = _stamp(state, at)
        session.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        session.insert("sim_erasures", TABLES["sim_erasures"].column_names,
                       [(contact_id, org_id, stamp, name, email, phone)])
        _event(session, state, "hard_delete", "contacts", contact_id, reason="erasure",
               erased_at=stamp)
    return {"contact_id": contact_id, "organization_id": org_id, "erased_at": stamp,
            "name": name, "email": email, "phone": phone}


def delete_organization(url: str, organization_id: int) -> dict[str, list[int]]:
    """Fault scenario: hard-delete an organization and every row that carries its id.

    Returns the deleted ids per table (so a test can check none survives downstream).
    """
    deleted: dict[str, list[int]] = {}
    with Database(url).transaction() as session:
        state = SimState.load(session)
        for table in reversed(PLATFORM_TABLE_NAMES):
            column = "id" if table == "organizations" else "organization_id"
            ids = [r[0] for r in session.query(
                f"SELECT id FROM {table} WHERE {column} = ? ORDER BY id", (organization_id,))]
            session.execute(f"DELETE FROM {table} WHERE {column} = ?", (organization_id,))
            deleted[table] = ids
        if not deleted["organizations"]:
            raise KeyError(f"organization {organization_id} does not exist")
        _event(session, state, "hard_delete", "organizations", organization_id,
               reason="organization_removed", rows={t: len(i) for t, i in deleted.items()})
    return deleted


def soft_delete_organization(url: str, organization_id: int, at: datetime | None = None) -> str:
    with Database(url).transaction() as session:
        state = SimState.load(session)
        stamp = _stamp(state, at)
        if not session.execute("UPDATE organizations SET deleted_at = ?, updated_at = ? "
                               "WHERE id = ? AND deleted_at IS NULL",
                               (stamp, stamp, organization_id)):
            raise KeyError(f"organization {organization_id} does not exist or is deleted")
        _event(session, state, "soft_delete", "organizations", organization_id,
               deleted_at=stamp)
    return stamp


def change_plan(url: str, organization_id: int, plan: str, at: datetime | None = None) -> str:
    """Change an organization's plan (recorded in sim_plan_changes like the simulator does)."""
    if plan not in {p for p, _ in PLANS}:
        raise ValueError(f"unknown plan {plan!r}")
    with Database(url).transaction() as session:
        state = SimState.load(session)
        stamp = _stamp(state, at)
        if not session.execute("UPDATE organizations SET plan = ?, updated_at = ? WHERE id = ?",
                               (plan, stamp, organization_id)):
            raise KeyError(f"organization {organization_id} does not exist")
        session.insert("sim_plan_changes", TABLES["sim_plan_changes"].column_names,
                       [(organization_id, plan, stamp)])
    return stamp


def bulk_update_messages(url: str, n: int, at: datetime | None = None) -> tuple[int, str]:
    """Give `n` messages (lowest ids older than the stamp) the same updated_at.

    Returns (rows updated, the shared updated_at).
    """
    with Database(url).transaction() as session:
        state = SimState.load(session)
        stamp = _stamp(state, at)
        ids = [r[0] for r in session.query(
            "SELECT id FROM messages WHERE updated_at < ? ORDER BY id LIMIT ?", (stamp, n))]
        if not ids:
            return 0, stamp
        touched = session.execute(
            "UPDATE messages SET updated_at = ? WHERE id BETWEEN ? AND ? AND updated_at < ?",
            (stamp, ids[0], ids[-1], stamp))
        _event(session, state, "bulk_update", "messages", None, rows=touched, updated_at=stamp,
               id_ranges=[[ids[0], ids[-1]]])
    return touched, stamp


@dataclass
class LateCommit:
    """An open transaction holding late rows; `commit()` makes them visible."""

    session: Session
    updated_at: str
    rows: dict[str, list[int]] = field(default_factory=dict)

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


def begin_late_commit(
    url: str, age_seconds: float = 1800, orders: int = 1, messages: int = 2
) -> LateCommit:
    """Insert complete orders (one item each) and inbound messages stamped `age_seconds` before
    the newest committed `updated_at`, in a transaction left open for the caller to commit.

    On SQLite the open transaction holds the write lock: only readers may run meanwhile.
    """
    database = Database(url)
    with database.transaction(read_only=True) as session:
        newest = max(to_us(v) for (v,) in session.query(
            "SELECT max(updated_at) FROM orders UNION ALL SELECT max(updated_at) FROM messages")
            if v is not None)
        contact = session.query(
            "SELECT c.id, c.organization_id FROM contacts c JOIN organizations o "
            "ON o.id = c.organization_id WHERE o.deleted_at IS NULL ORDER BY c.id DESC LIMIT 1")
    if not contact:
        raise RuntimeError("no contact of a live organization to attach late rows to")
    contact_id, org_id = contact[0]
    stamp = format_us(newest - int(age_seconds * SECOND))
    held = database.begin()
    try:
        state = SimState.load(held)
        last = {t: held.sequence_value(t) for t in ("orders", "order_items", "messages")}
        order_ids = list(range(last["orders"] + 1, last["orders"] + 1 + orders))
        item_ids = list(range(last["order_items"] + 1, last["order_items"] + 1 + orders))
        message_ids = list(range(last["messages"] + 1, last["messages"] + 1 + messages))
        late = {
            "orders": [(o, org_id, contact_id, "complete", 1000, stamp, stamp, None, None, stamp)
                       for o in order_ids],
            "order_items": [(i, o, org_id, "Veg box small", 1, 1000, stamp, stamp)
                            for i, o in zip(item_ids, order_ids, strict=True)],
            "messages": [(m, org_id, contact_id, "inbound", "received", "Is it too late?", stamp,
                          stamp) for m in message_ids],
        }
        for table, rows in late.items():
            held.insert(table, TABLES[table].column_names, rows)
            held.set_sequence(table, rows[-1][0] if rows else 0)
            for row in rows:
                _event(held, state, "late_commit", table, row[0], updated_at=stamp,
                       newest_committed_before=format_us(newest))
    except BaseException:
        held.rollback()
        raise
    return LateCommit(held, stamp, {"orders": order_ids, "order_items": item_ids,
                                    "messages": message_ids})
