"""Run records: one per (instance, table) and per reconciliation, landed in raw._tw_ingestion_runs.

The records are written by a second, append-only load after the data load, so a failure of the
data load itself is recorded too (with its error) whenever the destination is reachable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ingestion.errors import BadValue
from ingestion.schema import UTC_TIMESTAMP

RUN_LOG_TABLE = "_tw_ingestion_runs"
STATUSES = ("success", "failed", "skipped")
# How many bad values are spelled out in error_message; the count is always complete.
MAX_LISTED_ISSUES = 20

RUN_LOG_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("instance_id", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("started_at", UTC_TIMESTAMP, nullable=False),
        pa.field("ended_at", UTC_TIMESTAMP),
        pa.field("status", pa.string(), nullable=False),
        pa.field("rows_extracted", pa.int64(), nullable=False),
        pa.field("rows_deleted", pa.int64(), nullable=False),
        pa.field("cursor_from", UTC_TIMESTAMP),
        pa.field("cursor_to", UTC_TIMESTAMP),
        pa.field("is_reconciliation", pa.bool_(), nullable=False),
        pa.field("error_message", pa.string()),
        # Added columns (older rows hold null). Tables read whole (cursor: none, primary_key:
        # none) count what the run inserted and updated; rows_deleted counts their deletes too.
        pa.field("rows_inserted", pa.int64()),
        pa.field("rows_updated", pa.int64()),
        # Reconciliation records: checksum buckets compared and those that differed (whose keys
        # were then compared one by one); null when compared range by range.
        pa.field("buckets_compared", pa.int64()),
        pa.field("buckets_differing", pa.int64()),
    ]
)

_DLT_TYPES = {
    pa.string(): {"data_type": "text"},
    UTC_TIMESTAMP: {"data_type": "timestamp", "timezone": True, "precision": 6},
    pa.int64(): {"data_type": "bigint"},
    pa.bool_(): {"data_type": "bool"},
}


def run_log_columns() -> list[dict[str, Any]]:
    return [
        {"name": f.name, "nullable": f.nullable, **_DLT_TYPES[f.type]} for f in RUN_LOG_SCHEMA
    ]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunRecord:
    """What happened to one instance's table in one run (or its reconciliation)."""

    run_id: str
    instance_id: str
    table_name: str
    is_reconciliation: bool = False
    started_at: dt.datetime = field(default_factory=utc_now)
    ended_at: dt.datetime | None = None
    status: str = "running"
    rows_extracted: int = 0
    """Rows read from the source (an incremental read includes the whole lag window)."""
    rows_loaded: int = 0
    """Rows handed to dlt: new or changed versions only (not in the run log table)."""
    rows_deleted: int = 0
    cursor_from: dt.datetime | None = None
    cursor_to: dt.datetime | None = None
    error_message: str | None = None
    bad_values: list[BadValue] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    """Source schema changes the run went on with (ingestion/drift.py)."""
    rows_inserted: int | None = None
    rows_updated: int | None = None
    """Set for tables read whole (cursor: none, primary_key: none)."""
    buckets: Any = None
    """reconcile.BucketStats of a reconciliation."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def succeed(self) -> None:
        self.status = "success"
        self.ended_at = utc_now()
        parts = [f"schema change: {notice}" for notice in self.notices]
        if self.bad_values:
            listed = "; ".join(str(b) for b in self.bad_values[:MAX_LISTED_ISSUES])
            more = len(self.bad_values) - MAX_LISTED_ISSUES
            parts.append(
                f"{len(self.bad_values)} bad value(s), rows kept with the value repaired or "
                f"null: {listed}" + (f" (+{more} more)" if more > 0 else "")
            )
        if parts:
            self.error_message = "; ".join(parts)

    def fail(self, message: str) -> None:
        self.status = "failed"
        self.ended_at = utc_now()
        self.error_message = message

    def skip(self, reason: str) -> None:
        self.status = "skipped"
        self.ended_at = utc_now()
        self.error_message = reason

    def as_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "instance_id": self.instance_id,
            "table_name": self.table_name,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
            "rows_extracted": self.rows_extracted,
            "rows_deleted": self.rows_deleted,
            "cursor_from": self.cursor_from,
            "cursor_to": self.cursor_to,
            "is_reconciliation": self.is_reconciliation,
            "error_message": self.error_message,
            "rows_inserted": self.rows_inserted,
            "rows_updated": self.rows_updated,
            "buckets_compared": getattr(self.buckets, "buckets", None),
            "buckets_differing": getattr(self.buckets, "differing", None),
        }


def records_table(records: Iterable[RunRecord]) -> pa.Table:
    return pa.Table.from_pylist([r.as_row() for r in records], schema=RUN_LOG_SCHEMA)
