"""The load path: DuckDB opened once per phase of a run (pipeline._phase) and released when
the run ends; `warehouse ingest` ends its process once the run is committed and reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tenant_warehouse.settings import PROJECT_DIR
from tests.ingestion.conftest import Home

WAREHOUSE = str(Path(sys.executable).parent / "warehouse")


def _open_elsewhere(path: Path) -> str:
    """Open the file read-write in another process (refused while this one holds it)."""
    code = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print(con.execute('SELECT count(*) FROM raw._tw_ingestion_runs').fetchone()[0])\n"
        "con.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _file_is_open(path: Path) -> bool:
    """This process holds `path` open (Linux: /proc/self/fd)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                return True
        except OSError:
            continue
    return False


def test_a_run_opens_the_warehouse_once_per_phase_and_releases_it(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = home.settings.duckdb_path
    cold: list[str] = []  # connections that had to open the file (not the open database)
    connect = duckdb.connect

    def counting_connect(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        if str(database) == str(path) and not _file_is_open(path):
            cold.append(str(database))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting_connect)
    first = home.ingest()
    assert first.ok, first.summary()
    assert first.rows_loaded > 0
    # Set-up (probe, state sync, raw's counts), extraction, and normalize-to-load (data and run
    # log) each hold one connection that dlt's own clients reuse: three opens of the file.
    assert len(cold) == 3, cold
    # Released, hence checkpointed: no WAL left, and another process can write to the file.
    assert not Path(f"{path}.wal").exists()
    runs = int(_open_elsewhere(path))
    assert runs == len(first.records)

    cold.clear()
    second = home.ingest()  # nothing changed: the no-change path, inside the set-up phase
    assert second.ok and second.unchanged, second.summary()
    assert len(cold) == 1, cold
    assert int(_open_elsewhere(path)) == runs + len(second.records)


def test_a_load_merging_many_rows_gives_each_dlt_client_its_own_database(
    loaded_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above HOLD_MAX_MERGED_ROWS the load phase holds no connection (DuckDB's memory limit:
    the staging copy stayed in the shared buffer pool during the merge); the rows are the same."""
    from ingestion import pipeline
    from tests.ingestion.helpers import sqlite_execute

    path = loaded_home.settings.duckdb_path
    opens: list[str] = []
    connect = duckdb.connect

    def counting_connect(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        if str(database) == str(path) and not _file_is_open(path):
            opens.append(str(database))
        return connect(database, *args, **kwargs)

    def touch_messages(minutes: int) -> None:
        # Past the newest cursor: in the next run's window.
        sqlite_execute(loaded_home.url("uk"), "UPDATE messages SET status = 'read', updated_at ="
                       f" datetime((SELECT max(updated_at) FROM messages), '+{minutes} minutes')"
                       " WHERE id % 7 = 0")

    monkeypatch.setattr(duckdb, "connect", counting_connect)
    touch_messages(1)
    held = loaded_home.ingest()  # a small merge: normalize to load in one connection
    assert held.ok and held.rows_loaded > 0, held.summary()
    held_opens = len(opens)

    opens.clear()
    monkeypatch.setattr(pipeline, "HOLD_MAX_MERGED_ROWS", 0)
    touch_messages(2)
    own = loaded_home.ingest()
    assert own.ok and own.rows_loaded == held.rows_loaded, own.summary()
    assert len(opens) > held_opens, (opens, held_opens)  # each client opened the file
    loaded_home.assert_raw_equals_source(tables=["messages"])


def test_warehouse_ingest_exits_with_the_runs_outcome_after_committing_it(tmp_path: Path) -> None:
    """The process's own command line: exit code, whole output, committed rows."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "targets.csv").write_text("Region,Target\nnorth,2\nsouth,3\n")

    def ingest(file: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"{file}.yml"
        config.write_text(yaml.safe_dump({
            "version": 1,
            "instances": {"sheets": {"kind": "spreadsheets", "path": "data",
                                     "tables": {"targets": {"file": file}}}},
            "tables": {"targets": {"primary_key": "none",
                                   "columns": {"region": "text", "target": "double"}}},
        }))
        env = {**os.environ, "TW_HOME": str(tmp_path / "home"), "TW_CONFIG": str(config),
               "DLT_DATA_DIR": str(tmp_path / "home" / "dlt")}
        env.pop("TW_DUCKDB_PATH", None)
        return subprocess.run([WAREHOUSE, "ingest"], cwd=PROJECT_DIR, env=env,
                              capture_output=True, text=True, timeout=300)

    done = ingest("targets.csv")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, output
    assert "read 2 rows" in output and "Traceback" not in output, output
    path = tmp_path / "home" / "warehouse.duckdb"
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw.targets").fetchone() == (2,)
    finally:
        con.close()

    failed = ingest("gone.csv")
    output = " ".join((failed.stdout + failed.stderr).split())
    assert failed.returncode == 1, output
    assert "instance sheets, table targets: file" in output and "file not found" in output, output
