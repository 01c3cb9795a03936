"""Key reconciliation: what differs between the source and raw, range by range."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.config import load_config
from ingestion.extract import drop_known
from ingestion.reconcile import compare, key_ranges

CONTACTS = load_config().tables["contacts"]
TS = pa.timestamp("us", tz="UTC")


def _versions(pairs: dict[int, int | None]) -> pa.Table:
    stamp = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": pa.array(list(pairs), pa.int64()),
            "updated_at": pa.array(
                [None if s is None else stamp + dt.timedelta(seconds=s) for s in pairs.values()], TS
            ),
        }
    )


def test_compare_finds_deletes_late_commits_and_missing_rows() -> None:
    source = _versions({1: 10, 2: 20, 3: 30, 4: None, 6: 60})
    raw = _versions({1: 10, 2: 25, 4: None, 5: 50, 6: None})
    found = compare(source, raw, CONTACTS)
    assert found.deleted.to_pylist() == [5]
    assert sorted(found.changed.to_pylist()) == [2, 3, 6]  # other cursor, missing, null vs set


def test_compare_never_emits_keys_already_loaded_in_this_run() -> None:
    source = _versions({1: 10, 3: 30})
    raw = _versions({1: 11, 2: 20})
    found = compare(source, raw, CONTACTS, exclude=pa.array([1, 2], pa.int64()))
    assert found.deleted.to_pylist() == []
    assert found.changed.to_pylist() == [3]


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(-1_000, 1_000),
    span=st.integers(0, 5_000),
    count=st.integers(1, 5_000),
    range_rows=st.integers(1, 2_000),
    probe=st.integers(-10_000, 10_000),
)
def test_key_ranges_cover_every_key_exactly_once(
    low: int, span: int, count: int, range_rows: int, probe: int
) -> None:
    ranges = key_ranges((low, low + span, count), range_rows)
    hits = [
        (start, end) for start, end in ranges
        if (start is None or probe >= start) and (end is None or probe < end)
    ]
    assert len(hits) == 1
    assert ranges[0][0] is None and ranges[-1][1] is None


def test_an_empty_source_compares_everything_in_one_range() -> None:
    assert key_ranges(None) == [(None, None)]
    found = compare(_versions({}), _versions({7: 1, 8: 2}), CONTACTS)
    assert sorted(found.deleted.to_pylist()) == [7, 8]


def test_rows_raw_already_holds_are_dropped_from_the_lag_window() -> None:
    batch = _versions({1: 10, 2: 20, 3: 30, 4: 40, 5: None}).append_column(
        "name", pa.array(["a", "b", "c", "d", "e"])
    )
    known = _versions({2: 20, 3: 31, 4: 40, 9: 90})
    kept = drop_known(batch, known, CONTACTS)
    # 3 changed cursor, 1 and 5 are new: kept in read order; 2 and 4 are already in raw.
    assert kept.column("id").to_pylist() == [1, 3, 5]
    assert kept.column("name").to_pylist() == ["a", "c", "e"]
    assert drop_known(batch, _versions({}), CONTACTS).num_rows == 5
