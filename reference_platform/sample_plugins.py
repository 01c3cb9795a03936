"""Demo hooks of the sample platforms (Open Food Network, Glific), registered for
`warehouse demo|generate|simulate --platform ofn|glific` through the entry point group
`tenant_warehouse.platforms` (pyproject.toml). Their sources are PostgreSQL databases, one per
instance; the product never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from reference_platform.database import Database
from reference_platform.samples.runner import GeneratorError, Platform, generate, step
from tenant_warehouse.platforms import DemoHooks, Progress


def _generated(url: str) -> bool:
    database = Database(url)
    return database.exists() and "sim_state" in database.existing_tables()


def _generate(platform: Platform, url: str, instance: str, seed: int, scale: float,
              progress: Progress) -> Mapping[str, int]:
    """Recreate the instance database (one this generator made, never another) with its history;
    returns the rows inserted per table."""
    database = Database(url)
    if database.exists():
        tables = database.existing_tables()
        if tables and "sim_state" not in tables:
            raise GeneratorError(
                f"{platform.name} instance {instance!r}: database {database.name} has tables but "
                "no sim_state (not a generated source): left alone")
        database.drop_database()
    progress(f"generate {platform.name} {instance}")
    report = generate(platform, url, instance, seed=seed, scale=scale)
    return {table: inserted for table, (inserted, _, _) in report.changes.items()}


def _simulate(platform: Platform, url: str, instance: str, ticks: int, seed: int,
              tick_hours: float, progress: Progress) -> str:
    """`ticks` steps of `tick_hours` (the seed is the one the database was generated with)."""
    summary = ""
    for _ in range(ticks):
        report = step(platform, url, instance, minutes=tick_hours * 60)
        summary = report.summary().removeprefix(f"{instance}: ")
        progress(summary)
    return summary


def _hooks(platform: Platform, truth: Any) -> DemoHooks:
    return DemoHooks(
        name=platform.name, tables=tuple(platform.tables),
        generate=partial(_generate, platform), simulate=partial(_simulate, platform),
        source_exists=_generated, truth=truth,
    )


def ofn() -> DemoHooks:
    from reference_platform.samples.ofn.generator import PLATFORM
    from reference_platform.samples.ofn.truth import compute_truth

    return _hooks(PLATFORM, lambda urls: compute_truth(dict(urls)))


def glific() -> DemoHooks:
    from reference_platform.samples.glific.generator import PLATFORM
    from reference_platform.samples.glific.truth import compute_truth

    return _hooks(PLATFORM, lambda urls: compute_truth(dict(urls)))
