"""Run dbt as a subprocess against this project, with the profile and target chosen by settings.

A subprocess (not dbtRunner in-process) keeps dbt's global state out of long-running commands
and lets a crash of dbt be a crash of dbt only. The child never outlives the command: it runs in
its own process group with a parent-death signal (Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`), so
a `kill -9` of `warehouse run` kills its dbt too instead of leaving it writing (and holding the
DuckDB file) behind a cycle that is gone; any other exit of the parent kills the group.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tenant_warehouse.settings import PROJECT_DIR, Settings

WAREHOUSES = ("duckdb", "postgres", "bigquery")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
    env.setdefault("TW_PLATFORM", settings.platform)  # the profile dbt_project.yml adds
    env.setdefault("TW_DUCKDB_PATH", str(settings.duckdb_path))
    env["DBT_PROFILES_DIR"] = str(prepare_profiles(settings))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # Keep dbt's logs and artifacts per TW_HOME so parallel test sessions never share them.
    env.setdefault("DBT_LOG_PATH", str(settings.home / "dbt_logs"))
    env.setdefault("DBT_TARGET_PATH", str(settings.home / f"dbt_target_{target}"))
    return env


def _die_with_parent(parent_pid: int) -> None:
    """In the child, before exec: SIGKILL when the parent dies (kept across exec). If the
    parent is already gone (killed between fork and here), exit at once."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def start_child(command: list[str], **options: object) -> subprocess.Popen[str]:
    """Popen of a child that dies with this process and is in its own process group."""
    parent = os.getpid()
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        command, preexec_fn=lambda: _die_with_parent(parent), process_group=0, **options
    )


def stop_child(process: subprocess.Popen[str]) -> None:
    """Kill the child's whole group (it may have started its own children)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _journal_step(args: list[str]) -> None:
    from tenant_warehouse.monitoring.journal import current_command

    command = current_command()
    if command is not None:
        command.step(f"dbt {' '.join(a for a in args[:2] if not a.startswith('-'))}")


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
    _journal_step(args)
    process = start_child(
        command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
        return DbtResult(command, process.wait(), "".join(lines))
    finally:
        stop_child(process)  # Ctrl-C or an error here: dbt does not go on alone


def generate_docs(settings: Settings, target: str = "duckdb") -> tuple[DbtResult, Path]:
    """`dbt docs generate` with this project's profile: the site (index.html, manifest.json,
    catalog.json) lands in the target's DBT_TARGET_PATH under TW_HOME."""
    result = run_dbt(settings, ["docs", "generate"], target=target, echo=True)
    return result, Path(dbt_env(settings, target)["DBT_TARGET_PATH"])


def serve_docs(settings: Settings, target: str, host: str, port: int) -> DbtResult:
    """`dbt docs serve` of the generated site until Ctrl-C (it does not read the warehouse)."""
    return run_dbt(
        settings, ["docs", "serve", "--host", host, "--port", str(port), "--no-browser"],
        target=target, echo=True,
    )
