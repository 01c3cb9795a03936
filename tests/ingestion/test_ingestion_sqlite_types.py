"""The same type rules for a SQLite source (the embedded demo engine): decimals stored as TEXT,
REAL or INTEGER parsed exactly (never through a float), JSON text, BLOBs hashed, zone-less local
times read in the source time zone (cursor filter included), a table without a cursor and one
without a key; first load equal to the source, changes followed, an unchanged run loads nothing.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import sqlite3
import zoneinfo
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.config import IngestionConfig, parse_config
from ingestion.pipeline import IngestionReport, run_ingestion
from tenant_warehouse.settings import Settings

SALT = "sqlite-types-salt"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
D = decimal.Decimal

CONFIG = {
    "instances": {"fr": {"source_time_zone": "Europe/Paris"}},
    "defaults": {"lag_seconds": 0},
    "tables": {
        "invoices": {
            "primary_key": "id",
            "columns": {"id": "bigint", "amount": "decimal(12,2)", "rate": "decimal(6,4)",
                        "meta": "json", "scan": {"type": "bytes", "policy": "hash"},
                        "updated_at": "timestamp"},
        },
        "tax_rates": {
            "primary_key": "id", "cursor": "none",
            "columns": {"id": "bigint", "rate": "decimal(6,4)", "label": "text"},
        },
        "tags": {"primary_key": "none", "columns": {"invoice_id": "bigint", "tag": "text"}},
    },
}


def _source(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount NUMERIC, rate TEXT, meta TEXT,
                               scan BLOB, updated_at TEXT);
        CREATE TABLE tax_rates (id INTEGER PRIMARY KEY, rate REAL, label TEXT);
        CREATE TABLE tags (invoice_id INTEGER, tag TEXT);
        """
    )
    # Money as TEXT, as an INTEGER and as a REAL whose float is not the decimal (0.1 + 0.2).
    conn.executemany(
        "INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1, "49580501.99", "0.2000", '{"lines": [1, 2]}', b"\x00\x01", "2024-10-27 02:30:00"),
            (2, 1200, "1", "[]", None, "2024-10-27 01:59:59"),
            (3, 0.1 + 0.2, "0.0550", None, b"\xff", "2024-03-31 01:00:00"),
            (4, None, None, '{"a": null}', b"", "2024-07-01 12:00:00.250000"),
        ],
    )
    conn.executemany("INSERT INTO tax_rates VALUES (?, ?, ?)",
                     [(1, 0.2, "standard"), (2, 0.055, "reduced"), (3, 0.021, "super-reduced")])
    conn.executemany("INSERT INTO tags VALUES (?, ?)", [(1, "a"), (1, "a"), (2, "b")])
    conn.commit()
    conn.close()


def _local(text: str) -> dt.datetime:
    naive = dt.datetime.fromisoformat(text)
    return max(naive.replace(tzinfo=PARIS, fold=f).astimezone(dt.UTC) for f in (0, 1))


def _raw(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Settings, IngestionConfig]:
    source = tmp_path / "fr.sqlite"
    _source(source)
    monkeypatch.setenv("TW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TW_PII_SALT", SALT)
    monkeypatch.setenv("TW_SOURCE_FR_URL", f"sqlite:///{source}")
    return source, Settings.from_env(), parse_config(CONFIG, tmp_path / "platform.yml")


def _ingest(settings: Settings, config: IngestionConfig) -> IngestionReport:
    report = run_ingestion(settings, "duckdb", config=config)
    assert report.ok, report.summary()
    return report


def test_sqlite_types_exact_and_incremental(setup: tuple[Path, Settings, IngestionConfig]) -> None:
    source, settings, config = setup
    _ingest(settings, config)
    invoices = _raw(settings, "SELECT id, amount, rate, meta, scan_hash, updated_at "
                              "FROM raw.invoices ORDER BY id")
    scan = lambda raw: hashlib.sha256(SALT.encode() + raw).hexdigest()  # noqa: E731
    assert [row[:3] for row in invoices] == [
        (1, D("49580501.99"), D("0.2000")), (2, D("1200.00"), D("1.0000")),
        # SQLite's text of the REAL 0.30000000000000004 is 0.3: no float digits leak in.
        (3, D("0.30"), D("0.0550")), (4, None, None),
    ]
    assert [json.loads(r[3]) if r[3] else None for r in invoices] == [
        {"lines": [1, 2]}, [], None, {"a": None}
    ]
    assert [r[4] for r in invoices] == [scan(b"\x00\x01"), None, scan(b"\xff"), scan(b"")]
    assert [r[5].astimezone(dt.UTC) for r in invoices] == [
        _local("2024-10-27 02:30:00"), _local("2024-10-27 01:59:59"),
        _local("2024-03-31 01:00:00"), _local("2024-07-01 12:00:00.250000"),
    ]
    assert _raw(settings, "SELECT sum(amount) FROM raw.invoices") == [(D("49581702.29"),)]
    assert _raw(settings, "SELECT id, rate FROM raw.tax_rates ORDER BY id") == [
        (1, D("0.2000")), (2, D("0.0550")), (3, D("0.0210"))
    ]
    assert _raw(settings, "SELECT invoice_id, tag FROM raw.tags ORDER BY 1, 2") == [
        (1, "a"), (1, "a"), (2, "b")
    ]

    unchanged = _ingest(settings, config)
    assert (unchanged.rows_loaded, unchanged.rows_deleted) == (0, 0), unchanged.summary()

    conn = sqlite3.connect(source)
    # A change an hour later, in Paris wall-clock time: the cursor filter reads it as Paris.
    conn.execute("UPDATE invoices SET amount = '10.05', updated_at = '2024-11-02 10:00:00' "
                 "WHERE id = 2")
    conn.execute("DELETE FROM invoices WHERE id = 3")
    conn.execute("UPDATE tax_rates SET rate = 0.1 WHERE id = 1")
    conn.execute("DELETE FROM tax_rates WHERE id = 3")
    conn.execute("INSERT INTO tax_rates VALUES (4, 0, 'zero')")
    conn.execute("DELETE FROM tags WHERE tag = 'b'")
    conn.commit()
    conn.close()
    changed = _ingest(settings, config)
    counts = {(r.table_name, r.is_reconciliation): (r.rows_loaded, r.rows_deleted)
              for r in changed.records}
    assert counts[("invoices", False)] == (1, 0)
    assert counts[("invoices", True)] == (0, 1)  # reconciled every run by default
    tax = next(r for r in changed.records if r.table_name == "tax_rates")
    assert (tax.rows_inserted, tax.rows_updated, tax.rows_deleted) == (1, 1, 1)
    assert _raw(settings, "SELECT id, amount, updated_at FROM raw.invoices ORDER BY id")[1][:2] == (
        2, D("10.05")
    )
    assert [r[0] for r in _raw(settings, "SELECT id FROM raw.invoices ORDER BY id")] == [1, 2, 4]
    assert _raw(settings, "SELECT id, rate FROM raw.tax_rates ORDER BY id") == [
        (1, D("0.1000")), (2, D("0.0550")), (4, D("0.0000"))
    ]
    assert _raw(settings, "SELECT invoice_id, tag FROM raw.tags ORDER BY 1, 2") == [
        (1, "a"), (1, "a")
    ]
    again = _ingest(settings, config)
    assert (again.rows_loaded, again.rows_deleted) == (0, 0), again.summary()


def test_a_decimal_that_would_round_is_a_reported_bad_value(
    setup: tuple[Path, Settings, IngestionConfig],
) -> None:
    source, settings, config = setup
    conn = sqlite3.connect(source)
    conn.execute("UPDATE invoices SET amount = '12.345' WHERE id = 1")
    conn.commit()
    conn.close()
    report = run_ingestion(settings, "duckdb", config=config, tables=["invoices"])
    record = next(r for r in report.records if r.table_name == "invoices")
    assert [str(b) for b in record.bad_values] == [
        "instance fr, table invoices, row id=1, column amount: not a decimal(12,2) without "
        "rounding (SQLite text); loaded as null"
    ]
    assert _raw(settings, "SELECT amount FROM raw.invoices WHERE id = 1") == [(None,)]
