"""Spreadsheets as a source: a folder with an XLSX workbook and a CSV file, loaded by content
hash, snapshots replacing their rows, bad values quarantined with file, sheet, row and column.

Expected rows are written out by hand from the data the test puts in the files (and hashed with
hashlib), independently of the parsing code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest

from ingestion.config import ConfigError, IngestionConfig, parse_config
from tests.sources.conftest import SourceHome

D = decimal.Decimal
HEADER = ["ID", "Organization ID", "Contact Email", "Amount (EUR)", "Starts On", "Updated At",
          "Approved", "Notes nobody configured"]
GOOD = [
    [1, 10, "ana@example.org", 1200.5, dt.date(2026, 1, 1), dt.datetime(2026, 1, 5, 9, 30), True, "x"],
    [2, 10, None, "99.99", "2026-02-01", "2026-07-01 12:00:00", "no", None],
    [3, 11, "bo@example.org", 0, dt.datetime(2026, 3, 1), "2026-03-01T08:00:00+01:00", 1, None],
]
BAD = [
    [4, 11, "cy@example.org", "twelve", dt.date(2026, 4, 1), None, True, None],  # row 5
    [2, 12, None, 5, dt.date(2026, 5, 1), None, False, None],  # row 6: duplicate id 2
    [5, 12, None, 7.125, "31/02/2026", None, "maybe", None],  # row 7: three bad cells
]


def document(folder: Path) -> dict[str, Any]:
    return {
        "instances": {
            "sheets": {
                "kind": "spreadsheets",
                "path": str(folder),
                "source_time_zone": "Europe/London",
                "tables": {
                    "budgets": {"file": "budgets.xlsx", "sheet": "2026"},
                    "targets": {"file": "targets.csv", "delimiter": ";"},
                },
            }
        },
        "tables": {
            "budgets": {
                "primary_key": "id",
                "cursor": "none",
                "columns": {
                    "id": "bigint",
                    "organization_id": "bigint",
                    "contact_email": {"type": "text", "policy": "hash"},
                    "amount_eur": "decimal(12,2)",
                    "starts_on": "date",
                    "updated_at": "timestamp",
                    "approved": "boolean",
                },
            },
            "targets": {
                "primary_key": "none",
                "columns": {"region": "text", "target": "double"},
            },
        },
    }


def write_xlsx(path: Path, rows: list[list[Any]]) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Notes"
    sheet = workbook.create_sheet("2026")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Region", "Target"])
        writer.writerows(rows)


def h(salt: str, value: str | None) -> str | None:
    return None if value is None else hashlib.sha256((salt + value).encode()).hexdigest()


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def query(home: SourceHome, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(home.settings.duckdb_path), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def budgets(home: SourceHome) -> list[tuple[Any, ...]]:
    return query(
        home,
        "SELECT id, organization_id, contact_email_hash, amount_eur, starts_on, updated_at,"
        " approved FROM raw.budgets WHERE instance_id = 'sheets' ORDER BY id",
    )


@pytest.fixture
def sheets(tmp_path: Path) -> tuple[Path, IngestionConfig]:
    folder = tmp_path / "sheets"
    folder.mkdir()
    write_xlsx(folder / "budgets.xlsx", GOOD + BAD)
    write_csv(folder / "targets.csv", [["north", "1.5"], ["south", "2"], ["north", "1.5"]])
    return folder, parse_config(document(folder))


def test_spreadsheets_load_by_content_hash_replace_snapshots_and_quarantine(
    sheets: tuple[Path, IngestionConfig], source_home: SourceHome
) -> None:
    folder, config = sheets
    salt = source_home.settings.pii_salt()

    first = source_home.ingest(config)
    assert first.ok, first.summary()
    expected = [
        (1, 10, h(salt, "ana@example.org"), D("1200.50"), dt.date(2026, 1, 1),
         utc(2026, 1, 5, 9, 30), True),  # London is UTC in January
        (2, 10, None, D("99.99"), dt.date(2026, 2, 1), utc(2026, 7, 1, 11), False),  # BST
        (3, 11, h(salt, "bo@example.org"), D("0.00"), dt.date(2026, 3, 1), utc(2026, 3, 1, 7),
         True),
    ]
    assert budgets(source_home) == expected
    # Duplicate rows in a keyless table are both kept: the file is the table.
    assert sorted(query(source_home, "SELECT region, target FROM raw.targets")) == [
        ("north", 1.5), ("north", 1.5), ("south", 2.0)
    ]
    quarantine = query(
        source_home,
        "SELECT file_name, sheet_name, row_number, column_name, value, reason"
        " FROM raw._tw_quarantine WHERE instance_id = 'sheets' AND table_name = 'budgets'"
        " ORDER BY row_number, column_name",
    )
    assert [(q[0], q[1], q[2], q[3], q[4]) for q in quarantine] == [
        ("budgets.xlsx", "2026", 5, "amount_eur", "twelve"),
        ("budgets.xlsx", "2026", 6, "id", "2"),
        ("budgets.xlsx", "2026", 7, "amount_eur", "7.125"),
        ("budgets.xlsx", "2026", 7, "approved", "maybe"),
        ("budgets.xlsx", "2026", 7, "starts_on", "31/02/2026"),
    ]
    assert quarantine[1][5].startswith("duplicate primary key (first at row 3)")
    counts = first.tables[("sheets", "budgets")]
    assert (counts.rows_extracted, counts.rows_loaded, counts.bad_values) == (6, 3, 5)
    message = query(
        source_home,
        "SELECT error_message FROM raw._tw_ingestion_runs WHERE table_name = 'budgets'",
    )[0][0]
    assert message.startswith(
        "schema change: column(s) in the file but not in tables.yml, not ingested: "
        "notes_nobody_configured; 3 row(s) quarantined in raw._tw_quarantine, not loaded: "
    )
    assert "budgets.xlsx sheet 2026 row 5 column amount_eur: not a number" in message

    # Nothing changed: nothing read past the hash, nothing loaded.
    second = source_home.ingest(config)
    assert second.ok, second.summary()
    assert (second.rows_extracted, second.rows_loaded, second.rows_deleted) == (0, 0, 0)
    assert budgets(source_home) == expected

    # Row 3 changed, row 1 removed, row 4 fixed, a new row 6; the CSV loses every row.
    changed = [
        GOOD[1],
        [3, 11, "bo@example.org", 50, dt.date(2026, 3, 2), dt.datetime(2026, 3, 2), True, None],
        [4, 11, "cy@example.org", 12, dt.date(2026, 4, 1), None, True, None],
        [6, 13, "di@example.org", "1e2", "2026-06-01", None, "TRUE", None],
    ]
    write_xlsx(folder / "budgets.xlsx", changed)
    write_csv(folder / "targets.csv", [])
    third = source_home.ingest(config)
    assert third.ok, third.summary()
    assert third.tables[("sheets", "budgets")].rows_deleted == 1
    assert third.tables[("sheets", "targets")].rows_deleted == 3
    assert budgets(source_home) == [
        expected[1],
        (3, 11, h(salt, "bo@example.org"), D("50.00"), dt.date(2026, 3, 2), utc(2026, 3, 2),
         True),
        (4, 11, h(salt, "cy@example.org"), D("12.00"), dt.date(2026, 4, 1), None, True),
        (6, 13, h(salt, "di@example.org"), D("100.00"), dt.date(2026, 6, 1), None, True),
    ]
    assert query(source_home, "SELECT count(*) FROM raw.targets")[0][0] == 0
    assert query(source_home, "SELECT count(*) FROM raw._tw_quarantine")[0][0] == 0

    fourth = source_home.ingest(config)
    assert (fourth.rows_extracted, fourth.rows_loaded, fourth.rows_deleted) == (0, 0, 0)

    # A backfill reads the unchanged file again (its rows replaced by the same rows).
    backfill = source_home.ingest(config, tables=["budgets"], since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert backfill.ok and backfill.rows_loaded == 4, backfill.summary()
    assert len(budgets(source_home)) == 4

    # Raw emptied by hand (or restored from an empty backup): the same file is loaded again.
    conn = duckdb.connect(str(source_home.settings.duckdb_path))
    try:
        conn.execute("DELETE FROM raw.budgets")
    finally:
        conn.close()
    fifth = source_home.ingest(config)
    assert fifth.tables[("sheets", "budgets")].rows_loaded == 4
    assert len(budgets(source_home)) == 4


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_file", "instance sheets, table budgets: file {folder}/budgets.xlsx, sheet '2026': file not found"),
        ("missing_sheet", "instance sheets, table budgets: file {folder}/budgets.xlsx, sheet '2026': no sheet '2026' (sheets: Sheet)"),
        ("missing_column", "instance sheets, table targets: file {folder}/targets.csv: header row 1: configured column(s) target not found (header: region, goal)"),
        ("not_xlsx", "instance sheets, table budgets: file {folder}/budgets.xlsx, sheet '2026': not a readable XLSX workbook"),
    ],
)
def test_spreadsheet_errors_are_one_line_naming_file_and_sheet(
    case: str, expected: str, sheets: tuple[Path, IngestionConfig], source_home: SourceHome
) -> None:
    folder, config = sheets
    if case == "missing_file":
        (folder / "budgets.xlsx").unlink()
    elif case == "missing_sheet":
        openpyxl.Workbook().save(folder / "budgets.xlsx")
    elif case == "missing_column":
        (folder / "targets.csv").write_text("Region;Goal\nnorth;1\n", encoding="utf-8")
    elif case == "not_xlsx":
        (folder / "budgets.xlsx").write_text("not a zip", encoding="utf-8")
    report = source_home.ingest(config)
    assert not report.ok
    failures = report.failures
    assert len(failures) == 1 and "\n" not in failures[0]
    assert failures[0].startswith(expected.format(folder=folder)), failures[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"file": "budgets.ods"}, "instances.sheets.tables.budgets.file: 'budgets.ods': unsupported file type (expected .csv or .xlsx)"),
        ({"file": "../budgets.xlsx"}, "instances.sheets.tables.budgets.file: '../budgets.xlsx' must be a name inside"),
        ({"file": "b.csv", "sheet": "x"}, "instances.sheets.tables.budgets.sheet: a CSV file has no sheets"),
        ({"file": "b.csv", "delimiter": ";;"}, "instances.sheets.tables.budgets.delimiter: expected one character"),
        ({"file": "b.xlsx", "colour": "red"}, "instances.sheets.tables.budgets: unknown key(s) colour"),
    ],
)
def test_spreadsheet_config_mistakes_name_the_key(
    change: dict[str, Any], message: str, tmp_path: Path
) -> None:
    doc = document(tmp_path)
    doc["instances"]["sheets"]["tables"]["budgets"] = change
    with pytest.raises(ConfigError) as error:
        parse_config(doc)
    assert message in str(error.value)


def test_a_sheet_table_must_be_declared_under_tables(tmp_path: Path) -> None:
    doc = document(tmp_path)
    doc["instances"]["sheets"]["tables"]["forecasts"] = {"file": "f.csv"}
    with pytest.raises(ConfigError, match=r"instances.sheets.tables.forecasts: no table 'forecasts' under `tables:`"):
        parse_config(doc)


def test_a_file_failing_half_way_replaces_nothing(
    sheets: tuple[Path, IngestionConfig], source_home: SourceHome
) -> None:
    folder, _ = sheets
    doc = document(folder)
    doc["tables"]["targets"]["chunk_rows"] = 1  # several batches before the damage
    config = parse_config(doc)
    first = source_home.ingest(config, tables=["targets"])
    assert first.ok, first.summary()
    before = sorted(query(source_home, "SELECT region, target FROM raw.targets"))

    (folder / "targets.csv").write_text(
        'Region;Target\neast;1\nwest;2\n"unterminated;3\n', encoding="utf-8"
    )
    second = source_home.ingest(config, tables=["targets"])
    assert not second.ok
    assert second.failures == [
        f"instance sheets, table targets: file {folder / 'targets.csv'}: malformed CSV: "
        "unexpected end of data"
    ]
    assert sorted(query(source_home, "SELECT region, target FROM raw.targets")) == before
