"""Python values from a DB-API cursor -> typed arrow columns, fast when the data is clean.

The fast path lets pyarrow infer each column in C (SQLite is dynamically typed, so inference is
also the cheapest way to *check* that an INTEGER column holds only integers: a stray 2.5 would be
silently truncated by a typed conversion). Only a column that fails the check is converted value
by value, and every value that cannot be read is reported as a BadValue while its row is kept.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import zoneinfo
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.schema import UTC_TIMESTAMP, decimal_of

# (row index within the batch, reason) -> None
Report = Callable[[int, str], None]

_NAIVE_TIMESTAMP = pa.timestamp("us")


def to_arrow(
    values: Sequence[Any], column_type: str, report: Report, time_zone: str = "UTC"
) -> pa.Array:
    """Convert one column of a fetched batch to the arrow type of `column_type`. `time_zone`:
    the zone of timestamps stored without an offset (the source's `source_time_zone`)."""
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        inferred = None
    decimal_type = decimal_of(column_type)
    if decimal_type is not None:
        target = pa.decimal128(*decimal_type)
        fast = None if inferred is None else _fast_decimal(inferred, target)
        return fast if fast is not None else _slow_decimal(values, target, report)
    if column_type == "timestamp" and time_zone != "UTC":
        fast = None if inferred is None else _fast_local_timestamp(inferred, time_zone)
        return fast if fast is not None else _slow_timestamp(values, report, time_zone)
    if inferred is not None:
        fast = _FAST[column_type](inferred)
        if fast is not None:
            return fast
    return _SLOW[column_type](values, report)


def naive_to_utc(values: pa.Array, time_zone: str) -> pa.Array:
    """Zone-less timestamps read as wall-clock times in `time_zone` -> UTC instants. A time that
    occurs twice (the hour DST ends) is its later instant, as PostgreSQL's `AT TIME ZONE` reads
    it. A time that does not exist (skipped when DST starts) raises pa.ArrowInvalid: callers
    convert such a batch value by value (_local_to_utc)."""
    local = pc.assume_timezone(values, time_zone, ambiguous="latest", nonexistent="raise")
    return local.cast(UTC_TIMESTAMP)


def hex_to_binary(values: pa.Array) -> pa.Array:
    """PostgreSQL's `encode(col, 'hex')` text -> the raw bytes."""
    return pa.array(
        [None if v is None else bytes.fromhex(v) for v in values.to_pylist()], type=pa.binary()
    )


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


def _fast_decimal(arr: pa.Array, target: pa.DataType) -> pa.Array | None:
    # From the text SQLite stores (the readers select CAST(col AS TEXT)): parsed exactly, never
    # through a float. A value with more digits than the scale fails and goes value by value.
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if arr.type == pa.int64():
        try:
            return arr.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    text = _fast_text(arr) if arr.type == pa.binary() else arr if arr.type == pa.string() else None
    if text is None:
        return None
    try:
        return pc.utf8_trim_whitespace(text).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _fast_local_timestamp(arr: pa.Array, time_zone: str) -> pa.Array | None:
    text = _fast_text(arr)
    if text is None:
        return None
    try:
        return naive_to_utc(text.cast(_NAIVE_TIMESTAMP), time_zone)
    except pa.ArrowInvalid:
        pass
    try:
        return text.cast(UTC_TIMESTAMP)  # every value carries its offset: the zone is not needed
    except pa.ArrowInvalid:
        return None


def _fast_json(arr: pa.Array) -> pa.Array | None:
    text = _fast_text(arr)
    if text is None or text.null_count == len(text):
        return text
    # Validated one by one: an invalid document would fail the whole load into a JSON column.
    for value in text.to_pylist():
        if value is not None:
            try:
                json.loads(value)
            except ValueError:
                return None
    return text


def _fast_bytes(arr: pa.Array) -> pa.Array | None:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.binary())
    return arr if arr.type == pa.binary() else None


# --- slow paths: value by value, reporting what cannot be read -------------------------------


def _slow_decimal(values: Sequence[Any], target: pa.DataType, report: Report) -> pa.Array:
    quantum = decimal.Decimal(1).scaleb(-target.scale)
    limit = decimal.Decimal(10) ** (target.precision - target.scale)
    out: list[decimal.Decimal | None] = []
    for index, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        try:
            number = decimal.Decimal(text.strip())
            exact = number.quantize(quantum, context=decimal.Context(prec=80))
            if exact != number or not number.is_finite() or abs(exact) >= limit:
                raise ValueError
        except (ArithmeticError, ValueError):
            report(
                index, f"not a decimal({target.precision},{target.scale}) without rounding "
                f"(SQLite {_kind(value)}); loaded as null"
            )
            out.append(None)
            continue
        out.append(exact)
    return pa.array(out, type=target)


def _slow_json(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[str | None] = []
    for index, value in enumerate(values):
        text = _text(value, index, report)
        if text is not None:
            try:
                json.loads(text)
            except ValueError:
                report(index, "not a JSON document; loaded as null")
                text = None
        out.append(text)
    return pa.array(out, type=pa.string())


def _slow_bytes(values: Sequence[Any], report: Report) -> pa.Array:
    out: list[bytes | None] = []
    for value in values:
        if value is None or isinstance(value, bytes):
            out.append(value)
        else:  # a number or text in a blob column: its text form's bytes
            out.append(str(value).encode("utf-8"))
    return pa.array(out, type=pa.binary())


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


def _slow_timestamp(values: Sequence[Any], report: Report, time_zone: str = "UTC") -> pa.Array:
    zone = zoneinfo.ZoneInfo(time_zone)
    out: list[dt.datetime | None] = []
    for index, value in enumerate(values):
        parsed = _timestamp(value, index, report, zone)
        if value is not None and parsed is None:
            report(index, "not a timestamp; loaded as null")
        out.append(parsed)
    return pa.array(out, type=UTC_TIMESTAMP)


def _timestamp(
    value: Any, index: int, report: Report, zone: dt.tzinfo = dt.UTC
) -> dt.datetime | None:
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
        return _local_to_utc(parsed, zone)
    return parsed.astimezone(dt.UTC)


def _local_to_utc(naive: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """PostgreSQL's reading of a wall-clock time: of the two offsets around a DST change, the
    one giving the later instant (the second occurrence of a repeated time; a skipped time read
    with the offset in force before the change)."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    return max(first, second)


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
    "json": _fast_json,
    "bytes": _fast_bytes,
}
_SLOW: dict[str, Callable[[Sequence[Any], Report], pa.Array]] = {
    "bigint": _slow_bigint,
    "double": _slow_double,
    "boolean": _slow_boolean,
    "text": _slow_text,
    "timestamp": _slow_timestamp,
    "date": _slow_date,
    "json": _slow_json,
    "bytes": _slow_bytes,
}


def max_timestamp(values: pa.Array | pa.ChunkedArray) -> dt.datetime | None:
    """Largest non-null timestamp of a column, as an aware UTC datetime."""
    result = pc.max(values).as_py()
    if result is None:
        return None
    return result.astimezone(dt.UTC) if result.tzinfo else result.replace(tzinfo=dt.UTC)
