"""Copies of the dbt project, for tests that must add or break files without touching the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from tenant_warehouse.settings import PROJECT_DIR

# Everything dbt reads; nothing generated (target/, logs/), no venv, no working data.
PROJECT_ENTRIES = (
    "dbt_project.yml",
    "profiles.yml.example",
    "packages.yml",
    "selectors.yml",
    ".sqlfluff",
    ".sqlfluffignore",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "analyses",
    "tests/dbt",
    "platforms",
)


def copy_dbt_project(destination: Path, source: Path = PROJECT_DIR) -> Path:
    """Copy the dbt parts of `source` to `destination` (created) and return it."""
    destination.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT_ENTRIES:
        src = source / entry
        dst = destination / entry
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return destination
