"""The DuckDB load path: one connection per run, released (and checkpointed) when the run ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.ingestion.conftest import Home


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


def test_a_run_opens_the_warehouse_once_and_releases_it(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    connect = duckdb.connect

    def counting_connect(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting_connect)
    path = home.settings.duckdb_path
    first = home.ingest()
    assert first.ok, first.summary()
    assert first.rows_loaded > 0
    # Probe, state sync, extraction's queries, the load and the run log: one open of the file.
    assert opened.count(str(path)) == 1, opened
    # Closed, hence checkpointed: no WAL left, and another process can write to the file.
    assert not Path(f"{path}.wal").exists()
    runs = int(_open_elsewhere(path))
    assert runs == len(first.records)

    opened.clear()
    second = home.ingest()  # nothing changed: the no-change path, on its own connection
    assert second.ok and second.unchanged, second.summary()
    assert opened.count(str(path)) == 1, opened
    assert int(_open_elsewhere(path)) == runs + len(second.records)
