"""Personal-data policy on arrow batches, and the raw row shape built around it."""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pytest

from ingestion.config import load_config
from ingestion.privacy import apply_policy, hash_array, hash_value
from ingestion.schema import raw_schema, source_schema
from ingestion.shape import deletions, dlt_ids, to_raw

CONFIG = load_config()
USERS = CONFIG.tables["users"]
T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _users() -> pa.Table:
    rows = [
        {"id": 1, "organization_id": 7, "name": "Zoë Brown", "email": "zoe@example.org",
         "phone": "", "role": "admin", "created_at": T0, "updated_at": T0, "deleted_at": None},
        {"id": 2, "organization_id": 7, "name": None, "email": "x@example.org",
         "phone": "+44 7700 900000", "role": "staff", "created_at": T0, "updated_at": T0,
         "deleted_at": T0},
    ]
    return pa.Table.from_pylist(rows, schema=source_schema(USERS))


def test_hash_is_sha256_of_salt_then_value() -> None:
    expected = hashlib.sha256(b"pepper" + "Zoë Brown".encode()).hexdigest()
    assert hash_value("Zoë Brown", "pepper") == expected
    assert hash_array(pa.array(["Zoë Brown", None, ""]), "pepper").to_pylist() == [
        expected, None, hashlib.sha256(b"pepper").hexdigest(),
    ]


def test_policy_renames_hashed_columns_and_keeps_the_rest() -> None:
    batch = apply_policy(_users(), USERS, "pepper")
    assert batch.column_names == [
        "id", "organization_id", "name_hash", "email_hash", "phone_hash", "role",
        "created_at", "updated_at", "deleted_at",
    ]
    assert batch.column("email_hash").to_pylist()[1] == hash_value("x@example.org", "pepper")
    assert batch.column("name_hash").to_pylist()[1] is None
    assert batch.column("role").to_pylist() == ["admin", "staff"]
    values = {str(v) for column in batch.columns for v in column.to_pylist()}
    assert not values & {"Zoë Brown", "zoe@example.org", "x@example.org", "+44 7700 900000"}


def test_empty_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        apply_policy(_users(), USERS, "")


def test_raw_rows_lead_with_instance_and_end_with_ingestion_columns() -> None:
    raw = to_raw(_users(), USERS, "uk", "pepper", T0)
    assert raw.schema == raw_schema(USERS)
    assert raw.column_names[0] == "instance_id"
    assert raw.column_names[-4:] == ["_tw_extracted_at", "_dlt_load_id", "_dlt_id", "_tw_deleted"]
    assert raw.column("instance_id").to_pylist() == ["uk", "uk"]
    assert raw.column("_tw_extracted_at").to_pylist() == [T0, T0]
    assert raw.column("_tw_deleted").null_count == 2


def test_deletion_rows_carry_only_the_key_and_the_flag() -> None:
    rows = deletions(pa.array([5, 6], pa.int64()), USERS, "au", T0).to_pylist()
    assert [(r["instance_id"], r["id"], r["_tw_deleted"]) for r in rows] == [
        ("au", 5, True), ("au", 6, True),
    ]
    assert all(r["name_hash"] is None and r["updated_at"] is None for r in rows)


def test_row_ids_are_unique_fixed_width_strings() -> None:
    ids = dlt_ids(50_000).to_pylist()
    assert len(set(ids)) == 50_000
    assert {len(i) for i in ids} == {16}
    assert dlt_ids(0).to_pylist() == []
