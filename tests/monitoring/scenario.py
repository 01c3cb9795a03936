"""A hand-made run log for monitoring tests: a healthy history, then instance `uk` unreachable.

Runs and row counts are stamped relative to now (the observability views compute lags as of the
query), on top of the dbt tests' hand-made raw layer (tests/dbt_project/raw_fixture.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tenant_warehouse.dbt_runner import run_dbt
from tenant_warehouse.settings import Settings
from tests.dbt_project import raw_fixture

INSTANCES = ("uk", "au", "fr")
TABLES = ("organizations", "users", "contacts", "orders", "order_items", "messages")
UK_ERROR = (
    "instance uk, table {table}: SourceUnavailable: cannot open database "
    "postgresql://127.0.0.1:1/tw_source_uk: connection refused"
)
# Everything the observability views and the new-organization rule read, with the tests of
# monitoring's own models (the platform's tests belong to the dbt suite and cost time here).
BUILD_SELECTION = [
    "--select", "+marts.observability", "+dim_organizations",
    "--exclude", "resource_type:test,path:platforms/reference/models/staging",
    "resource_type:test,path:models/contract", "resource_type:test,path:platforms",
    "resource_type:test,path:models/marts/core", "resource_type:test,path:seeds",
    "resource_type:test,path:tests/dbt",
    "--indirect-selection", "cautious",
]
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


def insert_runs(connection: Any, rows: list[dict[str, Any]]) -> None:
    """Append run records to raw._tw_ingestion_runs (DuckDB or psycopg2 connection)."""
    names = [name for name, _ in raw_fixture.RUN_COLUMNS]
    marker = "?" if "duckdb" in type(connection).__module__ else "%s"
    cursor = connection.cursor()
    cursor.executemany(
        f"insert into raw._tw_ingestion_runs ({', '.join(names)})"
        f" values ({', '.join(marker for _ in names)})",
        [[row[name] for name in names] for row in rows],
    )
    cursor.close()


def dbt(settings: Settings, *args: str, target: str = "duckdb") -> str:
    """dbt's output, prefixed with FAILED when it exited non-zero."""
    result = run_dbt(settings, list(args), target=target)
    return result.output if result.ok else "FAILED\n" + result.output
