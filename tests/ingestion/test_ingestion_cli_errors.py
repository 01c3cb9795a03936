"""Every config or command-line mistake: one line naming file, key, instance or table and what
is expected, exit code 2, no traceback; a mistyped selection leaves nothing behind."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingestion.config import DEFAULT_PATH
from tenant_warehouse.cli import main

PACKAGED = str(DEFAULT_PATH)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("TW_HOME", str(path))
    # Set (empty = unset), so that monkeypatch restores it after main() points it at --config.
    monkeypatch.setenv("TW_CONFIG", "")
    return path


def _config_with(tmp_path: Path, change: Any) -> Path:
    document = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8")))
    change(document)
    path = tmp_path / "platform.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors exit from parse_args
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert captured.out == "", captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return code, lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ingest", "--instances", "uk,xx"],
         f"error: {PACKAGED}: instances: unknown instance 'xx' (configured: uk, au, fr)"),
        (["ingest", "--tables", "orders,ordrs"],
         f"error: {PACKAGED}: tables: unknown table 'ordrs' (configured: organizations, users, "
         "contacts, orders, order_items, messages)"),
        (["ingest", "--tables", "sim_clock"],
         f"error: {PACKAGED}: exclude: table 'sim_clock' is excluded from ingestion"),
        (["run", "--instances", "xx"],
         f"error: {PACKAGED}: instances: unknown instance 'xx'"),
        (["status", "--tables", "ordrs"], f"error: {PACKAGED}: tables: unknown table 'ordrs'"),
        (["backfill", "--table", "ordrs", "--since", "2024-01-01"],
         f"error: {PACKAGED}: tables: unknown table 'ordrs'"),
        (["ingest", "--warehouse", "duck"],
         "error: warehouse ingest: argument --warehouse: invalid choice: 'duck'"),
        (["ingest", "--reconcile", "yes"], "error: warehouse: unrecognized arguments: yes"),
        (["--config", "/nonexistent/platform.yml", "ingest"],
         "error: /nonexistent/platform.yml: cannot read the ingestion config"),
        (["status", "--config", "/nonexistent/platform.yml"],
         "error: /nonexistent/platform.yml: cannot read the ingestion config"),
    ],
)
def test_selection_and_argument_mistakes(
    argv: list[str], message: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _run(argv, capsys)
    assert code == 2
    assert line.startswith(message), line
    # Refused before anything ran: no home, hence no lock, warehouse, run log, counts, alerts.
    assert not home.exists() or not any(home.iterdir()), sorted(home.iterdir())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["tables"]["orders"]["columns"].update(total_cents="decimal(40,2)"),
         "tables.orders.columns.total_cents.type: decimal precision 40 out of range "
         "(expected 1 <= P <= 38)"),
        (lambda d: d["tables"]["contacts"]["columns"].update(phone="bytes"),
         "tables.contacts.columns.phone.policy: a bytes column needs policy hash"),
        (lambda d: d.update(instances={"uk": {"source_time_zone": "Europe/Lundun"}}),
         "instances.uk.source_time_zone: unknown time zone 'Europe/Lundun'"),
        (lambda d: d["tables"]["orders"].update(cursor="none", reconcile_every=5),
         "tables.orders.reconcile_every: does not apply to a table with cursor: none"),
        (lambda d: d["tables"]["orders"].update(primary_key="none", cursor="updated_at"),
         "tables.orders.cursor: a table with primary_key: none is replaced whole every run"),
        (lambda d: d["tables"]["orders"].update(instances=["uk", "de"]),
         "tables.orders.instances: unknown instance 'de'"),
    ],
)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_config_mistakes_name_file_and_key(
    change: Any,
    message: str,
    how: str,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _config_with(tmp_path, change)
    if how == "option":
        argv = ["ingest", "--config", str(path)]
    else:
        monkeypatch.setenv("TW_CONFIG", str(path))
        argv = ["ingest"]
    code, line = _run(argv, capsys)
    assert code == 2
    shown = path.resolve() if how == "option" else path
    assert line.startswith(f"error: {shown}: {message}"), line
    assert not home.exists() or not any(home.iterdir())


def test_instances_come_only_from_the_chosen_config(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A config with other instances: the reference platform's uk/au/fr are unknown to it.
    path = _config_with(tmp_path, lambda d: d.update(instances={"nl": {}, "be": {}}))
    code, line = _run(["ingest", "--config", str(path), "--instances", "uk"], capsys)
    assert code == 2
    assert line == f"error: {path.resolve()}: instances: unknown instance 'uk' (configured: nl, be)"
