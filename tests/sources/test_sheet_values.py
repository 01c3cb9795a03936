"""The value rules of spreadsheet cells and REST items (ingestion/sources/sheet_values.py)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import zoneinfo
from typing import Any

import pytest

from ingestion.config import ColumnConfig
from ingestion.sources.sheet_values import BadCell, normalise_header, parse_cell

LONDON = zoneinfo.ZoneInfo("Europe/London")
D = decimal.Decimal


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (" 42 ", "bigint", 42),
        (42.0, "bigint", 42),
        ("-7", "bigint", -7),
        ("", "text", None),
        ("   ", "bigint", None),
        (3.0, "text", "3"),
        (1.5, "double", 1.5),
        ("1e3", "double", 1000.0),
        ("Yes", "boolean", True),
        (0, "boolean", False),
        ("12.5", "decimal(10,2)", D("12.50")),
        (0.1, "decimal(10,2)", D("0.10")),  # the float Excel stores, read as it shows
        ("2026-03-29T01:30:00", "timestamp", dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)),
        ("2026-07-01 12:00", "timestamp", dt.datetime(2026, 7, 1, 11, 0, tzinfo=dt.UTC)),
        ("2026-07-01T12:00:00Z", "timestamp", dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 12, 1, 8), "timestamp", dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)),
        (dt.datetime(2026, 12, 1), "date", dt.date(2026, 12, 1)),
        ("2026-12-01", "date", dt.date(2026, 12, 1)),
        ('{"a": [1, 2]}', "json", '{"a": [1, 2]}'),
        ({"a": 1}, "json", '{"a": 1}'),
    ],
)
def test_cells_read_as_their_type(value: Any, kind: str, expected: Any) -> None:
    assert parse_cell(value, ColumnConfig("c", kind), LONDON) == expected


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        ("4.5", "bigint", "not a whole number"),
        (4.5, "bigint", "not a whole number"),
        (True, "bigint", "a boolean is not a whole number"),
        (2**63, "bigint", "not a whole number (64-bit)"),
        ("twelve", "double", "not a number"),
        ("maybe", "boolean", "not a boolean"),
        ("1.005", "decimal(10,2)", "more than 2 decimal places"),
        ("123456789", "decimal(10,2)", "too large for decimal(10,2)"),
        ("01/02/2026", "timestamp", "not an ISO 8601 timestamp"),
        ("31/02/2026", "date", "not an ISO 8601 date"),
        (dt.datetime(2026, 1, 1, 9), "date", "a date with a time of day is not a date"),
        ("{nope", "json", "not valid JSON"),
    ],
)
def test_bad_cells_say_why(value: Any, kind: str, reason: str) -> None:
    with pytest.raises(BadCell, match=re.escape(reason)):
        parse_cell(value, ColumnConfig("c", kind), LONDON)


def test_headers_match_column_names() -> None:
    assert normalise_header(" Amount (EUR) ") == "amount_eur"
    assert normalise_header("Organization-ID") == "organization_id"
    assert normalise_header(None) == ""
    assert normalise_header(2026) == "2026"
