"""Selections for `warehouse rerun` and `warehouse backfill`."""

from __future__ import annotations

import datetime as dt

import pytest

from tenant_warehouse.monitoring.control import (
    SelectionError,
    dbt_selectors,
    group_selection,
    parse_selection,
    parse_since,
)

INSTANCES = ["uk", "au", "fr"]
TABLES = ["organizations", "contacts", "orders", "messages"]


def test_tokens_select_instances_tables_and_pairs() -> None:
    selection = parse_selection(["uk", "orders", "fr.messages,au.*"], INSTANCES, TABLES)
    assert selection == {
        "uk": set(TABLES),
        "au": set(TABLES),
        "fr": {"orders", "messages"},
    }
    assert parse_selection(["*.contacts"], INSTANCES, TABLES) == {
        i: {"contacts"} for i in INSTANCES
    }


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("de", "not a configured instance"),
        ("uk.invoices", "unknown table 'invoices'"),
        ("xx.orders", "unknown instance 'xx'"),
        ("sim_state", "not a configured instance"),
    ],
)
def test_unknown_names_are_errors(token: str, message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        parse_selection([token], INSTANCES, TABLES)


def test_groups_cover_exactly_the_selection() -> None:
    selection = {"uk": {"orders", "contacts"}, "fr": {"contacts", "orders"}, "au": {"messages"}}
    groups = group_selection(selection, TABLES)
    assert groups == [(["au"], ["messages"]), (["fr", "uk"], ["contacts", "orders"])]
    covered = {(i, t) for instances, tables in groups for i in instances for t in tables}
    assert covered == {(i, t) for i, ts in selection.items() for t in ts}
    assert dbt_selectors(["orders", "contacts", "orders"]) == [
        "source:platform.contacts+", "source:platform.orders+",
    ]


def test_since_is_utc() -> None:
    assert parse_since("2026-06-01") == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    assert parse_since("2026-06-01T02:00:00+02:00") == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(SelectionError, match="expected a date"):
        parse_since("last tuesday")
    with pytest.raises(SelectionError, match="future"):
        parse_since("2999-01-01")
