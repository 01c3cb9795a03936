"""Local calendar periods of UTC text timestamps, fast enough for millions of rows.

The oracle reads timestamps as the contract's UTC text ('YYYY-MM-DD HH:MM:SS.ffffff') from both
engines. Converting each one with zoneinfo is slow, so conversions are cached per zone and UTC
hour: within an hour the local date is constant except where local midnight (or a DST change)
falls inside it, which the cache records as the minute the date changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from reference_platform.timeutil import week_start, zone

Periods = tuple[date, date, date]  # (day, ISO week start, month start)


class LocalCalendar:
    def __init__(self) -> None:
        self._hours: dict[tuple[str, str], tuple[date, int, date]] = {}
        self._periods: dict[date, Periods] = {}

    def local_date(self, stamp: str, time_zone: str) -> date:
        key = (time_zone, stamp[:13])
        entry = self._hours.get(key)
        if entry is None:
            entry = self._hours[key] = self._hour(stamp[:13], time_zone)
        before, change_minute, after = entry
        if change_minute < 60 and int(stamp[14:16]) >= change_minute:
            return after
        return before

    def periods(self, stamp: str, time_zone: str) -> Periods:
        day = self.local_date(stamp, time_zone)
        periods = self._periods.get(day)
        if periods is None:
            periods = self._periods[day] = (day, week_start(day), day.replace(day=1))
        return periods

    def month(self, stamp: str, time_zone: str) -> date:
        return self.periods(stamp, time_zone)[2]

    @staticmethod
    def _hour(hour: str, time_zone: str) -> tuple[date, int, date]:
        """(local date at minute 0, first minute with another date or 60, that date)."""
        start = datetime.fromisoformat(hour + ":00+00:00")
        tz = zone(time_zone)
        first = start.astimezone(tz).date()
        last = (start + timedelta(minutes=59)).astimezone(tz).date()
        if first == last:
            return first, 60, first
        for minute in range(1, 60):
            local = (start + timedelta(minutes=minute)).astimezone(tz).date()
            if local != first:
                return first, minute, local
        raise AssertionError("unreachable")  # pragma: no cover


def utc_text(moment: datetime) -> str:
    """An aware datetime as the contract's UTC text (comparable with stored timestamps)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
