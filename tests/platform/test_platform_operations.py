"""Fault-scenario helpers: erasure, hard delete of an organization, bulk updates, late commits."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from reference_platform.database import Database
from reference_platform.schema import PLATFORM_TABLE_NAMES
from reference_platform.simulator import (
    begin_late_commit,
    bulk_update_messages,
    change_plan,
    delete_organization,
    erase_contact,
    read_state,
    simulate,
    soft_delete_organization,
)
from reference_platform.timeutil import START_CLOCK, as_utc
from reference_platform.truth import latest_rows

SourceFactory = Callable[..., str]


def test_erase_contact(make_source: SourceFactory) -> None:
    url = make_source("uk")
    contact = latest_rows(url, "contacts")[5]
    erased = erase_contact(url, contact["id"])
    assert erased["email"] == contact["email"] and erased["erased_at"] == "2026-06-28 00:00:00.000000"
    assert contact["id"] not in {c["id"] for c in latest_rows(url, "contacts")}
    (record,) = latest_rows(url, "sim_erasures")
    assert (record["contact_id"], record["name"], record["phone"]) == (
        contact["id"], contact["name"], contact["phone"])
    with pytest.raises(KeyError, match="does not exist"):
        erase_contact(url, contact["id"])


def test_delete_organization_removes_every_row(make_source: SourceFactory) -> None:
    url = make_source("fr")
    deleted = delete_organization(url, 1)
    assert deleted["organizations"] == [1] and deleted["orders"] and deleted["messages"]
    for table in PLATFORM_TABLE_NAMES:
        column = "id" if table == "organizations" else "organization_id"
        assert all(r[column] != 1 for r in latest_rows(url, table)), table
    (event,) = [e for e in latest_rows(url, "sim_events") if e["kind"] == "hard_delete"]
    assert json.loads(event["detail"])["rows"]["orders"] == len(deleted["orders"])
    simulate(url, "fr", ticks=1)  # the platform carries on without it


def test_bulk_update_messages(make_source: SourceFactory) -> None:
    url = make_source("au")
    touched, stamp = bulk_update_messages(url, 300)
    assert touched == 300
    same = [m for m in latest_rows(url, "messages") if m["updated_at"] == as_utc(stamp)]
    assert len(same) == 300


def test_plan_change_and_soft_delete_are_recorded(make_source: SourceFactory) -> None:
    url = make_source("uk")
    at = START_CLOCK - timedelta(minutes=5)
    org = next(o for o in latest_rows(url, "organizations") if o["plan"] != "pro"
               and o["deleted_at"] is None)
    change_plan(url, org["id"], "pro", at=at)
    stamp = soft_delete_organization(url, org["id"])
    history = [h for h in latest_rows(url, "sim_plan_changes") if h["organization_id"] == org["id"]]
    assert [h["plan"] for h in history] == [org["plan"], "pro"] and history[-1]["changed_at"] == at
    row = next(o for o in latest_rows(url, "organizations") if o["id"] == org["id"])
    assert row["plan"] == "pro" and row["deleted_at"] == as_utc(stamp) == row["updated_at"]
    with pytest.raises(ValueError, match="unknown plan"):
        change_plan(url, org["id"], "gold")


def test_late_commit_is_invisible_until_committed(make_source: SourceFactory) -> None:
    url = make_source("uk")
    newest = max(m["updated_at"] for m in latest_rows(url, "messages"))
    late = begin_late_commit(url, age_seconds=600, orders=2, messages=3)
    try:
        # Readers (an ingestion run) do not see the rows while the transaction is open.
        visible = {m["id"] for m in latest_rows(url, "messages")}
        assert not visible & set(late.rows["messages"])
        assert as_utc(late.updated_at) == newest - timedelta(seconds=600)
    finally:
        late.commit()
    messages = {m["id"]: m for m in latest_rows(url, "messages")}
    assert all(messages[i]["updated_at"] == as_utc(late.updated_at) for i in late.rows["messages"])
    late_events = [e for e in latest_rows(url, "sim_events") if e["kind"] == "late_commit"]
    assert len(late_events) == 2 + 2 + 3
    # The database's own id allocator continues after the late rows.
    simulate(url, "uk", ticks=1)
    assert read_state(url).tick == 1


def test_rolled_back_late_commit_leaves_nothing(make_source: SourceFactory) -> None:
    url = make_source("uk")
    before = len(latest_rows(url, "orders"))
    begin_late_commit(url).rollback()
    assert len(latest_rows(url, "orders")) == before
    assert not Database(url).query("SELECT * FROM sim_events WHERE kind = 'late_commit'")
