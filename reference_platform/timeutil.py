"""Time as integer microseconds since the Unix epoch (UTC), and its text form in the sources.

Integers keep the generator fast and exact (no float drift, sub-millisecond differences survive);
the text form is what SQLite stores and what PostgreSQL's COPY reads for timestamptz.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

HISTORY_START = datetime(2026, 1, 1, tzinfo=UTC)
START_CLOCK = datetime(2026, 6, 28, tzinfo=UTC)


def to_us(value: datetime | str) -> int:
    """Microseconds since the epoch for a datetime (naive = UTC) or a stored text timestamp."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // timedelta(microseconds=1)
    return (value - EPOCH) // timedelta(microseconds=1)


def format_us(us: int) -> str:
    """'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, no offset), the contract's SQLite text form."""
    return (_EPOCH_NAIVE + timedelta(microseconds=us)).isoformat(" ", "microseconds")


def from_us(us: int) -> datetime:
    """Aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def as_utc(value: datetime | str | None) -> datetime | None:
    """Normalise a value read from either engine to an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        # Appending the offset is ~5x faster than parsing naive and calling .replace(tzinfo=).
        if value.endswith("Z") or "+" in value[10:] or "-" in value[10:]:
            return datetime.fromisoformat(value).astimezone(UTC)
        return datetime.fromisoformat(value + "+00:00")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_datetime(us: int, time_zone: str) -> datetime:
    return from_us(us).astimezone(zone(time_zone))


def local_wall_to_us(day: date, hour: int, minute: int, time_zone: str) -> int:
    """The instant of a local wall-clock time (fold=0 for the rare ambiguous hour)."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(time_zone))
    return to_us(local.astimezone(UTC))


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def last_day_of_month(day: date) -> date:
    return next_month(day) - timedelta(days=1)


def week_start(day: date) -> date:
    """ISO week start (Monday)."""
    return day - timedelta(days=day.weekday())
