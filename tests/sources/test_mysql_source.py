"""MariaDB/MySQL as a source: full load, changes with hard deletes, no-change runs, type rules
and the one-line errors, against a real MariaDB server into DuckDB.

The expected side is read with plain PyMySQL and hashed with hashlib, independently of the
reader under test.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import zoneinfo
from typing import Any

import duckdb
import pytest

from ingestion.config import IngestionConfig, parse_config
from ingestion.errors import SourceUnavailable
from ingestion.readers import open_reader
from tests.sources.conftest import MysqlDatabase, SourceHome

COLUMNS = ("id", "organization_id", "email_hash", "amount", "total", "extra::text",
           "receipt_hash", "is_paid", "placed_on", "updated_at")

SCHEMA = """
CREATE TABLE orders (
    id BIGINT PRIMARY KEY,
    organization_id BIGINT NOT NULL,
    email VARCHAR(200),
    secret_note TEXT,
    amount DOUBLE,
    total DECIMAL(10,2),
    extra JSON,
    receipt BLOB,
    is_paid TINYINT(1),
    placed_on DATE,
    updated_at DATETIME(6) NOT NULL
)
"""


def config(reconcile_every: int = 1, zone: str = "UTC") -> IngestionConfig:
    return parse_config(
        {
            "instances": {"shop": {"source_time_zone": zone}},
            "tables": {
                "orders": {
                    "primary_key": "id",
                    "lag_seconds": 60,
                    "reconcile_every": reconcile_every,
                    "columns": {
                        "id": "bigint",
                        "organization_id": "bigint",
                        "email": {"type": "text", "policy": "hash"},
                        "secret_note": {"type": "text", "policy": "drop"},
                        "amount": "double",
                        "total": "decimal(10,2)",
                        "extra": "json",
                        "receipt": {"type": "bytes", "policy": "hash"},
                        "is_paid": "boolean",
                        "placed_on": "date",
                        "updated_at": "timestamp",
                    },
                }
            },
        }
    )


def seed(db: MysqlDatabase, rows: int = 300) -> None:
    base = dt.datetime(2026, 11, 1, 8, 0, 0)
    values = [
        (
            i,
            1 + i % 3,
            f"person{i}@example.org" if i % 7 else None,
            f"note {i}",
            round(i * 1.25, 2),
            decimal.Decimal(i) / 4,
            None if i % 5 else f'{{"items": {i}, "tags": ["a", "b"]}}',
            bytes([i % 256, 0, 255]),
            i % 2,
            (base + dt.timedelta(days=i % 30)).date(),
            # Every 10 rows share an updated_at: equal cursors at chunk edges.
            base + dt.timedelta(seconds=i // 10, microseconds=i % 3),
        )
        for i in range(1, rows + 1)
    ]
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(SCHEMA)
            cursor.executemany(
                "INSERT INTO orders VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", values
            )
    finally:
        conn.close()


def expected_rows(db: MysqlDatabase, salt: str, zone: str = "UTC") -> list[tuple[Any, ...]]:
    rows = db.query(
        "SELECT id, organization_id, email, amount, total, extra, receipt, is_paid, placed_on,"
        " updated_at FROM orders ORDER BY id"
    )
    local = zoneinfo.ZoneInfo(zone)
    return [
        (
            r[0],
            r[1],
            None if r[2] is None else hashlib.sha256((salt + r[2]).encode()).hexdigest(),
            r[3],
            r[4],
            None if r[5] is None else json.dumps(json.loads(r[5]), separators=(",", ":")),
            None if r[6] is None else hashlib.sha256(salt.encode() + r[6]).hexdigest(),
            None if r[7] is None else bool(r[7]),
            r[8],
            r[9].replace(tzinfo=local).astimezone(dt.UTC),
        )
        for r in rows
    ]


def raw_rows(home: SourceHome) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(home.settings.duckdb_path), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        rows = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM raw.orders WHERE instance_id = 'shop' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [
        tuple(
            v.astimezone(dt.UTC) if isinstance(v, dt.datetime)
            else json.dumps(json.loads(v), separators=(",", ":")) if i == 5 and v is not None
            else v
            for i, v in enumerate(r)
        )
        for r in rows
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_mysql_source_follows_inserts_updates_and_hard_deletes(
    zone: str,
    mysql_database: MysqlDatabase,
    source_home: SourceHome,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DATETIME values are wall-clock time of the instance's source_time_zone (UTC: the
    reconciliation compares bucket checksums computed by MariaDB; Paris: key ranges)."""
    seed(mysql_database)
    monkeypatch.setenv("TW_SOURCE_SHOP_URL", mysql_database.url)
    salt = source_home.settings.pii_salt()
    cfg = config(zone=zone)

    first = source_home.ingest(cfg)
    assert first.ok, first.summary()
    assert first.rows_loaded == 300
    assert raw_rows(source_home) == expected_rows(mysql_database, salt, zone)

    mysql_database.execute(
        "UPDATE orders SET amount = amount + 1, is_paid = 1, updated_at = '2026-11-02 09:00:00'"
        " WHERE id IN (5, 6, 7)",
        "INSERT INTO orders VALUES (301, 2, 'new@example.org', 'x', 9.5, 1.5, '[1]', X'00', 0,"
        " '2026-11-03', '2026-11-02 09:00:00')",
        "DELETE FROM orders WHERE id IN (10, 11)",
    )
    second = source_home.ingest(cfg)
    assert second.ok, second.summary()
    counts = second.tables[("shop", "orders")]
    assert (counts.rows_loaded, counts.rows_deleted) == (4, 2), second.summary()
    assert raw_rows(source_home) == expected_rows(mysql_database, salt, zone)

    third = source_home.ingest(cfg)
    assert third.ok, third.summary()
    assert (third.rows_loaded, third.rows_deleted) == (0, 0), third.summary()
    assert raw_rows(source_home) == expected_rows(mysql_database, salt, zone)

    conn = duckdb.connect(str(source_home.settings.duckdb_path), read_only=True)
    try:
        runs = conn.execute(
            "SELECT count(DISTINCT run_id), count(*) FILTER (WHERE status = 'failed')"
            " FROM raw._tw_ingestion_runs WHERE instance_id = 'shop'"
        ).fetchone()
        columns = {r[0] for r in conn.execute("DESCRIBE raw.orders").fetchall()}
    finally:
        conn.close()
    assert runs == (3, 0)
    assert "secret_note" not in columns and "email" not in columns  # dropped / hashed


def test_mysql_types_zero_dates_and_source_time_zone(mysql_database: MysqlDatabase) -> None:
    mysql_database.execute(
        "SET SESSION sql_mode = ''",  # allows zero dates, as old MySQL schemas do
        "CREATE TABLE events (id BIGINT UNSIGNED PRIMARY KEY, happened_at DATETIME,"
        " stamped_at TIMESTAMP NULL, price DECIMAL(10,3), name VARBINARY(20),"
        " updated_at DATETIME NOT NULL)",
        "SET time_zone = '+00:00'",
        "INSERT INTO events VALUES (1, '2026-07-01 12:00:00', '2026-07-01 12:00:00', 12.50,"
        " X'636166C3A9', '2026-07-01 12:00:00'),"
        " (2, '0000-00-00 00:00:00', NULL, 1.005, X'FF41', '2026-07-01 12:00:01'),"
        " (18446744073709551615, NULL, NULL, 1, 'x', '2026-07-01 12:00:02'),"
        # 02:30 happens twice in Paris that night: the first one (CEST) is meant.
        " (4, '2026-10-25 02:30:00', NULL, NULL, NULL, '2026-07-01 12:00:03')",
    )
    table = parse_config(
        {
            "instances": ["shop"],
            "tables": {
                "events": {
                    "primary_key": "id",
                    "columns": {
                        "id": "bigint",
                        "happened_at": "timestamp",
                        "stamped_at": "timestamp",
                        "price": "decimal(10,2)",
                        "name": "text",
                        "updated_at": "timestamp",
                    },
                }
            },
        }
    ).tables["events"]
    with open_reader("shop", mysql_database.url, time_zone="Europe/Paris") as reader:
        rows = [r for batch in reader.read_changes(table, None) for r in batch.to_pylist()]
        issues = reader.take_issues()
        assert reader.key_bounds(table) == (1, 2**64 - 1, 4)
    by_happened = sorted(rows, key=lambda r: r["updated_at"])
    first = by_happened[0]
    # DATETIME is Paris local time (UTC+2 in July); TIMESTAMP is UTC whatever the zone.
    assert first["happened_at"] == dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)
    assert first["stamped_at"] == dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    assert first["price"] == decimal.Decimal("12.50") and first["name"] == "café"
    assert by_happened[1]["happened_at"] is None
    assert by_happened[1]["price"] is None  # 1.005 does not fit decimal(10,2): never rounded
    assert by_happened[1]["name"] == "\ufffdA"  # repaired, reported, row kept
    assert len(rows) == 4, "no row is dropped for a bad value"
    assert by_happened[3]["happened_at"] == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    reasons = {(i.column, i.reason.split(" (")[0]) for i in issues}
    assert ("happened_at", "not a timestamp") in reasons
    assert ("id", "not a 64-bit integer") in reasons
    assert ("name", "invalid UTF-8; undecodable bytes replaced with U+FFFD") in reasons
    assert ("price", "does not fit decimal(10,2) exactly") in reasons
    assert all(i.instance == "shop" and i.table == "events" for i in issues)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_server", "instance shop: cannot connect to MySQL mysql+pymysql://root:***@127.0.0.1:1/"),
        ("no_database", "instance shop: cannot connect to MySQL"),
        ("no_table", "instance shop, table orders: table does not exist in mysql+pymysql://"),
        ("no_column", "instance shop, table orders: column amount: configured in tables.yml"),
    ],
)
def test_mysql_errors_are_one_line_and_name_instance_and_table(
    case: str,
    expected: str,
    mysql_database: MysqlDatabase,
    source_home: SourceHome,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = mysql_database.url
    if case == "no_server":
        url = "mysql+pymysql://root:pw@127.0.0.1:1/nothing"
    elif case == "no_database":
        url = url.rsplit("/", 1)[0] + "/tw_no_such_database"
    elif case == "no_column":
        mysql_database.execute(SCHEMA.replace("amount DOUBLE,", ""))
    monkeypatch.setenv("TW_SOURCE_SHOP_URL", url)
    report = source_home.ingest(config())
    assert not report.ok
    failures = report.failures
    assert failures and all("\n" not in f for f in failures)
    assert failures[0].startswith(expected), failures[0]


def test_unknown_source_time_zone_is_named(mysql_database: MysqlDatabase) -> None:
    with pytest.raises(SourceUnavailable, match="instance shop: unknown source time zone 'Mars/Base'"):
        open_reader("shop", mysql_database.url, time_zone="Mars/Base")


def test_mysql_tables_without_cursor_or_key(
    mysql_database: MysqlDatabase, source_home: SourceHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cursor: none` (compared by row hash) and `primary_key: none` (replaced whole) tables,
    as OFN's tables without timestamps or ids, read from MariaDB."""
    mysql_database.execute(
        "CREATE TABLE prices (id BIGINT PRIMARY KEY, amount DECIMAL(10,2))",
        "CREATE TABLE roles (user_id BIGINT, role VARCHAR(20))",
        "INSERT INTO prices VALUES (1, 1.50), (2, 2.25), (3, 9.99)",
        "INSERT INTO roles VALUES (1, 'admin'), (1, 'admin'), (2, 'staff')",
    )
    monkeypatch.setenv("TW_SOURCE_SHOP_URL", mysql_database.url)
    cfg = parse_config(
        {
            "instances": ["shop"],
            "tables": {
                "prices": {"primary_key": "id", "cursor": "none",
                           "columns": {"id": "bigint", "amount": "decimal(10,2)"}},
                "roles": {"primary_key": "none",
                          "columns": {"user_id": "bigint", "role": "text"}},
            },
        }
    )

    def raw() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        conn = duckdb.connect(str(source_home.settings.duckdb_path), read_only=True)
        try:
            prices = conn.execute("SELECT id, amount FROM raw.prices ORDER BY id").fetchall()
            roles = conn.execute("SELECT user_id, role FROM raw.roles ORDER BY ALL").fetchall()
        finally:
            conn.close()
        return prices, roles

    def source() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return (
            [tuple(r) for r in mysql_database.query("SELECT id, amount FROM prices ORDER BY id")],
            sorted(tuple(r) for r in mysql_database.query("SELECT user_id, role FROM roles")),
        )

    first = source_home.ingest(cfg)
    assert first.ok, first.summary()
    assert raw() == source()
    mysql_database.execute(
        "UPDATE prices SET amount = 3.00 WHERE id = 2",
        "DELETE FROM prices WHERE id = 3",
        "INSERT INTO prices VALUES (4, 0.01)",
        "DELETE FROM roles WHERE role = 'staff'",
    )
    second = source_home.ingest(cfg)
    assert second.ok, second.summary()
    assert raw() == source()
    assert second.tables[("shop", "prices")].rows_deleted == 1
    third = source_home.ingest(cfg)
    assert third.ok, third.summary()
    assert third.tables[("shop", "prices")].rows_loaded == 0
    assert raw() == source()
