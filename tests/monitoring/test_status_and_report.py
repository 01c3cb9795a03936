"""`warehouse status` and `warehouse report` on the failing warehouse: the failure shows red."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from tenant_warehouse import cli
from tenant_warehouse.monitoring import report, status
from tenant_warehouse.settings import Settings
from tests.support.environment import is_ci

RED = "\x1b[31m"


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Console:
    console = Console(record=True, force_terminal=True, color_system="standard", width=260)
    monkeypatch.setattr(status, "console", console)
    return console


def test_status_shows_the_failing_instance_red(warehouse_copy: Path, recorded: Console) -> None:
    code = cli.main(["status"])

    assert code == 1
    lines = recorded.export_text(styles=True, clear=False).splitlines()
    table_lines = {
        (match.group(1), match.group(2)): line
        for line in lines
        if (match := re.search(r"│\s*(uk|au|fr)\s*│\s*(\w+)\s*│", re.sub(r"\x1b\[[\d;]*m", "", line)))
    }
    assert len(table_lines) == 18  # every configured instance and table
    for (instance, _table), line in table_lines.items():
        if instance == "uk":
            assert RED in line and "FAILING" in line, line
            assert "connection refused" in line
        else:
            assert RED not in line and " ok " in line, line
    text = recorded.export_text()
    assert "dbt build: failed" in text  # the invocation whose test failed
    assert "not_null_stg_monitoring__row_counts_row_count" in text
    assert "failing: 6 table(s), 1 dbt node(s), 1 tenant(s) with a data problem" in text
    assert "organization uk:3 has invalid time zone 'Europe/Londn'" in text  # kept, named


def test_status_of_one_tenant(warehouse_copy: Path, recorded: Console) -> None:
    assert cli.main(["status", "--tenant", "fr:1"]) == 0
    text = recorded.export_text()
    assert "tenant fr:1" in text and "organizations" in text and "messages" in text
    assert cli.main(["status", "--tenant", "uk:1"]) == 1  # uk's ingestion is failing
    # A tenant-level data problem is red too: uk:3's time zone is not an IANA name.
    assert cli.main(["status", "--tenant", "uk:3"]) == 1
    assert "data problem: organization uk:3 has invalid time zone 'Europe/Londn'" in (
        recorded.export_text())


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or os.geteuid() != 0:
        return found
    # Root on a fresh machine: install Debian's chromium (what `make browser` does).
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        if subprocess.run(command, env=env, capture_output=True, check=False).returncode != 0:
            return None
    return shutil.which("chromium")


def test_report_renders_its_plots_in_chromium(
    warehouse_copy: Path, tw_settings: Settings, tmp_path: Path
) -> None:
    path = report.write_report(tw_settings, "duckdb", output=tmp_path / "report.html")
    document = path.read_text()
    # The failing instance is red in the status table; the plots are inline SVG, no scripts.
    assert len(re.findall(r'<tr class="failing" data-instance="uk"', document)) == 6
    assert "<script" not in document and "http://" not in document.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )

    chromium = _chromium()
    if chromium is None:
        if is_ci():
            pytest.fail("chromium is required when CI=true (make browser installs it)")
        pytest.skip("chromium not installed (make browser, as root)")
    with tempfile.TemporaryDirectory(prefix="tw_chromium_") as profile:
        flags = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,2400",
        ]  # fmt: skip
        dom = subprocess.run(
            [*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True,
            timeout=120, check=True,
        ).stdout  # fmt: skip
        screenshot = tmp_path / "report.png"
        subprocess.run(
            [*flags, f"--screenshot={screenshot}", path.as_uri()], capture_output=True,
            timeout=120, check=True,
        )  # fmt: skip
    # Chromium parsed the SVG into elements: one chart per raw table with its points, and the
    # anomaly of fr.orders drawn as a marked point.
    charts = re.findall(r'<svg class="chart" data-chart="row-count-(\w+)" data-points="(\d+)"', dom)
    assert {name for name, _ in charts} == {
        "organizations", "users", "contacts", "orders", "order_items", "messages",
    }
    assert all(int(points) >= 27 for _, points in charts)  # 3 instances x 9 captures
    assert len(re.findall(r'<circle class="point anomaly"', dom)) == 1
    assert re.search(r'<polyline points="[\d.]+,[\d.]+ [\d.]+,[\d.]+', dom)
    assert 'data-chart="failures-ingestion"' in dom
    assert dom.count('class="failing" data-instance="uk"') == 6
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
