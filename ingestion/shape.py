"""Turn source batches into the raw layer's row shape.

`_dlt_id` is generated here, vectorised, instead of by dlt's parquet normalizer
(NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID): dlt builds its ids one Python call per row and
must then rewrite every parquet file, which measured 2.2 s of normalize per 500k rows against
0.13 s when the column is already present — more than the whole extraction budget. The ids have
the same role (unique row id, random) and the same column; `_dlt_load_id` is still added by dlt.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.config import TableConfig
from ingestion.privacy import apply_policy
from ingestion.schema import (
    DELETED_COLUMN,
    DLT_ID_COLUMN,
    DLT_LOAD_ID_COLUMN,
    EXTRACTED_AT_COLUMN,
    INSTANCE_COLUMN,
    UTC_TIMESTAMP,
    raw_schema,
)

# 12 random bytes -> 16 url-safe base64 characters, with no padding and fixed width, which lets
# the whole column be built from one buffer.
_ID_BYTES = 12
_ID_CHARS = 16


def dlt_ids(count: int) -> pa.Array:
    """`count` random 96-bit row ids as a string array, built without a per-row Python call."""
    data = base64.urlsafe_b64encode(os.urandom(count * _ID_BYTES))
    offsets = np.arange(0, _ID_CHARS * (count + 1), _ID_CHARS, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


_NULL_MARK = pa.scalar(b"\x00null", pa.binary())
_SEPARATOR = b"\x1f"


def row_hashes(batch: pa.Table, salt: str) -> pa.Array:
    """Hex digest (128-bit BLAKE2b, salted) of each row's values as read from the source.

    `cursor: none` tables keep it in raw: the next run compares digests per key to find changed
    rows without a change cursor. The values are joined in C (text form of every type, binary
    as is, a marker for null); the salt keeps a digest of personal values from being guessed."""
    parts = []
    for column in batch.columns:
        values = column if pa.types.is_binary(column.type) else column.cast(pa.string())
        parts.append(values.cast(pa.binary()).fill_null(_NULL_MARK))
    joined = pc.binary_join_element_wise(*parts, pa.scalar(_SEPARATOR, pa.binary()))
    prefix = hashlib.blake2b(salt.encode("utf-8"), digest_size=16)
    digests: list[str] = []
    append = digests.append
    for raw in joined.to_pylist():
        digest = prefix.copy()
        digest.update(raw)
        append(digest.hexdigest())
    return pa.array(digests, type=pa.string())


def to_raw(
    batch: pa.Table,
    table: TableConfig,
    instance: str,
    salt: str,
    extracted_at: dt.datetime,
    hashes: pa.Array | None = None,
) -> pa.Table:
    """Source-schema batch -> raw rows: instance_id first, policy applied, ingestion columns.
    `hashes`: the rows' digests (row_hashes) when the caller has them already."""
    rows = batch.num_rows
    private = apply_policy(batch, table, salt)
    columns = [pa.repeat(pa.scalar(instance, pa.string()), rows)]
    columns += list(private.columns)
    if table.compares_rows:
        columns.append(hashes if hashes is not None else row_hashes(batch, salt))
    columns += [
        pa.repeat(pa.scalar(extracted_at, UTC_TIMESTAMP), rows),
        _load_id_placeholder(rows),
        dlt_ids(rows),
        pa.nulls(rows, pa.bool_()),
    ]
    return pa.Table.from_arrays(columns, schema=raw_schema(table))


def deletions(
    ids: pa.Array | pa.ChunkedArray,
    table: TableConfig,
    instance: str,
    extracted_at: dt.datetime,
) -> pa.Table:
    """Rows that tell delete-insert to remove (instance_id, id) and insert nothing."""
    schema = raw_schema(table)
    rows = len(ids)
    columns: list[pa.Array | pa.ChunkedArray] = []
    for field in schema:
        if field.name == INSTANCE_COLUMN:
            columns.append(pa.repeat(pa.scalar(instance, pa.string()), rows))
        elif field.name == table.primary_key and table.has_key:
            columns.append(ids.cast(pa.int64()))
        elif field.name == EXTRACTED_AT_COLUMN:
            columns.append(pa.repeat(pa.scalar(extracted_at, UTC_TIMESTAMP), rows))
        elif field.name == DLT_ID_COLUMN:
            columns.append(dlt_ids(rows))
        elif field.name == DLT_LOAD_ID_COLUMN:
            columns.append(_load_id_placeholder(rows))
        elif field.name == DELETED_COLUMN:
            columns.append(pa.repeat(pa.scalar(True), rows))
        else:
            columns.append(pa.nulls(rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def replace_marker(table: TableConfig, instance: str, extracted_at: dt.datetime) -> pa.Table:
    """For a table without a key: one row flagged deleted that carries only instance_id. Merged
    with instance_id as merge key, it makes the load delete the instance's rows even when the
    source table is now empty; being flagged, it is not inserted itself."""
    schema = raw_schema(table)
    columns: list[pa.Array] = []
    for field in schema:
        if field.name == INSTANCE_COLUMN:
            columns.append(pa.array([instance], pa.string()))
        elif field.name == EXTRACTED_AT_COLUMN:
            columns.append(pa.array([extracted_at], UTC_TIMESTAMP))
        elif field.name == DLT_ID_COLUMN:
            columns.append(dlt_ids(1))
        elif field.name == DLT_LOAD_ID_COLUMN:
            columns.append(_load_id_placeholder(1))
        elif field.name == DELETED_COLUMN:
            columns.append(pa.array([True]))
        else:
            columns.append(pa.nulls(1, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _load_id_placeholder(rows: int) -> pa.Array:
    # Replaced by dlt with the load id where it stands (NORMALIZE__PARQUET_NORMALIZER__
    # ADD_DLT_LOAD_ID); present so the column keeps the contract's position.
    return pa.repeat(pa.scalar("", pa.string()), rows)
