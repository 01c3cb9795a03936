"""Platform profiles (`platforms/<name>/`) and the plugin point of their demo packages.

A profile is chosen with `warehouse --platform NAME` or TW_PLATFORM (default `reference`); its
`platforms/<name>/tables.yml` is the ingestion config unless --config / TW_CONFIG names another.

The product never imports a demo. `warehouse demo|generate|simulate` and the oracle comparison
(tests/support/verify.py) reach a platform's generator, simulator and oracle only through the
Python entry point group `tenant_warehouse.platforms`: a demo package registers, under the
profile's name, an object (or a function returning one) with the attributes of `DemoHooks`:

    [project.entry-points."tenant_warehouse.platforms"]
    reference = "reference_platform.plugin:HOOKS"

A profile without a registered demo is a real platform: ingest, build, run and every other
command work; only the demo commands refuse it, with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from tenant_warehouse.settings import DEFAULT_PLATFORM, PLATFORM_ENV, PLATFORMS_DIR

ENTRY_POINT_GROUP = "tenant_warehouse.platforms"

Progress = Callable[[str], None]
Rows = list[dict[str, Any]]


class PlatformError(ValueError):
    """Unknown platform, or a demo command for a platform without a demo; one-line message."""


@dataclass(frozen=True)
class DemoHooks:
    """What a platform's demo package gives the demo commands and the oracle comparison.

    Sources are addressed by URL (`Settings.source_url(instance)`): SQLite files under TW_HOME
    for the reference platform, PostgreSQL databases `tw_<platform>_<instance>` for the others.
    """

    name: str
    tables: tuple[str, ...]
    """The platform's source tables (the simulator's own bookkeeping tables excluded)."""
    generate: Callable[[str, str, int, float, Progress], Mapping[str, int]]
    """(url, instance, seed, scale, progress) -> rows written per table; recreates the source."""
    simulate: Callable[[str, str, int, int, float, Progress], str]
    """(url, instance, ticks, seed, tick_hours, progress) -> one-line summary of the activity."""
    source_exists: Callable[[str], bool]
    """(url) -> True when the source at url was generated."""
    truth: Callable[[Mapping[str, str]], dict[str, Rows]]
    """({instance: url}) -> expected rows of every mart the oracle covers, by mart name."""
    demo_scale: float = 1.0
    """The generator's volume for `warehouse demo|generate` without --scale."""
    current_rows: Callable[[str, str], Rows] | None = None
    """(url, table) -> the source table's current rows (timestamps as aware UTC datetimes);
    None when the demo has no raw-layer oracle."""


def current_platform() -> str:
    return os.environ.get(PLATFORM_ENV) or DEFAULT_PLATFORM


def available_platforms() -> list[str]:
    """Profiles shipped in platforms/: every folder holding a tables.yml."""
    if not PLATFORMS_DIR.is_dir():
        return []
    return sorted(p.name for p in PLATFORMS_DIR.iterdir() if (p / "tables.yml").is_file())


def check_platform(name: str) -> str:
    """`name` when platforms/<name>/ is a profile, else PlatformError listing the profiles."""
    available = available_platforms()
    if name not in available:
        raise PlatformError(
            f"unknown platform {name!r}: no {PLATFORMS_DIR / name / 'tables.yml'} "
            f"(available: {', '.join(available) or 'none'})"
        )
    return name


def platform_config(name: str) -> Path:
    """The profile's ingestion config."""
    return PLATFORMS_DIR / name / "tables.yml"


def registered_demos() -> list[str]:
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


def demo_hooks(name: str | None = None) -> DemoHooks:
    """The demo hooks registered for platform `name` (default: the current platform)."""
    name = name or current_platform()
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            hooks = point.load()
            return hooks() if callable(hooks) and not isinstance(hooks, DemoHooks) else hooks
    raise PlatformError(
        f"platform {name!r} has no demo: no package registers it in the entry point group "
        f"{ENTRY_POINT_GROUP!r} (registered: {', '.join(registered_demos()) or 'none'}; "
        "after editing pyproject.toml, reinstall with `pip install --no-deps -e .`)"
    )
