"""Run dbt against this project, with the profile and target chosen by settings.

By default dbt runs as a subprocess: it keeps dbt's global state out of one-off commands and
lets a crash of dbt be a crash of dbt only. The child never outlives the command: it runs in
its own process group with a parent-death signal (Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`), so
a `kill -9` of `warehouse run` kills its dbt too instead of leaving it writing (and holding the
DuckDB file) behind a cycle that is gone; any other exit of the parent kills the group.

Inside `warm_dbt()` (the watch loop, `warehouse run --watch`) dbt runs in this process instead,
through its programmatic runner (`dbtRunner`), with the parsed manifest kept between cycles and
parsed again only when a project file (cycle_build.project_fingerprint), the target or a TW_/DBT_
setting changed: a cycle pays neither the interpreter's and dbt's imports nor the parse (~3-12 s
on 2 cores). dbt-duckdb closes the DuckDB file when an invocation's last connection closes, so
between cycles other processes can read the warehouse as before; a kill of the process ends its
dbt with it by construction.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    _journal_step(args)
    if _WARM is not None and args and args[0] in WARM_COMMANDS:
        return _WARM.invoke(args, target, env, echo)
    command = [dbt_executable(), *args]
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


# --- warm dbt: in this process, the parsed manifest kept between invocations -----------------

# Commands that run and end (`docs serve` does not end; `deps`/`clean` change the project).
WARM_COMMANDS = ("build", "run", "test", "seed", "snapshot", "source", "compile")
_WARM: WarmDbt | None = None


@dataclass
class WarmDbt:
    """dbtRunner with the manifest of each (target, project, settings) kept."""

    manifests: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(target, settings key) -> (project fingerprint, Manifest)"""
    parses: list[str] = field(default_factory=list)
    """why each parse happened: `new settings` (the first call of a target) or `project changed`"""
    invocations: int = 0

    def invoke(self, args: list[str], target: str, env: dict[str, str], echo: bool) -> DbtResult:
        from dbt.cli.main import dbtRunner

        from tenant_warehouse.cycle_build import project_fingerprint

        lines: list[str] = []

        def keep(event: Any) -> None:
            if event.info.level in ("info", "warn", "error") and event.info.msg:
                lines.append(f"{event.info.msg}\n")

        flags = ["--log-level", "info" if echo else "none"]
        if not sys.stdout.isatty():
            flags.append("--no-use-colors")  # plain lines to pipes and log files
        with _environment(env):
            manifest = None
            if "--vars" not in args:  # vars change what is parsed: such a call parses itself
                key = (target, _settings_key(env))
                fingerprint = project_fingerprint()
                kept = self.manifests.get(key)
                if kept is None or kept[0] != fingerprint:
                    parsed = dbtRunner(callbacks=[keep]).invoke(
                        ["parse", "--log-level", "none"]
                    )
                    _reraise_interrupt(parsed.exception)
                    self.parses.append("new settings" if kept is None else "project changed")
                    if not parsed.success or parsed.result is None:
                        return DbtResult(["dbt", "parse"], 2, "".join(lines) + _explain(parsed))
                    kept = self.manifests[key] = (fingerprint, parsed.result)
                manifest = kept[1]
            try:
                result = dbtRunner(manifest=manifest, callbacks=[keep]).invoke([*args, *flags])
            finally:
                _close_duckdb()
        self.invocations += 1
        _reraise_interrupt(result.exception)
        returncode = 0 if result.success else (2 if result.exception is not None else 1)
        output = "".join(lines) + (_explain(result) if result.exception is not None else "")
        return DbtResult(["dbt", *args], returncode, output)


@contextlib.contextmanager
def warm_dbt() -> Iterator[WarmDbt]:
    """Within: run_dbt runs dbt in this process, reusing parsed manifests (see the module doc)."""
    global _WARM
    previous, _WARM = _WARM, WarmDbt()
    try:
        yield _WARM
    finally:
        _WARM = previous


def _close_duckdb() -> None:
    """dbt-duckdb keeps its database open in the process after an invocation (its environment
    is a class attribute): close it, so the warehouse file is free between cycles (for
    `warehouse status`, the web app, a reader opening it read-only, the next ingestion)."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(connections, "DuckDBConnectionManager", None)
    if manager is None:
        return
    with manager._LOCK:
        environment, manager._ENV = manager._ENV, None
        if environment is not None:
            environment.close()


def _settings_key(env: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(env.items()) if k.startswith(("TW_", "DBT_")))


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ and the working directory as the dbt child would have them, for one call."""
    saved, cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(PROJECT_DIR)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def _reraise_interrupt(exception: BaseException | None) -> None:
    if isinstance(exception, KeyboardInterrupt | SystemExit):
        raise exception


def _explain(result: Any) -> str:
    exception = result.exception
    return "" if exception is None else f"dbt failed: {type(exception).__name__}: {exception}\n"
