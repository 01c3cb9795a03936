"""`warehouse lint-sql`: sqlfluff with the dbt templater over the project's SQL.

Style rules come from the project's `.sqlfluff`; this module only supplies what must not depend
on the machine: a DuckDB profile copied from profiles.yml.example into a temporary directory, a
throwaway DuckDB file (linting must never open, lock or create the real warehouse), dbt's target
and logs under TW_HOME, and `dbt_skip_compilation_error = False` so a model that does not
compile fails the lint instead of being skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tenant_warehouse.settings import PROJECT_DIR, Settings

# dbt's templater skips macro files (they are linted through the models that call them), but
# they are listed so a macro-only .sqlfluffignore mistake or parse error still shows up.
LINTED_PATHS = ("models", "macros", "snapshots", "tests/dbt", "analyses")
# A platform profile's SQL compiles only with that profile active (TW_PLATFORM): each is linted
# in its own run; the product's paths once, with the default profile.
PROFILE_PATHS = ("models", "macros", "tests")
DEFAULT_PLATFORM = "reference"


def lint_runs(project_dir: Path, paths: Sequence[str] | None) -> list[tuple[str | None, list[str]]]:
    """(TW_PLATFORM, paths) of each sqlfluff run: the given paths once as the environment has it,
    else the product's paths and every profile's own."""
    if paths is not None:
        return [(None, list(paths))]
    product = [p for p in LINTED_PATHS if (project_dir / p).is_dir()]
    platforms_dir = project_dir / "platforms"
    profiles = sorted(d.name for d in platforms_dir.iterdir() if d.is_dir()) if platforms_dir.is_dir() else []
    runs: list[tuple[str | None, list[str]]] = []
    for name in profiles:
        own = [f"platforms/{name}/{sub}" for sub in PROFILE_PATHS if (platforms_dir / name / sub).is_dir()]
        shared = product if name == DEFAULT_PLATFORM else []
        if own or shared:
            runs.append((name, shared + own))
    if DEFAULT_PLATFORM not in profiles:
        runs.insert(0, (None, product))
    return runs
LINT_TIMEOUT_SECONDS = 1800


def _override_config(scratch: Path, settings: Settings, project_dir: Path) -> Path:
    profiles_dir = scratch / "profiles"
    profiles_dir.mkdir()
    example = project_dir / "profiles.yml.example"
    shutil.copyfile(
        example if example.exists() else PROJECT_DIR / "profiles.yml.example",
        profiles_dir / "profiles.yml",
    )
    config = scratch / "lint.sqlfluff"
    config.write_text(
        "[sqlfluff]\n"
        "templater = dbt\n"
        "dialect = duckdb\n"
        "\n"
        "[sqlfluff:templater:dbt]\n"
        f"project_dir = {project_dir}\n"
        f"profiles_dir = {profiles_dir}\n"
        "profile = tenant_warehouse\n"
        "target = duckdb\n"
        f"target_path = {settings.home / 'sqlfluff_target'}\n"
        "dbt_skip_compilation_error = False\n"
    )
    return config


def lint_command(config: Path, paths: Sequence[str], fix: bool) -> list[str]:
    action = ["fix"] if fix else ["lint"]
    # --config adds to (and overrides) the project's .sqlfluff; it does not replace it.
    return [
        sys.executable, "-m", "sqlfluff", *action, *paths, "--config", str(config),
        "--processes", "1", "--disable-progress-bar",
    ]  # fmt: skip


def lint_sql(
    settings: Settings,
    paths: Sequence[str] | None = None,
    fix: bool = False,
    project_dir: Path = PROJECT_DIR,
) -> int:
    """Lint (or fix) the project's SQL; returns sqlfluff's exit code (0 when clean)."""
    project_dir = project_dir.resolve()
    worst = 0
    for platform, run_paths in lint_runs(project_dir, paths):
        with tempfile.TemporaryDirectory(prefix="tw_lint_") as tmp:
            scratch = Path(tmp)
            env = dict(os.environ)
            env.update(
                TW_TARGET="duckdb",
                TW_DUCKDB_PATH=str(scratch / "lint.duckdb"),
                DBT_LOG_PATH=str(settings.home / "dbt_logs"),
                DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            )
            if platform is not None:
                env["TW_PLATFORM"] = platform
            # The config file names the profiles dir; a user's DBT_PROFILES_DIR must not compete.
            env.pop("DBT_PROFILES_DIR", None)
            command = lint_command(_override_config(scratch, settings, project_dir), run_paths, fix)
            done = subprocess.run(
                command, cwd=project_dir, env=env, check=False, timeout=LINT_TIMEOUT_SECONDS
            )
        worst = max(worst, done.returncode)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="warehouse lint-sql", description="Lint the dbt project's SQL with sqlfluff."
    )
    parser.add_argument("paths", nargs="*", help=f"default: {' '.join(LINTED_PATHS)}")
    parser.add_argument("--fix", action="store_true", help="apply sqlfluff's fixes")
    args = parser.parse_args(argv)
    return lint_sql(Settings.from_env(), args.paths or None, fix=args.fix)


if __name__ == "__main__":
    sys.exit(main())
