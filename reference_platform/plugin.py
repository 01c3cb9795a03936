"""The reference platform's demo hooks, registered for `warehouse demo|generate|simulate` and the
oracle comparison through the entry point group `tenant_warehouse.platforms` (pyproject.toml).

The product (tenant_warehouse/platforms.py) loads them by entry point; it never imports this
package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reference_platform.schema import PLATFORM_TABLE_NAMES
from tenant_warehouse.platforms import DemoHooks, Progress


def _generate(url: str, instance: str, seed: int, scale: float,
              progress: Progress) -> Mapping[str, int]:
    from reference_platform.generator import generate

    return generate(url, instance, seed=seed, scale=scale, progress=progress)


def _simulate(url: str, instance: str, ticks: int, seed: int, tick_hours: float,
              progress: Progress) -> str:
    from reference_platform.simulator import simulate

    summary = simulate(url, instance, ticks=ticks, seed=seed, tick_hours=tick_hours,
                       progress=progress)
    changes = ", ".join(
        f"{t} +{summary.inserted[t]}/~{summary.updated[t]}/-{summary.deleted[t]}"
        for t in PLATFORM_TABLE_NAMES
        if summary.inserted[t] or summary.updated[t] or summary.deleted[t])
    ticks_done = (f"tick {summary.last_tick}" if summary.first_tick == summary.last_tick
                  else f"ticks {summary.first_tick}-{summary.last_tick}")
    return f"{ticks_done} to {summary.clock_end:%Y-%m-%d %H:%M} UTC: " + (
        changes or "no changes")


def _source_exists(url: str) -> bool:
    from reference_platform.database import Database

    return Database(url).exists()


def _truth(urls: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    from reference_platform.truth import compute_truth

    return compute_truth(dict(urls))


def _current_rows(url: str, table: str) -> list[dict[str, Any]]:
    from reference_platform.truth import latest_rows

    return latest_rows(url, table)


HOOKS = DemoHooks(
    name="reference", tables=tuple(PLATFORM_TABLE_NAMES), generate=_generate,
    simulate=_simulate, source_exists=_source_exists, truth=_truth, demo_scale=0.02,
    current_rows=_current_rows,
)
