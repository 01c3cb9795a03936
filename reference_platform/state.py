"""The simulator's persistent state (`sim_state`) and the small readers shared by its parts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reference_platform.database import Session
from reference_platform.timeutil import to_us


class NotGenerated(RuntimeError):
    """The database has no reference-platform state: run `generate` first."""


@dataclass
class SimState:
    clock: datetime
    tick: int
    seed: int
    scale: float
    instance: str
    rates: dict[str, float]
    carry: dict[str, float] = field(default_factory=dict)
    bulk_cursor: int = 0

    @classmethod
    def load(cls, session: Session) -> SimState:
        try:
            values = dict(session.query("SELECT key, value FROM sim_state"))
        except Exception as exc:  # missing table: a database we did not generate
            raise NotGenerated(f"{session.database.name}: no sim_state table ({exc})") from exc
        if "clock" not in values:
            raise NotGenerated(f"{session.database.name}: sim_state is empty; run generate first")
        return cls(
            clock=datetime.fromisoformat(values["clock"]),
            tick=int(values["tick"]),
            seed=int(values["seed"]),
            scale=float(values["scale"]),
            instance=values["instance"],
            rates=json.loads(values["rates"]),
            carry=json.loads(values.get("carry", "{}")),
            bulk_cursor=int(values.get("bulk_cursor", "0")),
        )

    def save(self, session: Session) -> None:
        values = {
            "clock": self.clock.isoformat(),
            "tick": str(self.tick),
            "carry": json.dumps(self.carry, sort_keys=True),
            "bulk_cursor": str(self.bulk_cursor),
        }
        session.executemany("UPDATE sim_state SET value = ? WHERE key = ?",
                            [(v, k) for k, v in sorted(values.items())])

    @property
    def clock_us(self) -> int:
        return to_us(self.clock)


def us_or_none(value: Any) -> int | None:
    """A timestamp read from either engine as microseconds (None stays None)."""
    return None if value is None else to_us(value)
