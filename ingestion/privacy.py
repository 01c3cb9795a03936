"""Personal-data policy, applied to every arrow batch before it is handed to dlt.

dlt writes what it receives to local files before loading, so hashing here (and never selecting
dropped columns in the readers) is what keeps raw personal values out of both the warehouse and
the pipeline directory.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from ingestion.config import TableConfig


def hash_value(value: str, salt: str) -> str:
    """The warehouse's `<column>_hash`: hex sha256 of salt + value (UTF-8). Tests and oracles
    that need to match a hash must compute exactly this."""
    return hashlib.sha256((salt + value).encode("utf-8")).hexdigest()


def hash_array(values: pa.Array | pa.ChunkedArray, salt: str) -> pa.Array:
    """Hash a text column; nulls stay null (a missing email is not a person)."""
    # Hashing bytes straight from the arrow buffers avoids a decode/encode per value, and the
    # salted prefix state is computed once and copied.
    prefix = hashlib.sha256(salt.encode("utf-8"))
    hashed: list[str | None] = []
    append = hashed.append
    for raw in values.cast(pa.binary()).to_pylist():
        if raw is None:
            append(None)
            continue
        digest = prefix.copy()
        digest.update(raw)
        append(digest.hexdigest())
    return pa.array(hashed, type=pa.string())


def apply_policy(batch: pa.Table, table: TableConfig, salt: str) -> pa.Table:
    """Source-schema batch -> raw columns: keep as is, hash into `<name>_hash`, drop."""
    if not salt:
        raise ValueError("the personal-data salt (TW_PII_SALT) is empty; refusing to hash")
    names: list[str] = []
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for column in table.columns:
        if column.policy == "drop":
            continue  # readers never select it; nothing to remove
        values = batch.column(column.name)
        if column.policy == "hash":
            values = hash_array(values, salt)
        names.append(column.output_name)
        arrays.append(values)
    return pa.Table.from_arrays(arrays, names=names)
