"""Shared pieces of the activity model: volumes, choices, month ends, id allocation."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from reference_platform.timeutil import (
    MINUTE,
    last_day_of_month,
    local_datetime,
    local_wall_to_us,
)

KINDS = (("shop", 0.45), ("producer", 0.25), ("hub", 0.15), ("ngo", 0.15))
PLANS = (("free", 0.5), ("basic", 0.35), ("pro", 0.15))
MONTH_END_EXTRA_SHARE = 0.1  # besides one organization per zone
MONTH_END_LOCAL_TIME = (23, 30)


@dataclass(frozen=True)
class Volumes:
    """Per-instance targets for the generated history at a scale factor."""

    organizations: int
    contacts: int
    orders: int
    messages: int

    @classmethod
    def for_scale(cls, scale: float) -> Volumes:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return cls(
            organizations=max(8, round(200 * scale)),
            contacts=max(60, round(20_000 * scale)),
            orders=max(150, round(100_000 * scale)),
            messages=max(500, round(333_333 * scale)),
        )


def bulk_update_size(scale: float) -> int:
    """Rows one bulk update touches: scale-dependent, never below 2000, never above 10000."""
    return min(10_000, max(2_000, round(5_000 * scale)))


def month_end_instants(time_zone: str, start: int, end: int) -> list[int]:
    """Instants in [start, end) that are 23:30 local time on the last day of a month."""
    found = []
    last = local_datetime(end, time_zone).date()
    day = last_day_of_month(local_datetime(start, time_zone).date())
    while day <= last:
        at = local_wall_to_us(day, *MONTH_END_LOCAL_TIME, time_zone)
        if start <= at < end:
            found.append(at)
        day = last_day_of_month(day + timedelta(days=1))
    return found


def month_end_order(
    rng: random.Random, completed: int, organization_id: int, contact_id: int, prices: list[int]
) -> dict[str, Any]:
    """An order record (see OrderBatch.from_records) completed at exactly 23:30:00.000000 local
    time on a month's last day: one timestamp, two different months in UTC or another zone."""
    created = completed - rng.randrange(5 * MINUTE, 25 * MINUTE)
    product = rng.randrange(len(prices))
    return {
        "created": created, "organization": organization_id, "contact": contact_id,
        "state": 1, "total": prices[product], "completed": completed, "updated": completed,
        "event": 1, "items": [(created, product, 1, prices[product])],
    }


class IdAllocator:
    """Ids handed out in Python (so both engines get identical ids) from the database's
    high-water marks; the writer moves the database sequences past them."""

    def __init__(self, last: dict[str, int]) -> None:
        self.last = dict(last)
        self.first = dict(last)

    def next(self, table: str) -> int:
        self.last[table] += 1
        return self.last[table]
