"""Reading spreadsheet rows and turning cell values into configured types.

CSV cells are text; XLSX cells come typed from openpyxl (int, float, bool, datetime, date, str).
Both go through `parse_cell`, which returns the value in the Python form arrow takes for the
column's type, or raises BadCell with a reason a person can act on. Empty cells (None or only
whitespace) are null in every type, text included: a spreadsheet cannot tell them apart.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ingestion.config import ColumnConfig
from ingestion.schema import decimal_of

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_INTEGER = re.compile(r"^[+-]?\d+$")


class BadCell(ValueError):
    """A cell that cannot be read as its column's type (the message is the reason)."""


class SheetUnreadable(Exception):
    """The file or sheet as a whole cannot be read (missing, corrupt, wrong encoding)."""


def normalise_header(value: Any) -> str:
    """`Deal Value (EUR)` -> `deal_value_eur`: how a header cell is matched to a column name."""
    text = "" if value is None else str(value).strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def iter_rows(path: Path, sheet: str | None, delimiter: str, encoding: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(row number as the spreadsheet shows it, cell values) for every row of a CSV file or of
    one sheet of an XLSX workbook (the first sheet when `sheet` is None), streamed."""
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path, delimiter, encoding)
    else:
        yield from _xlsx_rows(path, sheet)


def _csv_rows(path: Path, delimiter: str, encoding: str) -> Iterator[tuple[int, tuple[Any, ...]]]:
    try:
        with path.open(newline="", encoding=encoding) as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for cells in reader:
                yield reader.line_num, tuple(cells)
    except UnicodeDecodeError as exc:
        raise SheetUnreadable(f"not valid {encoding} text ({exc.reason} at byte {exc.start})") from exc
    except csv.Error as exc:
        raise SheetUnreadable(f"malformed CSV: {exc}") from exc
    except OSError as exc:
        raise SheetUnreadable(f"cannot read the file: {exc.strerror or exc}") from exc


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[tuple[int, tuple[Any, ...]]]:
    import zipfile

    import openpyxl

    try:
        # read_only streams the sheet's XML; data_only gives formulas' cached values.
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SheetUnreadable(f"not a readable XLSX workbook: {exc}") from exc
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise SheetUnreadable(
                f"no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})"
            )
        yield from enumerate(worksheet.iter_rows(values_only=True), start=1)
    finally:
        workbook.close()


CellParser = Callable[[Any, zoneinfo.ZoneInfo], Any]


def cell_parser(column: ColumnConfig) -> CellParser:
    """The parser of a column's cells (chosen once per column, applied to every cell)."""
    precision_scale = decimal_of(column.type)
    if precision_scale is not None:
        precision, scale = precision_scale

        def typed(value: Any, zone: zoneinfo.ZoneInfo) -> Any:
            return _decimal(value, precision, scale)
    else:
        found = _PARSERS.get(column.type)
        if found is None:
            kind = column.type

            def typed(value: Any, zone: zoneinfo.ZoneInfo) -> Any:
                raise BadCell(f"type {kind} cannot be read from a spreadsheet")
        else:
            typed = found

    def parse(value: Any, zone: zoneinfo.ZoneInfo) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
        return typed(value, zone)

    return parse


def parse_cell(value: Any, column: ColumnConfig, zone: zoneinfo.ZoneInfo) -> Any:
    """The cell as the column's Python value (None for an empty cell); raises BadCell."""
    return cell_parser(column)(value, zone)


def _bigint(value: Any, zone: Any) -> int:
    if isinstance(value, bool):
        raise BadCell("a boolean is not a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INTEGER.match(value):
        value = int(value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return value
    raise BadCell("not a whole number (64-bit)")


def _double(value: Any, zone: Any) -> float:
    if isinstance(value, bool):
        raise BadCell("a boolean is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadCell("not a number") from None


def _boolean(value: Any, zone: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadCell("not a boolean (true/false, yes/no, 1/0)")


def _text(value: Any, zone: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel keeps every number as a float
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _timestamp(value: Any, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadCell("not an ISO 8601 timestamp (2026-12-01 10:30:00[+01:00])") from None
    else:
        raise BadCell("not a timestamp")
    if parsed.tzinfo is None:
        # Wall-clock time of the instance's zone; fold=0 takes the first of a repeated hour.
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def _date(value: Any, zone: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time():
            raise BadCell("a date with a time of day is not a date")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise BadCell("not an ISO 8601 date (2026-12-01)") from None
    raise BadCell("not a date")


def _json(value: Any, zone: Any) -> str:
    if not isinstance(value, str):
        return json.dumps(value)
    try:
        json.loads(value)
    except ValueError as exc:
        raise BadCell(f"not valid JSON ({exc.msg})") from None
    return value


def _bytes(value: Any, zone: Any) -> bytes:
    return str(value).encode("utf-8")


def _decimal(value: Any, precision: int, scale: int) -> decimal.Decimal:
    if isinstance(value, bool):
        raise BadCell("a boolean is not a number")
    try:
        # str() of a float is its shortest exact-looking form (0.1 -> '0.1'), as Excel shows it.
        exact = decimal.Decimal(str(value).replace(" ", ""))
    except decimal.InvalidOperation:
        raise BadCell("not a number") from None
    if not exact.is_finite():
        raise BadCell("not a finite number")
    quantum = decimal.Decimal(1).scaleb(-scale)
    if exact != exact.quantize(quantum, rounding=decimal.ROUND_DOWN):
        raise BadCell(f"more than {scale} decimal places for decimal({precision},{scale})")
    if exact.copy_abs() >= decimal.Decimal(10) ** (precision - scale):
        raise BadCell(f"too large for decimal({precision},{scale})")
    return exact.quantize(quantum)


_PARSERS = {
    "bigint": _bigint,
    "double": _double,
    "boolean": _boolean,
    "text": _text,
    "timestamp": _timestamp,
    "date": _date,
    "json": _json,
    "bytes": _bytes,
}
