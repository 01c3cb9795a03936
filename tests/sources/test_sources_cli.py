"""`warehouse ingest --config FILE` with a spreadsheets instance: the exit codes and one-line
messages the README documents (config mistake: 2; a source that cannot be read: 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tenant_warehouse.cli import main
from tests.sources.conftest import SourceHome


def write_config(folder: Path, file: str = "targets.csv") -> Path:
    document = {
        "version": 1,
        "instances": {
            "sheets": {"kind": "spreadsheets", "path": "data",
                       "tables": {"targets": {"file": file}}},
        },
        "tables": {"targets": {"primary_key": "none",
                               "columns": {"region": "text", "target": "double"}}},
    }
    path = folder / "tables.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_ingest_command_exit_codes(
    tmp_path: Path, source_home: SourceHome, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "targets.csv").write_text("Region,Target\nnorth,2\n", encoding="utf-8")
    config = write_config(tmp_path)
    # `--config` sets TW_CONFIG for the whole process; registered here so the test undoes it.
    monkeypatch.setenv("TW_CONFIG", str(config))

    assert main(["ingest", "--config", str(config)]) == 0
    capsys.readouterr()

    bad = write_config(tmp_path, file="targets.ods")
    assert main(["ingest", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"error: {bad}: instances.sheets.tables.targets.file: 'targets.ods': unsupported file "
        "type (expected .csv or .xlsx)\n"
    )

    missing = write_config(tmp_path, file="gone.csv")
    assert main(["ingest", "--config", str(missing)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"instance sheets, table targets: file {tmp_path / 'data' / 'gone.csv'}: file not found" in out
