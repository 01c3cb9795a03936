"""The command journal, the one warehouse lock, dbt's parent-death signal, status while the
warehouse is busy, plain output and private files: real processes, real locks, real DuckDB; no
dbt build (tests/faults/test_no_silent_failure.py runs the whole story through cycles)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ingestion.errors import IngestionLocked
from ingestion.lock import WAREHOUSE_LOCK_FILE, RunLock
from tenant_warehouse.monitoring import status as status_module
from tenant_warehouse.monitoring.journal import Journal, warehouse_write
from tenant_warehouse.monitoring.output import make_console
from tenant_warehouse.settings import PROJECT_DIR, Settings, make_private

HOLD = """
import sys, time
from tenant_warehouse.settings import Settings
from tenant_warehouse.monitoring.journal import warehouse_write
with warehouse_write(Settings(home=__import__('pathlib').Path(sys.argv[1])), 'run') as write:
    write.step('dbt build')
    print('holding', flush=True)
    time.sleep(120)
"""


def hold(home: Path) -> subprocess.Popen[str]:
    """A process inside `warehouse_write(..., 'run')`, at step `dbt build`, until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(home)], cwd=PROJECT_DIR,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "holding"
    return process


def test_the_lock_refuses_another_process_and_is_reentrant_within_one(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    holder = hold(tmp_path)
    try:
        with pytest.raises(IngestionLocked) as refused, warehouse_write(settings, "build"):
            pass
        assert str(refused.value).startswith(
            f"another command that writes the warehouse is in progress (warehouse run, pid "
            f"{holder.pid}, started ")
        # Status sees the command in progress from the journal alone.
        running = Journal(settings).in_progress(settings)
        assert running is not None and (running.command, running.step) == ("run", "dbt build")
    finally:
        holder.kill()
        holder.wait()
    with warehouse_write(settings, "demo") as outer, warehouse_write(settings, "build") as inner:
        assert inner is outer  # one process, one lock, one journal entry
    latest = Journal(settings).latest(1)[0]
    assert (latest.command, latest.status) == ("demo", "ok")


def test_a_killed_command_is_interrupted_until_recorded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    holder = hold(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    journal = Journal(settings)
    # Before any command runs again, status already shows it interrupted (lock free, still running).
    assert [(e.status, e.step) for e in journal.abandoned(settings)] == [("interrupted", "dbt build")]
    with warehouse_write(settings, "run") as write:
        assert [e.pid for e in write.interrupted] == [holder.pid]
    failures = journal.unrecorded_failures()
    assert [(e.command, e.status, e.step) for e in failures] == [("run", "interrupted", "dbt build")]
    assert "killed or crashed" in (failures[0].message or "")
    journal.mark_recorded([failures[0].entry_id])
    assert not journal.unrecorded_failures()


def test_dbt_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import time; from tenant_warehouse.dbt_runner import start_child;"
         " child = start_child(['sleep', '120']); print(child.pid, flush=True); time.sleep(120)"],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert os.getpgid(child) == child  # its own process group
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its killed parent")


def test_status_answers_at_once_while_a_build_holds_the_duckdb_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    monkeypatch.setenv("TW_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    Journal(settings).save_snapshot("open_alerts", [{
        "title": "WARNING tenant data problem: organization uk:2 has invalid time zone",
        "severity": "warning", "rule": "tenant_data_problem", "tenant_id": "uk:2",
        "instance_id": "uk"}])  # fmt: skip
    holder = hold(tmp_path)
    writer = subprocess.Popen(  # what dbt does during a build: hold the file for writing
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
         " print('open', flush=True); time.sleep(120)", str(tmp_path / "warehouse.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
        output = io.StringIO()
        monkeypatch.setattr(status_module, "console", make_console(file=output))
        started = time.monotonic()
        code = status_module.print_status(settings, "duckdb")
        elapsed = time.monotonic() - started
    finally:
        for process in (writer, holder):
            process.kill()
            process.wait()
    text = output.getvalue()
    assert elapsed < 2.0, elapsed
    assert "build in progress since" in text and "warehouse run (pid" in text, text
    assert "the warehouse is busy" in text and "organization uk:2 has invalid time zone" in text
    assert code == 1  # an open tenant data problem


def test_output_to_a_pipe_is_plain_and_complete() -> None:
    from rich.table import Table

    output = io.StringIO()
    console = make_console(file=output)
    console.rule("[bold]ingest")
    table = Table(title="ingestion")
    table.add_column("error", no_wrap=True, overflow="ellipsis")
    error = "instance uk, table organizations: not ingested: destination duckdb: " + "x" * 200
    table.add_row(error)
    console.print(table)
    lines = output.getvalue().splitlines()
    assert lines[0].startswith("== ") and lines[0].endswith(" UTC ingest ==")
    assert any(error in line for line in lines) and "…" not in output.getvalue()
    assert "\x1b[" not in output.getvalue()


def test_home_and_files_are_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "dlt").mkdir(parents=True)
    home.chmod(0o755)
    (home / "dlt").chmod(0o755)
    for name in ("warehouse.duckdb", "build_state.json", "pii_salt"):
        (home / name).write_text("x")
        (home / name).chmod(0o644)
    umask = os.umask(0o022)
    try:
        make_private(home)
        (home / "new.file").write_text("x")
        assert (home / "new.file").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)
    assert home.stat().st_mode & 0o777 == 0o700
    assert (home / "dlt").stat().st_mode & 0o777 == 0o700
    for name in ("warehouse.duckdb", "build_state.json", "pii_salt"):
        assert (home / name).stat().st_mode & 0o777 == 0o600, name
    assert WAREHOUSE_LOCK_FILE == "warehouse.lock" and RunLock  # the lock file is listed private
