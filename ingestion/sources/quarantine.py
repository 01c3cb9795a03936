"""raw._tw_quarantine: spreadsheet rows that were not loaded because a value could not be read.

One row per bad cell (a row with two bad cells appears twice), with the instance, table, file,
sheet, the row number as the spreadsheet shows it, the column, the cell's value and the reason.
The value obeys the column's personal-data policy: hashed for `hash`, absent for `drop`.

A file is a snapshot, so its quarantine is too: each time a file is loaded again, the quarantine
rows of that (instance, table) are replaced by the new ones (merge on instance_id + table_name;
an empty set is written as one hard-delete marker so the old rows still go).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dlt
import pyarrow as pa

from ingestion.schema import UTC_TIMESTAMP

QUARANTINE_TABLE = "_tw_quarantine"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("instance_id", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("file_name", pa.string()),
        pa.field("sheet_name", pa.string()),
        pa.field("row_number", pa.int64()),
        pa.field("column_name", pa.string()),
        pa.field("value", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("quarantined_at", UTC_TIMESTAMP),
        pa.field("_tw_deleted", pa.bool_()),
    ]
)

_HINTS: dict[pa.DataType, dict[str, Any]] = {
    pa.string(): {"data_type": "text"},
    pa.int64(): {"data_type": "bigint"},
    UTC_TIMESTAMP: {"data_type": "timestamp", "timezone": True, "precision": 6},
    pa.bool_(): {"data_type": "bool"},
}


@dataclass(frozen=True)
class QuarantinedCell:
    file_name: str
    sheet_name: str | None
    row_number: int
    column_name: str
    value: str | None
    reason: str


@dataclass
class QuarantineSet:
    """Every bad cell of one (instance, table) file load; replaces that table's quarantine."""

    instance: str
    table: str
    cells: list[QuarantinedCell] = field(default_factory=list)


def quarantine_columns() -> list[dict[str, Any]]:
    columns = []
    for f in QUARANTINE_SCHEMA:
        hint: dict[str, Any] = {"name": f.name, "nullable": f.nullable, **_HINTS[f.type]}
        if f.name in ("instance_id", "table_name"):
            hint["merge_key"] = True
        if f.name == "_tw_deleted":
            hint["hard_delete"] = True
        columns.append(hint)
    return columns


def quarantine_table(sets: list[QuarantineSet], run_id: str, at: dt.datetime) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for found in sets:
        base = {"instance_id": found.instance, "table_name": found.table, "run_id": run_id,
                "quarantined_at": at}
        if not found.cells:
            rows.append({**base, "_tw_deleted": True})  # clears the table's old entries
        for cell in found.cells:
            rows.append(
                {**base, "file_name": cell.file_name, "sheet_name": cell.sheet_name,
                 "row_number": cell.row_number, "column_name": cell.column_name,
                 "value": cell.value, "reason": cell.reason}
            )
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def quarantine_resource(sets: list[QuarantineSet], run_id: str, at: dt.datetime) -> Any:
    """The dlt resource writing this run's quarantine sets (extracted with the run records)."""

    def rows() -> Iterator[pa.Table]:
        if sets:
            yield quarantine_table(sets, run_id, at)

    return dlt.resource(
        rows,
        name=QUARANTINE_TABLE,
        table_name=QUARANTINE_TABLE,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=quarantine_columns(),
    )
