"""What both sample platforms' activities share: time conversion and random draws by rate."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from reference_platform.randomness import stochastic_round
from reference_platform.samples.store import Row, Store, stored_naive, unambiguous
from reference_platform.timeutil import zone

SECONDS_PER_DAY = 86_400


class ActivityBase:
    """One generator run on one instance. Rates are per simulated day at scale 1."""

    def __init__(self, store: Store, stored_time_zone: str, rng: random.Random,
                 scale: float) -> None:
        self.store = store
        self.stored_time_zone = stored_time_zone
        self.rng = rng
        self.scale = scale

    def stamp(self, instant: datetime, whole_seconds: bool = False) -> datetime:
        """An instant as the naive value the instance stores."""
        stored = self.stored_time_zone
        return stored_naive(unambiguous(instant, stored), stored, whole_seconds)

    def instant(self, stored: datetime) -> datetime:
        return stored.replace(tzinfo=zone(self.stored_time_zone))

    def between(self, start: datetime, end: datetime) -> datetime:
        span = max((end - start).total_seconds(), 0.0)
        return start + timedelta(microseconds=int(self.rng.random() * span * 1_000_000))

    def happens(self, per_day: float, start: datetime, end: datetime) -> bool:
        """True with the probability of at least one event at `per_day` in [start, end)."""
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        return self.rng.random() < 1 - math.exp(-per_day * days)

    def count(self, per_day: float, start: datetime, end: datetime) -> int:
        """How many events at `per_day` (times the scale) fall in [start, end)."""
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        return stochastic_round(self.rng, per_day * days * self.scale)

    def pick(self, rows: list[Row], per_day: float, start: datetime,
             end: datetime) -> list[Row]:
        """A random subset of `rows`, each row taken at `per_day` (the count is drawn once)."""
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        wanted = stochastic_round(self.rng, len(rows) * (1 - math.exp(-per_day * days)))
        return self.rng.sample(rows, min(wanted, len(rows)))
