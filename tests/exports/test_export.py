"""`export_tenant` and `warehouse export` on a real built warehouse: every format opens with its
own library, holds only the tenant's rows, equals the marts, and checks out against SHA256SUMS;
unchanged tenants are not rewritten; a large tenant stays within the memory bound."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from tenant_warehouse.cli import main
from tenant_warehouse.exports import FORMATS, ExportError, export_tenant
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import tenant_relations
from tests.exports.billing_scenario import warehouse_file
from tests.support.pipeline import Pipeline


def mart_counts(settings: Settings, path: Path, tenant_id: str) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return {
            relation.name: connection.execute(
                f"select count(*) from {relation.source_schema}.{relation.source_name}"
                f" where {relation.tenant_column} = ?", [tenant_id],
            ).fetchone()[0]
            for relation in tenant_relations(settings)
        }  # fmt: skip


def biggest_tenants(path: Path, count: int) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select tenant_id from marts.fct_messages group by tenant_id"
            " order by count(*) desc, tenant_id limit ?", [count],
        ).fetchall()  # fmt: skip
    return [row[0] for row in rows]


def read_back(fmt: str, directory: Path) -> dict[str, list[str | None]]:
    """tenant_id values of every relation in the exported files, read with the format's own
    library (the dump a tenant receives, as the tenant's tools open it)."""
    manifest = json.loads((directory / "manifest.json").read_text())
    values: dict[str, list[str | None]] = {}
    if fmt in ("csv", "parquet"):
        for entry in manifest["files"]:
            path = directory / entry["name"]
            table = pacsv.read_csv(path) if fmt == "csv" else pq.read_table(path)
            values[entry["relations"][0]] = table.column("tenant_id").to_pylist() if table.num_rows else []
    elif fmt == "xlsx":
        (entry,) = manifest["files"]
        workbook = openpyxl.load_workbook(directory / entry["name"], read_only=True)
        definitions = list(workbook["definitions"].iter_rows(values_only=True))
        header = definitions.index(("table", "sheets", "rows", "description", "columns"))
        for table, sheets, *_ in definitions[header + 1:]:
            values[table] = []
            for sheet in sheets.split(", "):
                rows = workbook[sheet].iter_rows(values_only=True)
                column = next(rows).index("tenant_id")
                values[table] += [row[column] for row in rows]
        workbook.close()
    else:
        (entry,) = manifest["files"]
        with duckdb.connect(str(directory / entry["name"]), read_only=True) as connection:
            for (table,) in connection.execute("select table_name from _definitions").fetchall():
                values[table] = [r[0] for r in connection.execute(f'select tenant_id from "{table}"').fetchall()]
    return values


def check_sums(directory: Path) -> None:
    lines = (directory / "SHA256SUMS").read_text().splitlines()
    assert lines
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_exactly_the_tenants_rows(
    fmt: str, settings: Settings, scenario: Pipeline, tmp_path: Path
) -> None:
    tenant_id = biggest_tenants(warehouse_file(scenario), 1)[0]
    expected = mart_counts(settings, warehouse_file(scenario), tenant_id)
    assert expected["messages"] > 100 and expected["orders"] > 10  # a tenant with real data

    result = export_tenant(settings, "duckdb", tenant_id, fmt, tmp_path / fmt)

    assert result.rows == expected
    values = read_back(fmt, tmp_path / fmt)
    assert {name: len(rows) for name, rows in values.items()} == expected
    foreign = {name: sum(v != tenant_id for v in rows) for name, rows in values.items()}
    assert foreign == dict.fromkeys(expected, 0)
    check_sums(tmp_path / fmt)
    manifest = json.loads((tmp_path / fmt / "manifest.json").read_text())
    assert manifest["tenant_id"] == tenant_id and manifest["fingerprint"] == result.fingerprint
    assert {e["name"]: e["sha256"] for e in manifest["files"]} == {
        f.path.name: f.sha256 for f in result.files
    }
    assert not [p for p in (tmp_path / fmt).iterdir() if p.name.startswith(".partial")]


def test_xlsx_has_definitions_and_utc_timestamps(settings: Settings, scenario: Pipeline, tmp_path: Path) -> None:
    tenant_id = biggest_tenants(warehouse_file(scenario), 1)[0]
    result = export_tenant(settings, "duckdb", tenant_id, "xlsx", tmp_path)
    workbook = openpyxl.load_workbook(result.files[0].path, read_only=True)
    assert workbook.sheetnames[0] == "definitions"
    definitions = {row[0]: row for row in workbook["definitions"].iter_rows(values_only=True) if row and row[0]}
    assert definitions["tenant_id"][1] == tenant_id
    described = {r.name: r.description for r in tenant_relations(settings)}
    for name, description in described.items():
        assert definitions[name][3] == description
        assert len(definitions[name][1].split(", ")[0]) <= 31  # Excel's sheet-name limit
    header = next(workbook[definitions["messages"][1]].iter_rows(values_only=True))
    assert "created_at (UTC)" in header


def test_scheduled_export_rewrites_only_changed_tenants(
    settings: Settings, scenario: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_file(scenario), copy)
    monkeypatch.setenv("TW_DUCKDB_PATH", str(copy))
    tenants = biggest_tenants(copy, 4)
    arguments = ["export", "--format", "parquet", "--output", str(tmp_path / "out")]
    for tenant_id in tenants:
        arguments += ["--tenant", tenant_id]

    assert main(arguments) == 0
    assert "4 written, 0 unchanged" in capsys.readouterr().out
    stamps = {t: (tmp_path / "out" / t.replace(":", "_") / "manifest.json").stat().st_mtime_ns for t in tenants}

    assert main(arguments) == 0
    assert "0 written, 4 unchanged" in capsys.readouterr().out

    # One order of the second tenant changes state in the warehouse: only that tenant is rewritten.
    with duckdb.connect(str(copy)) as connection:
        connection.execute(
            "update marts.fct_orders set state = 'cancelled' where order_id ="
            " (select min(order_id) from marts.fct_orders where tenant_id = ?) and tenant_id = ?",
            [tenants[1], tenants[1]],
        )  # fmt: skip
    assert main(arguments) == 0
    assert "1 written, 3 unchanged" in capsys.readouterr().out
    after = {t: (tmp_path / "out" / t.replace(":", "_") / "manifest.json").stat().st_mtime_ns for t in tenants}
    assert [t for t in tenants if after[t] != stamps[t]] == [tenants[1]]


def test_mistakes_are_one_line_errors(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--tenant", "uk:999999", "--format", "csv", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    out = capsys.readouterr().out.strip()
    assert out == "error: tenant uk:999999: no such organization in the warehouse (relation organization has no row for it)"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--tenant", "uk-12", "--format", "csv", "--output", str(tmp_path)])
    assert exit_info.value.code == 2 and "uk-12" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--format", "csv", "--output", str(tmp_path)])
    assert exit_info.value.code == 2 and "--tenant" in capsys.readouterr().out
    # Several tenants: one tenant's mistake is reported, the others are exported, exit 1.
    good = biggest_tenants(settings.duckdb_path, 1)[0]
    assert main(["export", "--tenant", "uk:999999", "--tenant", good, "--format", "csv",
                 "--output", str(tmp_path / "several")]) == 1  # fmt: skip
    out = capsys.readouterr().out
    assert "1 written, 0 unchanged, 1 failed" in out
    assert "failed: tenant uk:999999: no such organization in the warehouse" in out
    assert (tmp_path / "several" / good.replace(":", "_") / "manifest.json").exists()
    shutil.rmtree(tmp_path / "several")
    with pytest.raises(ExportError, match="format 'pdf'"):
        export_tenant(settings, "duckdb", "uk:2", "pdf", tmp_path)
    assert not list(tmp_path.iterdir())


LARGE_ROWS = 2_500_000
MEMORY_BOUND_MIB = 80  # growth of peak RSS over a small tenant's export, whatever the size

PEAK_SCRIPT = """
import resource, sys
from tenant_warehouse.cli import main
code = main(sys.argv[1:])
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_rss_mib(arguments: list[str], env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, *arguments], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("PEAK_KIB"))
    return int(line.split()[1]) / 1024


def test_large_tenant_exports_within_the_memory_bound(
    settings: Settings, scenario: Pipeline, tmp_path: Path
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(warehouse_file(scenario), copy)
    large, small = biggest_tenants(copy, 2)
    with duckdb.connect(str(copy)) as connection:
        # The large tenant gets 2.5M more messages (copies of one of its own with new ids).
        connection.execute(
            "insert into marts.fct_messages select * exclude (range)"
            " replace (message_id + 1000000000 + range as message_id)"
            " from (select * from marts.fct_messages where tenant_id = ? limit 1)"
            " cross join range(?)", [large, LARGE_ROWS],
        )  # fmt: skip
        arrow_mib = connection.sql(
            f"select * from marts.fct_messages where tenant_id = '{large}'"
        ).to_arrow_table().nbytes / 2**20
    env = {**os.environ, "TW_DUCKDB_PATH": str(copy), "TW_HOME": str(settings.home)}
    common = ["export", "--format", "csv", "--force"]
    small_peak = peak_rss_mib([*common, "--tenant", small, "--output", str(tmp_path / "s")], env)
    large_peak = peak_rss_mib([*common, "--tenant", large, "--output", str(tmp_path / "l")], env)

    lines = (tmp_path / "l" / "messages.csv").open().read().count("\n")
    assert lines == 1 + LARGE_ROWS + mart_counts(settings, warehouse_file(scenario), large)["messages"]
    assert arrow_mib > 2 * MEMORY_BOUND_MIB  # the table would not fit in the bound at once
    assert large_peak - small_peak < MEMORY_BOUND_MIB, (small_peak, large_peak, arrow_mib)


def test_all_tenant_precheck_equals_the_doors_fingerprint(settings: Settings, scenario: Pipeline) -> None:
    from tenant_warehouse.exports.dump import tenant_fingerprint
    from tenant_warehouse.exports.fingerprint import tenant_fingerprints

    tenants = [*biggest_tenants(warehouse_file(scenario), 3), "fr:999999"]
    prechecks = tenant_fingerprints(settings, "duckdb", tenants)
    assert prechecks == {t: tenant_fingerprint(settings, "duckdb", t) for t in tenants}
    assert len(set(prechecks.values())) == len(tenants)


def test_xlsx_continues_a_long_relation_on_more_sheets(
    settings: Settings, scenario: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Excel's 1,048,576-row limit, scaled down so a small tenant crosses it.
    monkeypatch.setattr("tenant_warehouse.exports.writers.XLSX_MAX_ROWS", 101)
    tenant_id = biggest_tenants(warehouse_file(scenario), 1)[0]
    expected = mart_counts(settings, warehouse_file(scenario), tenant_id)
    export_tenant(settings, "duckdb", tenant_id, "xlsx", tmp_path)
    workbook = openpyxl.load_workbook(next(tmp_path.glob("*.xlsx")), read_only=True)
    sheets = [name for name in workbook.sheetnames if name.startswith("messages")]
    assert len(sheets) == -(-expected["messages"] // 100) and sheets[1] == "messages (2)"
    workbook.close()
    values = read_back("xlsx", tmp_path)
    assert {name: len(rows) for name, rows in values.items()} == expected
