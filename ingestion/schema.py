"""Explicit arrow schemas and dlt column hints derived from a TableConfig.

Readers return batches in the *source* schema (configured columns minus dropped ones, typed);
privacy turns them into the *raw* schema (hash columns renamed), and the resource prepends
`instance_id` and appends the ingestion columns. Declaring every column up front keeps the
warehouse types stable even when the first batch is empty or all-null.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ingestion.config import DECIMAL_TYPE, TableConfig

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

# The single place where a configured type becomes an arrow type (readers) and a warehouse type
# (dlt hints). `decimal(P,S)` is exact end to end: arrow decimal128(P,S), DuckDB DECIMAL(P,S),
# PostgreSQL numeric(P,S), BigQuery NUMERIC (BIGNUMERIC beyond NUMERIC's 29 integer/9 fraction
# digits, which dlt chooses). `json` travels as its text and lands as DuckDB JSON, PostgreSQL
# jsonb, BigQuery JSON. `bytes` is read as binary and only ever lands hashed (policy hash).
ARROW_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "timestamp": UTC_TIMESTAMP,
    "date": pa.date32(),
    "json": pa.string(),
    "bytes": pa.binary(),
}

_DLT_TYPES: dict[str, dict[str, Any]] = {
    "bigint": {"data_type": "bigint"},
    "double": {"data_type": "double"},
    "boolean": {"data_type": "bool"},
    "text": {"data_type": "text"},
    "timestamp": {"data_type": "timestamp", "timezone": True, "precision": 6},
    "date": {"data_type": "date"},
    "json": {"data_type": "json"},
}

INSTANCE_COLUMN = "instance_id"
EXTRACTED_AT_COLUMN = "_tw_extracted_at"
DELETED_COLUMN = "_tw_deleted"
# `cursor: none` tables: hex digest of the row as read, to find changed rows without a cursor.
ROW_HASH_COLUMN = "_tw_row_hash"
DLT_ID_COLUMN = "_dlt_id"
DLT_LOAD_ID_COLUMN = "_dlt_load_id"


def decimal_of(column_type: str) -> tuple[int, int] | None:
    """(precision, scale) of a `decimal(P,S)` type, None for any other type."""
    match = DECIMAL_TYPE.match(column_type)
    return (int(match.group(1)), int(match.group(2))) if match else None


def arrow_type(column_type: str) -> pa.DataType:
    """Arrow type of a configured column type."""
    decimal = decimal_of(column_type)
    if decimal is not None:
        return pa.decimal128(*decimal)
    return ARROW_TYPES[column_type]


def dlt_type(column_type: str) -> dict[str, Any]:
    """dlt column hint (data type and its parameters) of a configured output type."""
    decimal = decimal_of(column_type)
    if decimal is not None:
        return {"data_type": "decimal", "precision": decimal[0], "scale": decimal[1]}
    return dict(_DLT_TYPES[column_type])


def source_schema(table: TableConfig) -> pa.Schema:
    """Columns as read from the source, before the personal-data policy."""
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in table.source_columns])


def raw_schema(table: TableConfig) -> pa.Schema:
    """What a resource yields to dlt."""
    fields = [pa.field(INSTANCE_COLUMN, pa.string(), nullable=False)]
    fields += [
        pa.field(c.output_name, arrow_type(c.output_type), nullable=c.name != table.primary_key)
        for c in table.source_columns
    ]
    if table.compares_rows:
        fields.append(pa.field(ROW_HASH_COLUMN, pa.string()))
    fields += [
        pa.field(EXTRACTED_AT_COLUMN, UTC_TIMESTAMP),
        # Placeholder: dlt fills in the load id at extraction, in place, so the contract's column
        # order holds (ADD_DLT_LOAD_ID replaces an existing column where it stands).
        pa.field(DLT_LOAD_ID_COLUMN, pa.string(), nullable=False),
        pa.field(DLT_ID_COLUMN, pa.string(), nullable=False),
        pa.field(DELETED_COLUMN, pa.bool_()),
    ]
    return pa.schema(fields)


def dlt_columns(table: TableConfig, hard_delete: bool = True) -> list[dict[str, Any]]:
    """Column hints in warehouse order: instance_id first, source columns, ingestion columns.
    `hard_delete=False` for an append load, where dlt ignores (and warns about) that hint."""
    columns: list[dict[str, Any]] = [
        {"name": INSTANCE_COLUMN, "data_type": "text", "nullable": False, "primary_key": True}
    ]
    if not table.has_key:
        # Replaced per instance: instance_id is the merge key, not a primary key.
        columns[0] = {"name": INSTANCE_COLUMN, "data_type": "text", "nullable": False,
                      "merge_key": True}
    for column in table.source_columns:
        hint: dict[str, Any] = {"name": column.output_name, **dlt_type(column.output_type)}
        if column.name == table.primary_key:
            hint.update(nullable=False, primary_key=True)
        else:
            hint["nullable"] = True
        columns.append(hint)
    if table.compares_rows:
        columns.append({"name": ROW_HASH_COLUMN, "data_type": "text", "nullable": True})
    columns += [
        {"name": EXTRACTED_AT_COLUMN, **_DLT_TYPES["timestamp"], "nullable": True},
        {"name": DLT_LOAD_ID_COLUMN, "data_type": "text", "nullable": False},
        # Generated in extraction (vectorised); see ingestion/shape.py for why not by dlt.
        {"name": DLT_ID_COLUMN, "data_type": "text", "nullable": False, "unique": True,
         "row_key": True},
        # Set only on rows emitted by reconciliation for keys gone from the source: with
        # delete-insert, dlt deletes the key and does not insert the row.
        {"name": DELETED_COLUMN, "data_type": "bool", "nullable": True,
         **({"hard_delete": True} if hard_delete else {})},
    ]
    return columns
