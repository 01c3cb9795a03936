"""Run dbt as a subprocess against this project, with the profile and target chosen by settings.

A subprocess (not dbtRunner in-process) keeps dbt's global state out of long-running commands
and lets a crash of dbt be a crash of dbt only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tenant_warehouse.settings import PROJECT_DIR, Settings

WAREHOUSES = ("duckdb", "postgres", "bigquery")


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def prepare_profiles(settings: Settings) -> Path:
    """Use DBT_PROFILES_DIR when given, else a copy of profiles.yml.example under TW_HOME."""
    given = os.environ.get("DBT_PROFILES_DIR")
    if given:
        return Path(given)
    settings.profiles_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", settings.profiles_dir / "profiles.yml")
    return settings.profiles_dir


def dbt_env(settings: Settings, target: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TW_TARGET"] = target
    env.setdefault("TW_DUCKDB_PATH", str(settings.duckdb_path))
    env["DBT_PROFILES_DIR"] = str(prepare_profiles(settings))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # Keep dbt's logs and artifacts per TW_HOME so parallel test sessions never share them.
    env.setdefault("DBT_LOG_PATH", str(settings.home / "dbt_logs"))
    env.setdefault("DBT_TARGET_PATH", str(settings.home / f"dbt_target_{target}"))
    return env


def run_dbt(
    settings: Settings,
    args: list[str],
    target: str = "duckdb",
    echo: bool = False,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    env = dbt_env(settings, target)
    if extra_env:
        env.update(extra_env)
    command = [dbt_executable(), *args]
    if echo:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            sys.stdout.write(line)
        return DbtResult(command, process.wait(), "".join(lines))
    completed = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    return DbtResult(command, completed.returncode, completed.stdout + completed.stderr)
