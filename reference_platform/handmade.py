"""Tiny hand-made source databases, row by row, for unit tests of anything that reads a source
(the oracle here; ingestion and dbt tests can use it for the one case they check).

Times are given as local wall-clock strings in a named zone (`at("2026-01-31 23:30", zone)`), so a
test reads like the case it checks.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from reference_platform.database import Database
from reference_platform.schema import TABLES
from reference_platform.timeutil import format_us, to_us, zone


def at(local: str, time_zone: str = "UTC") -> str:
    """A local wall-clock time in `time_zone` as the stored UTC text."""
    naive = datetime.fromisoformat(local)
    return format_us(to_us(naive.replace(tzinfo=zone(time_zone))))


class HandMade:
    """One instance database built row by row (ids explicit, no simulator state needed)."""

    def __init__(self, folder: Path, instance: str) -> None:
        self.instance = instance
        self.url = f"sqlite:///{folder / f'{instance}.sqlite'}"
        self.database = Database(self.url)
        self.database.ensure_database()
        self.database.create_schema()
        self.ids: dict[str, int] = {}

    def _insert(self, table: str, values: dict[str, Any]) -> int:
        columns = TABLES[table].column_names
        if "id" in columns and values.get("id") is None:
            values["id"] = self.ids[table] = self.ids.get(table, 0) + 1
        with self.database.transaction() as session:
            session.insert(table, columns, [tuple(values.get(c) for c in columns)])
        return int(values.get("id", 0))

    def org(self, time_zone: str, created: str = "2026-01-01 00:00:00", plan: str = "basic",
            kind: str = "shop", deleted: str | None = None, **extra: Any) -> int:
        org_id = self._insert("organizations", {
            "name": "Org", "kind": kind, "plan": plan, "time_zone": time_zone,
            "created_at": created, "updated_at": deleted or created, "deleted_at": deleted,
            **extra})
        self._insert("sim_plan_changes",
                     {"organization_id": org_id, "plan": plan, "changed_at": created})
        return org_id

    def plan_change(self, org_id: int, plan: str, changed: str) -> None:
        self._insert("sim_plan_changes",
                     {"organization_id": org_id, "plan": plan, "changed_at": changed})
        with self.database.transaction() as session:
            session.execute("UPDATE organizations SET plan = ?, updated_at = ? WHERE id = ?",
                            (plan, changed, org_id))

    def order(self, org_id: int | None, contact_id: int, completed: str | None,
              total: int = 1000, state: str | None = None, created: str | None = None,
              cancelled: str | None = None, returned: str | None = None,
              updated: str | None = None) -> int:
        created = created or completed or "2026-01-01 00:00:00"
        state = state or ("cancelled" if cancelled else "returned" if returned
                          else "complete" if completed else "cart")
        stamps = [s for s in (created, completed, cancelled, returned, updated) if s]
        return self._insert("orders", {
            "organization_id": org_id, "contact_id": contact_id, "state": state,
            "total_cents": total, "created_at": created, "completed_at": completed,
            "cancelled_at": cancelled, "returned_at": returned,
            "updated_at": updated or max(stamps)})

    def message(self, org_id: int | None, contact_id: int, created: str,
                direction: str = "inbound", status: str | None = None) -> int:
        status = status or ("received" if direction == "inbound" else "delivered")
        return self._insert("messages", {
            "organization_id": org_id, "contact_id": contact_id, "direction": direction,
            "status": status, "body": "hi", "created_at": created, "updated_at": created})
