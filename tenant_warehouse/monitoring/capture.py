"""Row-count capture: rows per instance of every raw table, appended after each ingestion run.

The series feeds the observability mart `row_count_trend` (a drop or spike beyond a z-score is
an anomaly) and the `rows` column of `warehouse status`. Every configured instance gets a row,
zero when it has none, so a table emptied at the source shows up as a drop.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from tenant_warehouse.monitoring.store import Warehouse


def capture_row_counts(
    warehouse: Warehouse,
    instances: Iterable[str],
    tables: Iterable[tuple[str, str]],
    ingestion_run_id: str | None = None,
    captured_at: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Count rows per instance of each (table, cursor column) in the raw schema and append them
    to `_tw_row_counts`; returns the rows appended. Tables not in the warehouse are skipped."""
    warehouse.ensure_tables()
    captured_at = captured_at or dt.datetime.now(dt.UTC)
    capture_id = uuid.uuid4().hex
    wanted = list(instances)
    rows: list[dict[str, Any]] = []
    for table, cursor_column in tables:
        if not warehouse.relation_exists(warehouse.raw_schema, table):
            continue
        # A table without a change cursor (`cursor: none`, `primary_key: none`) has no newest
        # update time to report.
        newest = f"max({cursor_column})" if cursor_column else "null"
        found = {
            row["instance_id"]: row
            for row in warehouse.query(
                f"select instance_id, count(*) as row_count,"
                f" {newest} as max_updated_at,"
                f" max(_tw_extracted_at) as max_extracted_at"
                f" from {warehouse.raw_schema}.{table} group by instance_id"
            )
        }
        for instance in sorted(set(wanted) | set(found)):
            counted = found.get(instance, {})
            rows.append({
                "capture_id": capture_id,
                "captured_at": captured_at,
                "ingestion_run_id": ingestion_run_id,
                "instance_id": instance,
                "table_name": table,
                "row_count": int(counted.get("row_count") or 0),
                "max_updated_at": counted.get("max_updated_at"),
                "max_extracted_at": counted.get("max_extracted_at"),
            })
    warehouse.append("row_counts", rows)
    return rows


def configured_tables() -> list[tuple[str, str]]:
    """(table, cursor column) of every table of the ingestion config (tables.yml)."""
    from ingestion.config import load_config

    return [(table.name, table.cursor) for table in load_config().tables.values()]
