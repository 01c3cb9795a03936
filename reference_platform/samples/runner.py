"""The generate/step cycle both sample platforms share.

`generate` creates an instance database, seeds its first tenants at HISTORY_START and runs the
activity up to GENERATED_UNTIL (two month ends, so month-edge cases exist from the start);
`step` moves an existing one forward by some minutes. Each run is one transaction and one
numbered step; its random stream is derived from (platform, seed, instance, step), so the same
seed and scale give the same rows, ids and timestamps on any machine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from reference_platform.database import Database
from reference_platform.randomness import derive_rng
from reference_platform.samples.store import (
    Store,
    create_schema,
    parse_clock,
    read_state,
    write_state,
)

HISTORY_START = datetime(2026, 1, 1, tzinfo=UTC)
GENERATED_UNTIL = datetime(2026, 3, 3, tzinfo=UTC)
# Activity is simulated in slices: events of a slice happen at random instants inside it.
SLICE = timedelta(hours=6)
T = TypeVar("T")


class GeneratorError(ValueError):
    """A user mistake (unknown instance, database already generated...); one-line message."""


def known_instance(instances: Mapping[str, T], instance_id: str, platform: str) -> T:
    """The instance's definition, or a GeneratorError naming the known ones."""
    try:
        return instances[instance_id]
    except KeyError:
        raise GeneratorError(f"unknown {platform} instance {instance_id!r} "
                             f"(known: {', '.join(sorted(instances))})") from None


class Activity(Protocol):
    def bootstrap(self, at: datetime) -> None: ...

    def run_slice(self, start: datetime, end: datetime) -> None: ...

    def ugly_cases(self, start: datetime, end: datetime, step: int) -> None: ...


@dataclass(frozen=True)
class Platform:
    name: str
    schema_file: Path
    tables: dict[str, tuple[str, ...]]
    instances: tuple[str, ...]
    # (store, instance id, rng, scale) -> the platform's activity for one run.
    activity: Callable[[Store, str, random.Random, float], Activity]


@dataclass(frozen=True)
class StepReport:
    instance: str
    step: int
    clock: datetime
    changes: dict[str, tuple[int, int, int]]

    def summary(self) -> str:
        parts = [f"{t} +{i}/~{u}/-{d}" for t, (i, u, d) in self.changes.items() if i or u or d]
        return (f"{self.instance}: step {self.step} to {self.clock:%Y-%m-%d %H:%M} UTC: "
                + (", ".join(parts) or "no changes"))


def generate(platform: Platform, url: str, instance: str, seed: int = 1,
             scale: float = 1.0) -> StepReport:
    """Create the instance's database and its history up to GENERATED_UNTIL."""
    _check_instance(platform, instance)
    if scale <= 0:
        raise GeneratorError(f"scale must be > 0, got {scale}")
    database = Database(url)
    if database.exists() and "sim_state" in database.existing_tables():
        raise GeneratorError(
            f"{platform.name} instance {instance!r}: database {database.name} is already "
            "generated (drop it first, or use `step` to move it forward)")
    create_schema(database, platform.schema_file)
    store = Store(database, platform.tables).load()
    activity = platform.activity(store, instance, derive_rng(platform.name, seed, instance, 0),
                                 scale)
    activity.bootstrap(HISTORY_START)
    with database.transaction() as session:
        store.flush(session)
        write_state(session, {"platform": platform.name, "instance": instance, "seed": seed,
                              "scale": scale, "step": 0, "clock": HISTORY_START.isoformat()})
    return _advance(platform, database, instance, GENERATED_UNTIL)


def step(platform: Platform, url: str, instance: str, minutes: float = 60) -> StepReport:
    """Move a generated instance forward by `minutes` of activity."""
    _check_instance(platform, instance)
    if minutes <= 0:
        raise GeneratorError(f"minutes must be > 0, got {minutes}")
    database = Database(url)
    state = _state(platform, database, instance)
    until = parse_clock(state["clock"]) + timedelta(minutes=minutes)
    return _advance(platform, database, instance, until)


def _advance(platform: Platform, database: Database, instance: str,
             until: datetime) -> StepReport:
    state = _state(platform, database, instance)
    start = parse_clock(state["clock"])
    number = int(state["step"]) + 1
    rng = derive_rng(platform.name, state["seed"], instance, number)
    store = Store(database, platform.tables).load()
    activity = platform.activity(store, instance, rng, float(state["scale"]))
    moment = start
    while moment < until:
        end = min(moment + SLICE, until)
        activity.run_slice(moment, end)
        moment = end
    activity.ugly_cases(start, until, number)
    with database.transaction() as session:
        changes = store.flush(session)
        write_state(session, {"step": number, "clock": until.isoformat()})
    return StepReport(instance, number, until, changes)


def _state(platform: Platform, database: Database, instance: str) -> dict[str, str]:
    if not database.exists() or "sim_state" not in database.existing_tables():
        raise GeneratorError(f"{platform.name} instance {instance!r}: database {database.name} "
                             "is not generated yet (run `generate` first)")
    state = read_state(database)
    if state.get("platform") != platform.name or state.get("instance") != instance:
        raise GeneratorError(
            f"{platform.name} instance {instance!r}: database {database.name} holds "
            f"{state.get('platform')} instance {state.get('instance')!r}")
    return state


def _check_instance(platform: Platform, instance: str) -> None:
    if instance not in platform.instances:
        raise GeneratorError(f"unknown {platform.name} instance {instance!r} "
                             f"(known: {', '.join(platform.instances)})")
