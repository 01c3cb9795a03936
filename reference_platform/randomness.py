"""Deterministic randomness: every stream is derived from (seed, instance, purpose) by hashing.

`random.Random` seeded with an int is stable across runs and platforms (unlike `hash()` of a str,
which Python salts per process), so the same inputs give the same rows byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")


def derive_rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def stochastic_round(rng: random.Random, expected: float) -> int:
    """An integer whose mean is `expected` (floor plus a Bernoulli draw on the fraction)."""
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


class WeightedChoice:
    """O(log n) repeated weighted choice over a fixed population."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items:
            raise ValueError("empty population")
        self.items = list(items)
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        index = bisect(self._cumulative, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]


class Carry:
    """Accumulates expected counts of rare events so they happen at the right long-run rate
    without randomness (a tiny test database still sees every kind after a few ticks)."""

    def __init__(self, values: dict[str, float] | None = None) -> None:
        self.values: dict[str, float] = dict(values or {})

    def take(self, key: str, expected: float, start: float = 0.5) -> int:
        total = self.values.get(key, start) + expected
        count = int(total)
        self.values[key] = total - count
        return count
