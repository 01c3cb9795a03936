"""Concurrency: a second run started while one is running is refused with a clear message (the
run lock under TW_HOME), and neither corrupts the other.

The first run is a child ingestion held inside its extraction (tests/faults/crash_driver.py,
TW_FAULT_HOLD_AT) while the test starts the second: in process, as `warehouse ingest`, and as a
whole `warehouse run` cycle, which must not build on top of the running load either.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingestion.errors import IngestionLocked
from tenant_warehouse.settings import PROJECT_DIR
from tests.faults.crash import ingestion_command
from tests.faults.harness import FaultPipeline
from tests.faults.matrix import MATRIX

WAREHOUSE = str(Path(sys.executable).parent / "warehouse")


class HeldRun:
    """A child ingestion that waits inside extraction until released."""

    def __init__(self, pipeline: FaultPipeline, release: Path, stage: str = "extract:batch:1"):
        env = pipeline.child_env()
        env.update({"TW_FAULT_HOLD_AT": stage, "TW_FAULT_RELEASE": str(release)})
        self.release = release
        self.process = subprocess.Popen(ingestion_command(), cwd=PROJECT_DIR, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("@@ holding"):
                return
        raise AssertionError("the held run ended before holding:\n" + "".join(self.lines))

    def finish(self) -> int:
        self.release.touch()
        assert self.process.stdout is not None
        self.lines += self.process.stdout.readlines()
        return self.process.wait(timeout=300)


def cli(pipeline: FaultPipeline, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([WAREHOUSE, *args], cwd=PROJECT_DIR, env=pipeline.child_env(),
                          capture_output=True, text=True, timeout=600)


def test_a_second_run_is_refused_and_neither_corrupts_the_other(fresh: FaultPipeline,
                                                                 tmp_path: Path) -> None:
    fresh.simulate(seed=9, ticks=1, tick_hours=6)
    held = HeldRun(fresh, tmp_path / "release")
    try:
        pid = held.process.pid
        with pytest.raises(IngestionLocked) as refused:
            fresh.run_ingestion()
        assert str(refused.value).startswith(f"another ingestion run is in progress (pid {pid}, ")
        ingest = cli(fresh, "ingest")
        run = cli(fresh, "run")
    finally:
        code = held.finish()
    assert code == 0, "".join(held.lines)
    for name, result in (("ingest", ingest), ("run", run)):
        output = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == 75, f"warehouse {name}:\n{output}"
        assert f"another ingestion run is in progress (pid {pid}" in output, output
        assert "Traceback" not in output, output
    assert "dbt build" not in run.stdout, run.stdout  # the refused cycle built nothing

    # Neither corrupted the other: the held run loaded everything, and the next one is exact.
    checks = fresh.check_raw() + fresh.check_staging()
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()
    report = fresh.run_ingestion()
    assert report.ok and report.rows_loaded == 0, report.summary()
    MATRIX.runs += 4
    MATRIX.scenario("concurrency: a second run while one runs",
                    "refused (in process, `warehouse ingest`, `warehouse run`: exit 75, message "
                    "names the pid and lock file); the first completes, raw exact")


@pytest.mark.parametrize("command", ["run", "build", "ingest", "rerun --select uk.orders"])
def test_a_warehouse_write_is_refused_while_a_cycle_holds_the_lock(
    fresh: FaultPipeline, command: str
) -> None:
    """`warehouse run`, a manual `warehouse build` (a 239-line traceback before), `ingest` or
    `rerun` while a cycle holds the one warehouse lock: refused at once, one line, exit 75,
    nothing ingested or built, and the cycle's build state is not forgotten."""
    from ingestion.lock import WAREHOUSE_LOCK_FILE, RunLock

    with fresh.environment() as settings:
        state = settings.home / "build_state.json"
        state.write_text("{}")
        with RunLock(settings.home / WAREHOUSE_LOCK_FILE, holder="warehouse run"):
            started = time.monotonic()
            result = cli(fresh, *command.split())
            elapsed = time.monotonic() - started
        assert state.exists()  # a refused build does not make the next cycle whole
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 75, output
    assert output.startswith("refused: another command that writes the warehouse is in progress "
                             "(warehouse run, pid "), output
    assert len(output.splitlines()) == 1 and "Traceback" not in output, output
    assert elapsed < 60  # refused at once, nothing ingested or built
    MATRIX.scenario(f"concurrency: warehouse {command} while a cycle holds the warehouse lock",
                    "refused at once (exit 75, one line naming the holder), nothing done")
