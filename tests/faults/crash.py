"""SIGKILL a child process at a chosen or random moment: ingestion runs (tests/faults/crash_driver)
and dbt builds. The parent reads the child's stdout on a thread and kills it by its own pid."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenant_warehouse.settings import PROJECT_DIR

MARK = "@@"
# Every stage marker the driver emits (see crash_driver's docstring), in run order.
INGESTION_STAGES = (
    "lock", "prepare", "extract:start", "extract:batch", "extract:table", "state:save",
    "extract:end", "normalize:start", "normalize:commit", "normalize:end", "load:start",
    "load:job_start",
    "load:job_done", "load:package", "load:end",
)
# What the issue calls extract, normalize, load and state commit, for counting kills.
STAGE_GROUPS = {
    "lock": "extract", "prepare": "load", "extract:start": "extract", "extract:batch": "extract",
    "extract:table": "extract", "state:save": "state commit", "extract:end": "state commit",
    "normalize:start": "normalize", "normalize:commit": "normalize",
    "normalize:end": "normalize", "load:start": "load",
    "load:job_start": "load", "load:job_done": "load", "load:package": "state commit",
    "load:end": "load",
}


@dataclass(frozen=True)
class KillPlan:
    """`pause`: stop dead at the n-th `stage` marker and be killed there; `after`: killed
    `delay` seconds after the n-th `stage` marker (so somewhere inside the following stage);
    `time`: killed `delay` seconds after the process started."""

    mode: str
    stage: str = ""
    occurrence: int = 1
    delay: float = 0.0

    def describe(self) -> str:
        if self.mode == "time":
            return f"SIGKILL {self.delay:.2f}s after start"
        if self.mode == "pause":
            return f"SIGKILL at {self.stage} #{self.occurrence}"
        return f"SIGKILL {self.delay:.2f}s after {self.stage} #{self.occurrence}"


@dataclass
class ChildRun:
    plan: KillPlan | None
    killed: bool = False
    returncode: int | None = None
    last_stage: str | None = None
    """The last marker seen before the kill (or the end): where the kill landed."""
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def stage_group(self) -> str:
        return STAGE_GROUPS.get(self.last_stage or "", "startup")

    def output(self, limit: int = 4000) -> str:
        return "".join(self.lines)[-limit:]


def _reader(stream, sink: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        sink.put((time.monotonic(), line))
    sink.put((time.monotonic(), None))


def run_child(
    command: Sequence[str],
    env: Mapping[str, str],
    plan: KillPlan | None,
    cwd: Path = PROJECT_DIR,
    timeout: float = 600,
    stage_of: callable | None = None,  # type: ignore[valid-type]
) -> ChildRun:
    """Run `command`; kill it as `plan` says (None: let it finish)."""
    child_env = dict(env)
    if plan is not None and plan.mode == "pause":
        child_env["TW_FAULT_PAUSE_AT"] = f"{plan.stage}:{plan.occurrence}"
    else:
        child_env.pop("TW_FAULT_PAUSE_AT", None)
    started = time.monotonic()
    process = subprocess.Popen(
        list(command), cwd=cwd, env=child_env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    lines: queue.Queue = queue.Queue()
    thread = threading.Thread(target=_reader, args=(process.stdout, lines), daemon=True)
    thread.start()
    run = ChildRun(plan)
    deadline = None
    if plan is not None and plan.mode == "time":
        deadline = started + plan.delay
    finished = False
    while not finished:
        wait = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            _, line = lines.get(timeout=min(wait, 0.5) if deadline is not None else 0.5)
        except queue.Empty:
            line = ""
        if line is None:
            finished = True
            break
        if line:
            run.lines.append(line)
            stage, count = _marker(line, stage_of)
            if stage == "paused" and plan is not None and plan.mode == "pause":
                _kill(process)
                run.killed = True
                break
            if stage:
                run.last_stage = stage
                if (plan is not None and plan.mode == "after" and deadline is None
                        and stage == plan.stage and count == plan.occurrence):
                    deadline = time.monotonic() + plan.delay
        if deadline is not None and time.monotonic() >= deadline and process.poll() is None:
            _kill(process)
            run.killed = True
            break
        if time.monotonic() - started > timeout:
            _kill(process)
            raise TimeoutError(f"{command} ran longer than {timeout}s:\n{run.output()}")
    run.returncode = process.wait()
    # Drain what the child wrote before it died (the reader thread ends at EOF).
    thread.join(timeout=5)
    while not lines.empty():
        _, line = lines.get_nowait()
        if line:
            run.lines.append(line)
    if run.killed and run.returncode != -signal.SIGKILL:
        run.killed = False  # it finished just before the signal
    run.seconds = time.monotonic() - started
    return run


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)


def _marker(line: str, stage_of) -> tuple[str | None, int]:
    if stage_of is not None:
        return stage_of(line)
    if not line.startswith(MARK + " "):
        return None, 0
    parts = line.split()
    if parts[1] == "paused":
        return "paused", int(parts[-1])
    return parts[1], int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0


def ingestion_command(
    instances: Sequence[str] | None = None, tables: Sequence[str] | None = None,
    reconcile: str = "schedule",
) -> list[str]:
    command = [sys.executable, "-m", "tests.faults.crash_driver", "--reconcile", reconcile]
    if instances:
        command += ["--instances", ",".join(instances)]
    if tables:
        command += ["--tables", ",".join(tables)]
    return command


# --- dbt --------------------------------------------------------------------------------------

def dbt_stage(line: str) -> tuple[str | None, int]:
    """dbt's log lines as markers: `START <kind> ...` of each node, numbered by dbt."""
    if " START " not in line or " of " not in line:
        return None, 0
    head = line.split(" START ")[0].split()
    try:
        return "node", int(head[-3])
    except (ValueError, IndexError):
        return None, 0
