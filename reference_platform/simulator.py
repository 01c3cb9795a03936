"""Move an instance forward in time, tick by tick.

Each tick covers [clock, clock + tick_hours) and is deterministic given (seed, instance, tick
number) and the database it starts from. It is written as one transaction (all activity, a bulk
update giving thousands of messages the same `updated_at`, the bookkeeping) followed by a second,
late-committing transaction whose rows are older than rows already committed.

Helpers for fault scenarios (erasure, hard delete of an organization, bulk updates, a late commit
held open) live in `reference_platform.operations` and are re-exported here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reference_platform.badrows import DEFAULT_BAD_ROW_RATE
from reference_platform.database import Database, Session
from reference_platform.instances import get_instance
from reference_platform.operations import (
    LateCommit,
    begin_late_commit,
    bulk_update_messages,
    change_plan,
    delete_organization,
    erase_contact,
    read_state,
    soft_delete_organization,
)
from reference_platform.schema import PLATFORM_TABLE_NAMES, TABLES
from reference_platform.state import SimState
from reference_platform.tick import TickPlan, TickPlanner
from reference_platform.timeutil import format_us, from_us

Progress = Callable[[str], None]
DEFAULT_LATE_COMMIT_SECONDS = 1800

__all__ = [
    "LateCommit",
    "SimulationSummary",
    "begin_late_commit",
    "bulk_update_messages",
    "change_plan",
    "delete_organization",
    "erase_contact",
    "read_state",
    "simulate",
    "soft_delete_organization",
]


@dataclass
class SimulationSummary:
    instance: str
    first_tick: int
    last_tick: int
    clock_start: datetime
    clock_end: datetime
    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # sim_events kinds (rows)
    bad_rows: Counter[str] = field(default_factory=Counter)  # by quarantine reason
    bulk_updated_rows: int = 0  # messages that received one shared updated_at, over all ticks

    @property
    def ticks(self) -> int:
        return self.last_tick - self.first_tick + 1 if self.last_tick >= self.first_tick else 0

    def as_dict(self) -> dict[str, object]:
        return {
            "instance": self.instance, "ticks": self.ticks, "first_tick": self.first_tick,
            "last_tick": self.last_tick, "clock_start": self.clock_start.isoformat(),
            "clock_end": self.clock_end.isoformat(), "inserted": dict(self.inserted),
            "updated": dict(self.updated), "deleted": dict(self.deleted),
            "events": dict(self.events), "bad_rows": dict(self.bad_rows),
            "bulk_updated_rows": self.bulk_updated_rows,
        }


def simulate(
    url: str,
    instance: str,
    ticks: int = 1,
    seed: int = 1,
    tick_hours: float = 6,
    bad_row_rate: float = DEFAULT_BAD_ROW_RATE,
    progress: Progress | None = None,
    late_commit_seconds: float = DEFAULT_LATE_COMMIT_SECONDS,
) -> SimulationSummary:
    """Run `ticks` ticks of activity against a generated instance database."""
    if ticks < 0 or tick_hours <= 0:
        raise ValueError("ticks must be >= 0 and tick_hours > 0")
    spec = get_instance(instance)
    database = Database(url)
    with database.transaction(read_only=True) as session:
        state = SimState.load(session)
    if state.instance != instance:
        raise ValueError(f"{database.name} holds instance {state.instance!r}, not {instance!r}")
    summary = SimulationSummary(instance, state.tick + 1, state.tick, state.clock, state.clock)
    for _ in range(ticks):
        with database.transaction() as session:
            state = SimState.load(session)
            planner = TickPlanner(session, spec, state, seed, tick_hours, bad_row_rate,
                                  late_commit_seconds)
            plan = planner.build()
            _write(session, plan, planner, summary)
            state.tick = planner.tick
            state.clock = from_us(planner.end)
            state.save(session)
        if plan.late:
            # Committed after the tick's main transaction: older updated_at, visible later.
            database.hold_late_commit({t: (TABLES[t].column_names, rows)
                                       for t, rows in plan.late.items()}).commit()
            for table, rows in plan.late.items():
                if table == "sim_events":
                    summary.events["late_commit"] += len(rows)
                else:
                    summary.inserted[table] += len(rows)
        summary.last_tick = planner.tick
        summary.clock_end = state.clock
        if progress:
            progress(f"{instance}: tick {planner.tick} -> {state.clock.isoformat()} "
                     f"(+{sum(len(plan.inserts.get(t, ())) for t in PLATFORM_TABLE_NAMES)} rows)")
    return summary


def _write(session: Session, plan: TickPlan, planner: TickPlanner,
           summary: SimulationSummary) -> None:
    for table in PLATFORM_TABLE_NAMES:
        rows = plan.inserts.get(table, [])
        session.insert(table, TABLES[table].column_names, rows)
        summary.inserted[table] += len(rows)
    for statement, params in plan.updates.items():
        session.executemany(statement, params)
    summary.updated.update(plan.update_counts)
    for table, ids in plan.deletes.items():
        session.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in ids])
        summary.deleted[table] += len(ids)
    touched = _bulk_update(session, planner, plan.bulk_size, plan.bulk_at)
    summary.updated["messages"] += touched
    for table in ("sim_plan_changes", "sim_erasures", "sim_bad_rows", "sim_events"):
        session.insert(table, TABLES[table].column_names, plan.inserts.get(table, []))
    summary.events.update(e[1] for e in plan.inserts.get("sim_events", []))
    summary.events["bulk_update"] += 1 if touched else 0
    summary.bulk_updated_rows += touched
    summary.bad_rows.update(plan.bad_rows)
    for table, last in planner.ids.last.items():
        session.set_sequence(table, last)


def _bulk_update(session: Session, planner: TickPlanner, size: int, at: int) -> int:
    """Give up to `size` messages not touched this tick the same updated_at (a provider
    re-sync: stuck 'sent' outbound messages become 'delivered'). Walks the table with a cursor
    kept in sim_state so successive ticks touch different rows."""
    state = planner.state
    window_start = format_us(planner.start)
    ids = [r[0] for r in session.query(
        "SELECT id FROM messages WHERE id > ? AND updated_at < ? ORDER BY id LIMIT ?",
        (state.bulk_cursor, window_start, size))]
    if len(ids) < size:
        ids += [r[0] for r in session.query(
            "SELECT id FROM messages WHERE id <= ? AND updated_at < ? ORDER BY id LIMIT ?",
            (state.bulk_cursor, window_start, size - len(ids)))]
    if not ids:
        return 0
    stamp = format_us(at)
    ranges = _ranges(ids, state.bulk_cursor)
    touched = 0
    for low, high in ranges:
        touched += session.execute(
            "UPDATE messages SET status = CASE WHEN direction = 'outbound' AND status = 'sent' "
            "THEN 'delivered' ELSE status END, updated_at = ? "
            "WHERE id BETWEEN ? AND ? AND updated_at < ?", (stamp, low, high, window_start))
    state.bulk_cursor = ids[-1]
    session.insert("sim_events", TABLES["sim_events"].column_names, [(
        planner.tick, "bulk_update", "messages", None,
        json.dumps({"rows": touched, "updated_at": stamp, "id_ranges": ranges}),
    )])
    return touched


def _ranges(ids: list[int], cursor: int) -> list[list[int]]:
    """The selection as at most two id ranges: after the cursor, then wrapped from the start."""
    after = [i for i in ids if i > cursor]
    before = [i for i in ids if i <= cursor]
    return [[part[0], part[-1]] for part in (after, before) if part]

