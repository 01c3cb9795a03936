"""A hand-made run log for monitoring tests: a healthy history, then instance `uk` unreachable.

Runs and row counts are stamped relative to now (the observability views compute lags as of the
query), on top of the dbt tests' hand-made raw layer (tests/dbt_project/raw_fixture.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

INSTANCES = ("uk", "au", "fr")
TABLES = ("organizations", "users", "contacts", "orders", "order_items", "messages")
UK_ERROR = (
    "instance uk, table {table}: SourceUnavailable: cannot open database "
    "postgresql://127.0.0.1:1/tw_source_uk: connection refused"
)
BASE_COUNTS = {"organizations": 40, "users": 90, "contacts": 500, "orders": 1200,
               "order_items": 3000, "messages": 9000}  # fmt: skip


def minutes_ago(now: dt.datetime, minutes: float) -> dt.datetime:
    return now - dt.timedelta(minutes=minutes)


def run_rows(
    now: dt.datetime,
    minutes: float,
    instances: tuple[str, ...] = INSTANCES,
    status: str = "success",
    error: str | None = None,
) -> list[dict[str, Any]]:
    """One ingestion run (all tables of `instances`) that started `minutes` ago."""
    run_id = uuid.uuid4().hex
    started = minutes_ago(now, minutes)
    rows = []
    for instance in instances:
        for table in TABLES:
            rows.append({
                "run_id": run_id, "instance_id": instance, "table_name": table,
                "started_at": started, "ended_at": started + dt.timedelta(seconds=20),
                "status": status, "rows_extracted": 0 if status == "failed" else 12,
                "rows_deleted": 0, "cursor_from": None, "cursor_to": None,
                "is_reconciliation": False,
                "error_message": error.format(table=table) if error else None,
            })  # fmt: skip
    return rows


def healthy_history(now: dt.datetime) -> list[dict[str, Any]]:
    """Six successful runs of everything, ten minutes apart, the last 10 minutes ago."""
    rows: list[dict[str, Any]] = []
    for minutes in (60, 50, 40, 30, 20, 10):
        rows += run_rows(now, minutes)
    return rows


def count_rows(
    now: dt.datetime, minutes: float, step: int, overrides: dict[tuple[str, str], int] | None = None
) -> list[dict[str, Any]]:
    """A capture `minutes` ago: regular growth of 10-12 rows per step, unless overridden."""
    capture_id = uuid.uuid4().hex
    rows = []
    for instance in INSTANCES:
        for table in TABLES:
            count = BASE_COUNTS[table] + sum(10 + (i % 3) for i in range(step))
            count = (overrides or {}).get((instance, table), count)
            rows.append({
                "capture_id": capture_id, "captured_at": minutes_ago(now, minutes),
                "ingestion_run_id": None, "instance_id": instance, "table_name": table,
                "row_count": count, "max_updated_at": minutes_ago(now, minutes + 1),
                "max_extracted_at": minutes_ago(now, minutes),
            })  # fmt: skip
    return rows


def count_history(now: dt.datetime) -> list[dict[str, Any]]:
    """Eight regular captures, ten minutes apart, the last 10 minutes ago."""
    rows: list[dict[str, Any]] = []
    for step, minutes in enumerate((80, 70, 60, 50, 40, 30, 20, 10)):
        rows += count_rows(now, minutes, step)
    return rows
