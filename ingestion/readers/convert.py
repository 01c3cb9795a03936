"""Python values from a DB-API cursor -> typed arrow columns, fast when the data is clean.

The fast path lets pyarrow infer each column in C (SQLite is dynamically typed, so inference is
also the cheapest way to *check* that an INTEGER column holds only integers: a stray 2.5 would be
silently truncated by a typed conversion). Only a column that fails the check is converted value
by value, and every value that cannot be read is reported as a BadValue while its row is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.schema import UTC_TIMESTAMP

# (row index within the batch, reason) -> None
Report = Callable[[int, str], None]

_NAIVE_TIMESTAMP = pa.timestamp("us")


def to_arrow(values: Sequence[Any], column_type: str, report: Report) -> pa.Array:
    """Convert one column of a fetched batch to the arrow type of `column_type`."""
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        inferred = None
    if inferred is not None:
        fast = _FAST[column_type](inferred)
        if fast is not None:
            return fast
    return _SLOW[column_type](values, report)


# --- fast paths: return None when the inferred column is not clean --------------------------


def _fast_bigint(arr: pa.Array) -> pa.Array | None:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.int64())
    return arr if arr.type == pa.int64() else None


def _fast_double(arr: pa.Array) -> pa.Array | None:
    if pa.types.is_null(arr.type) or arr.type in (pa.float64(), pa.int64()):
        return arr.cast(pa.float64())
    return None


def _fast_boolean(arr: pa.Array) -> pa.Array | None:
    # SQLite has no boolean: 0/1 integers (PostgreSQL readers never come here).
    if pa.types.is_null(arr.type) or arr.type in (pa.int64(), pa.bool_()):
        return arr.cast(pa.bool_())
    return None


def _fast_text(arr: pa.Array) -> pa.Array | None:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    if arr.type != pa.binary():
        return None
    try:
        return arr.cast(pa.string())  # validates UTF-8 in C
    except pa.ArrowInvalid:
        return None


def _fast_timestamp(arr: pa.Array) -> pa.Array | None:
    text = _fast_text(arr)
    if text is None:
        return None
    try:
        # 'YYYY-MM-DD HH:MM:SS[.ffffff]' without offset: the platform stores UTC.
        return text.cast(_NAIVE_TIMESTAMP).cast(UTC_TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    try:
        return text.cast(UTC_TIMESTAMP)  # every value carries an offset
    except pa.ArrowInvalid:
        return None


def _fast_date(arr: pa.Array) -> pa.Array | None:
    text = _fast_text(arr)
    if text is None:
        return None
    try:
        return text.cast(pa.date32())
    except pa.ArrowInvalid:
        return None


# --- slow paths: value by value, reporting what cannot be read -------------------------------


def _slow_bigint(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[int | None] = []
    for index, value in enumerate(values):
        converted = None
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            converted = value
        elif isinstance(value, float) and value.is_integer():
            converted = int(value)
        elif isinstance(value, bytes):
            try:
                converted = int(value.decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                converted = None
        if value is not None and (converted is None or not -(2**63) <= converted < 2**63):
            report(index, f"not a 64-bit integer (SQLite {_kind(value)}); loaded as null")
            converted = None
        out.append(converted)
    return pa.array(out, type=pa.int64())


def _slow_double(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[float | None] = []
    for index, value in enumerate(values):
        try:
            out.append(None if value is None else float(value))
        except (TypeError, ValueError):
            report(index, f"not a number (SQLite {_kind(value)}); loaded as null")
            out.append(None)
    return pa.array(out, type=pa.float64())


def _slow_boolean(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[bool | None] = []
    for index, value in enumerate(values):
        if value is None or isinstance(value, int | float):
            out.append(None if value is None else bool(value))
            continue
        text = value.decode("utf-8", "replace").strip().lower() if isinstance(value, bytes) else ""
        if text in ("true", "t", "1", "yes"):
            out.append(True)
        elif text in ("false", "f", "0", "no"):
            out.append(False)
        else:
            report(index, f"not a boolean (SQLite {_kind(value)}); loaded as null")
            out.append(None)
    return pa.array(out, type=pa.bool_())


def _slow_text(values: Sequence[Any], report: Report) -> pa.Array:
    return pa.array([_text(v, i, report) for i, v in enumerate(values)], type=pa.string())


def _text(value: Any, index: int, report: Report) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            # Keep the row; the undecodable bytes become U+FFFD so the value is visibly damaged.
            report(index, "invalid UTF-8; undecodable bytes replaced with U+FFFD")
            return value.decode("utf-8", "replace")
    return str(value)  # a number stored in a text column: its text form


def _slow_timestamp(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[dt.datetime | None] = []
    for index, value in enumerate(values):
        parsed = _timestamp(value, index, report)
        if value is not None and parsed is None:
            report(index, "not a timestamp; loaded as null")
        out.append(parsed)
    return pa.array(out, type=UTC_TIMESTAMP)


def _timestamp(value: Any, index: int, report: Report) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # unix seconds, which SQLite date functions also produce
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = _text(value, index, report)
    try:
        parsed = dt.datetime.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _slow_date(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[dt.date | None] = []
    for index, value in enumerate(values):
        text = _text(value, index, report)
        try:
            out.append(dt.date.fromisoformat(text.strip()[:10]) if text else None)
        except ValueError:
            report(index, "not a date; loaded as null")
            out.append(None)
    return pa.array(out, type=pa.date32())


def _kind(value: Any) -> str:
    return {bytes: "text", int: "integer", float: "real"}.get(type(value), type(value).__name__)


_FAST: dict[str, Callable[[pa.Array], pa.Array | None]] = {
    "bigint": _fast_bigint,
    "double": _fast_double,
    "boolean": _fast_boolean,
    "text": _fast_text,
    "timestamp": _fast_timestamp,
    "date": _fast_date,
}
_SLOW: dict[str, Callable[[Sequence[Any], Report], pa.Array]] = {
    "bigint": _slow_bigint,
    "double": _slow_double,
    "boolean": _slow_boolean,
    "text": _slow_text,
    "timestamp": _slow_timestamp,
    "date": _slow_date,
}


def max_timestamp(values: pa.Array | pa.ChunkedArray) -> dt.datetime | None:
    """Largest non-null timestamp of a column, as an aware UTC datetime."""
    result = pc.max(values).as_py()
    if result is None:
        return None
    return result.astimezone(dt.UTC) if result.tzinfo else result.replace(tzinfo=dt.UTC)
