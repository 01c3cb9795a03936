"""A real platform's PostgreSQL schema by configuration alone (issue 13): OFN- and Glific-like
tables with numeric(10,2) money, jsonb, varchar[] and enum[] arrays, an enum, uuid, bytea,
timestamp(0) and timestamp without time zone, a table without updated_at (`cursor: none`) and
one without any key (`primary_key: none`), loaded into DuckDB and into PostgreSQL.

Each warehouse: the first load equals the source row for row; a run with no change loads
nothing; after updates, inserts and hard deletes in every table the next run (default config:
hard-delete tables reconcile every run) equals the source again, and the run log counts what
was inserted, updated and deleted; decimal sums equal the source's exactly.

The source is read here with plain psycopg2 and converted with datetime/zoneinfo/json/hashlib,
independently of the ingestion readers.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest
import yaml

from ingestion import reconcile
from ingestion.config import IngestionConfig, TableConfig, load_config
from ingestion.pipeline import IngestionReport, run_ingestion
from tenant_warehouse.settings import Settings
from tests.support.pg import PgDatabase, PgDatabaseFactory

INSTANCE = "uk"
LONDON = zoneinfo.ZoneInfo("Europe/London")
SALT = "types-test-salt"

SOURCE_DDL = """
CREATE TYPE message_flow AS ENUM ('inbound', 'outbound');
CREATE TYPE user_roles_enum AS ENUM ('none', 'staff', 'manager', 'admin');

-- Open Food Network: serial ids, numeric(10,2) money, zone-less timestamps (London wall clock).
CREATE TABLE spree_orders (
    id serial PRIMARY KEY,
    distributor_id integer NOT NULL,
    state varchar(255) NOT NULL,
    total numeric(10, 2) NOT NULL DEFAULT 0.0,
    item_total numeric(10, 2),
    completed_at timestamp(0) without time zone,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
-- OFN: no timestamps at all.
CREATE TABLE spree_prices (
    id serial PRIMARY KEY,
    variant_id integer,
    amount numeric(10, 2),
    currency varchar(255)
);
-- OFN: no id.
CREATE TABLE enterprise_roles (
    user_id integer,
    enterprise_id integer,
    receives_notifications boolean DEFAULT false
);
-- Glific: bigint ids, enum, uuid, jsonb, arrays, bytea, timestamp(0) stored in UTC.
CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    organization_id bigint NOT NULL,
    flow message_flow,
    uuid uuid,
    body text,
    labels varchar(255)[],
    roles user_roles_enum[],
    context jsonb,
    media bytea,
    inserted_at timestamp(0) without time zone NOT NULL,
    updated_at timestamp(0) without time zone NOT NULL
);
"""

SEED_SQL = """
INSERT INTO spree_orders (distributor_id, state, total, item_total, completed_at, created_at,
                          updated_at)
SELECT 1 + g % 7,
       (ARRAY['cart','complete','canceled','returned','awaiting_return'])[1 + g % 5],
       round((g * 7919 % 100000) / 100.0 + 0.01, 2) * 1000,
       CASE WHEN g % 9 = 0 THEN NULL ELSE round((g * 104729 % 99999) / 100.0, 2) END,
       CASE WHEN g % 5 = 1 THEN timestamp '2024-03-31 00:30:00' + g * interval '37 seconds' END,
       -- Across both 2024 DST changes in London (a repeated and a skipped hour).
       timestamp '2024-03-30 22:00:00' + g * interval '61 seconds',
       timestamp '2024-10-26 23:00:00' + g * interval '3 seconds'
FROM generate_series(1, 3000) AS g;
INSERT INTO spree_prices (variant_id, amount, currency)
SELECT g, round((g * 31 % 5000) / 100.0, 2), CASE WHEN g % 3 = 0 THEN 'AUD' ELSE 'GBP' END
FROM generate_series(1, 400) AS g;
INSERT INTO enterprise_roles (user_id, enterprise_id, receives_notifications)
SELECT g % 50, g % 13, g % 2 = 0 FROM generate_series(1, 120) AS g;
-- Two identical rows: a table without a key may hold duplicates, and both must land.
INSERT INTO enterprise_roles VALUES (999, 1, true), (999, 1, true);
INSERT INTO messages (organization_id, flow, uuid, body, labels, roles, context, media,
                      inserted_at, updated_at)
SELECT 1 + g % 4,
       (ARRAY['inbound','outbound']::message_flow[])[1 + g % 2],
       md5(g::text)::uuid,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'hello "' || g || '", {a,b}' END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE ARRAY['tag ' || g, 'with,comma', 'quote"d'] END,
       ARRAY['staff', 'admin']::user_roles_enum[],
       jsonb_build_object('flow', g, 'nested', jsonb_build_object('ok', g % 2 = 0),
                          'list', jsonb_build_array(1, 'two', null)),
       CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text) || '00ff', 'hex') END,
       timestamp '2024-06-01 00:00:00' + g * interval '1 minute',
       timestamp '2024-06-01 00:00:00' + g * interval '1 minute'
FROM generate_series(1, 1000) AS g;
"""

# Changes an application would make: updates, inserts and hard deletes in every table.
CHANGE_SQL = """
UPDATE spree_orders SET total = total + 0.01, state = 'complete',
       updated_at = timestamp '2024-11-01 09:00:00' WHERE id % 97 = 0;
DELETE FROM spree_orders WHERE id IN (5, 6, 2999);
INSERT INTO spree_orders (distributor_id, state, total, item_total, created_at, updated_at)
VALUES (3, 'complete', 99999999.99, 0.01, timestamp '2024-11-01 09:00:00',
        timestamp '2024-11-01 09:00:01');
UPDATE spree_prices SET amount = amount + 1.11 WHERE id IN (10, 20, 30);
UPDATE spree_prices SET currency = NULL WHERE id = 40;
DELETE FROM spree_prices WHERE id IN (1, 2);
INSERT INTO spree_prices (variant_id, amount, currency) VALUES (5000, 0.10, 'EUR'), (5001, NULL, 'EUR');
DELETE FROM enterprise_roles WHERE user_id = 3;
UPDATE enterprise_roles SET receives_notifications = NOT receives_notifications WHERE user_id = 4;
INSERT INTO enterprise_roles VALUES (1000, 2, NULL);
UPDATE messages SET context = context || '{"edited": [true]}', labels = ARRAY[]::varchar[],
       updated_at = timestamp '2024-12-01 00:00:00' WHERE id % 50 = 0;
DELETE FROM messages WHERE id IN (7, 8, 9);
INSERT INTO messages (organization_id, flow, uuid, body, roles, context, media, inserted_at,
                      updated_at)
VALUES (2, 'inbound', '00000000-0000-0000-0000-000000000001', NULL, NULL, '[]', '\\x',
        timestamp '2024-12-01 00:00:00', timestamp '2024-12-01 00:00:00');
"""

CONFIG = {
    "version": 1,
    # Instance in London: OFN's zone-less timestamps are London wall-clock times.
    "instances": {INSTANCE: {"source_time_zone": "Europe/London"}},
    "defaults": {"lag_seconds": 0},
    "tables": {
        "spree_orders": {
            "primary_key": "id",
            "columns": {
                "id": "bigint", "distributor_id": "bigint", "state": "text",
                "total": "decimal(10,2)", "item_total": "decimal(10,2)",
                "completed_at": "timestamp", "created_at": "timestamp", "updated_at": "timestamp",
            },
        },
        "spree_prices": {
            "primary_key": "id",
            "cursor": "none",
            "columns": {"id": "bigint", "variant_id": "bigint", "amount": "decimal(10,2)",
                        "currency": "text"},
        },
        "enterprise_roles": {
            "primary_key": "none",
            "columns": {"user_id": "bigint", "enterprise_id": "bigint",
                        "receives_notifications": "boolean"},
        },
        "messages": {
            # Glific stores UTC in zone-less columns: the table overrides the instance's zone.
            "source_time_zone": "UTC",
            "primary_key": "id",
            "columns": {
                "id": "bigint", "organization_id": "bigint", "flow": "text", "uuid": "text",
                "body": "text", "labels": "json", "roles": "json", "context": "json",
                "media": {"type": "bytes", "policy": "hash"},
                "inserted_at": "timestamp", "updated_at": "timestamp",
            },
        },
    },
}

DECIMAL_COLUMNS = {"spree_orders": ("total", "item_total"), "spree_prices": ("amount",)}


# --- the source as raw must hold it ----------------------------------------------------------


def _expected(table: TableConfig, value: Any, column: str) -> Any:
    spec = table.column(column)
    if value is None:
        return None
    if spec.type == "timestamp":
        zone = dt.UTC if table.source_time_zone == "UTC" else LONDON
        # PostgreSQL's reading of a wall-clock time: of the two offsets around a DST change,
        # the later instant (what `AT TIME ZONE` gives for repeated and skipped times).
        first = value.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
        second = value.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
        return max(first, second)
    if spec.type == "bytes":
        return hashlib.sha256(SALT.encode("utf-8") + bytes(value)).hexdigest()
    if spec.type == "json":
        if isinstance(value, list):  # a PostgreSQL array, fetched by psycopg2 as a list
            return [str(v) for v in value]
        return value
    if spec.type == "text":
        return str(value)
    return value


def source_rows(source: PgDatabase, table: TableConfig) -> list[tuple[Any, ...]]:
    names = [c.name for c in table.columns]
    order = table.primary_key or ", ".join(names)
    conn = psycopg2.connect(source.url.replace("postgresql+psycopg2", "postgresql"))
    try:
        with conn.cursor() as cursor:
            # Arrays of an enum come back as PostgreSQL text; read them as text[] to get lists.
            select = [
                f"{name}::text[]" if name == "roles" else name for name in names
            ]
            cursor.execute(f"SELECT {', '.join(select)} FROM {table.name} ORDER BY {order}")
            rows = cursor.fetchall()
    finally:
        conn.close()
    return sorted(
        (tuple(_expected(table, v, n) for v, n in zip(row, names, strict=True)) for row in rows),
        key=_sort_key,
    )


def _sort_key(row: tuple[Any, ...]) -> str:
    return json.dumps(row, default=str, sort_keys=True)


def _normalise(table: TableConfig, value: Any, column: str) -> Any:
    if value is None:
        return None
    if table.column(column).type == "json" and isinstance(value, str):
        return json.loads(value)  # DuckDB JSON comes back as its text
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def raw_rows(fetch: Callable[[str], list[tuple[Any, ...]]], table: TableConfig) -> list[tuple[Any, ...]]:
    names = [c.output_name for c in table.columns]
    rows = fetch(
        f"SELECT {', '.join(names)} FROM raw.{table.name} WHERE instance_id = '{INSTANCE}'"
    )
    source_names = [c.name for c in table.columns]
    return sorted(
        (tuple(_normalise(table, v, n) for v, n in zip(row, source_names, strict=True))
         for row in rows),
        key=_sort_key,
    )


# --- fixtures --------------------------------------------------------------------------------


class Warehouse:
    def __init__(self, kind: str, settings: Settings, database: PgDatabase | None) -> None:
        self.kind, self.settings, self.database = kind, settings, database

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "duckdb":
            conn = duckdb.connect(str(self.settings.duckdb_path), read_only=True)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        assert self.database is not None
        conn = self.database.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            conn.close()

    def column_type(self, table: str, column: str) -> str:
        sql = (
            "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            f"WHERE table_schema = 'raw' AND table_name = '{table}' AND column_name = '{column}'"
        )
        if self.kind == "postgres":
            sql = sql.replace("data_type", "udt_name", 1)
        kind, precision, scale = self.fetch(sql)[0]
        if kind == "numeric":  # PostgreSQL's udt_name carries no parameters
            return f"{kind}({precision},{scale})"
        return kind


@pytest.fixture(params=["duckdb", "postgres"])
def setup(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_database: PgDatabaseFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[PgDatabase, Warehouse, IngestionConfig]]:
    source = pg_database("tw_types_source")
    conn = source.connect()
    with conn.cursor() as cursor:
        cursor.execute(SOURCE_DDL)
        cursor.execute(SEED_SQL)
    conn.close()
    config_path = tmp_path / "platform.yml"
    config_path.write_text(yaml.safe_dump(CONFIG, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("TW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TW_PII_SALT", SALT)
    monkeypatch.setenv(f"TW_SOURCE_{INSTANCE.upper()}_URL", source.url)
    database = None
    if request.param == "postgres":
        database = pg_database("tw_types_warehouse")
        for name, value in database.env.items():
            monkeypatch.setenv(name, value)
    warehouse = Warehouse(request.param, Settings.from_env(), database)
    yield source, warehouse, load_config(config_path)


def _ingest(warehouse: Warehouse, config: IngestionConfig) -> IngestionReport:
    report = run_ingestion(warehouse.settings, warehouse.kind, config=config)
    assert report.ok, report.summary()
    return report


def _assert_equal(source: PgDatabase, warehouse: Warehouse, config: IngestionConfig) -> None:
    for table in config.tables.values():
        resolved = config.for_instance(table, INSTANCE)
        expected = source_rows(source, resolved)
        actual = raw_rows(warehouse.fetch, resolved)
        assert len(actual) == len(expected), f"{table.name}: {len(actual)} != {len(expected)}"
        for want, got in zip(expected, actual, strict=True):
            assert got == want, f"{table.name}: raw {got} != source {want}"
    for table, columns in DECIMAL_COLUMNS.items():
        for column in columns:
            want = _source_scalar(source, f"SELECT sum({column}) FROM {table}")
            got = warehouse.fetch(f"SELECT sum({column}) FROM raw.{table}")[0][0]
            assert isinstance(got, decimal.Decimal), f"{table}.{column}: summed as {type(got)}"
            assert got == want, f"{table}.{column}: raw sum {got} != source sum {want}"


def _source_scalar(source: PgDatabase, sql: str) -> Any:
    conn = source.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    finally:
        conn.close()


def _counts(report: IngestionReport, table: str) -> tuple[int | None, int | None, int]:
    record = next(r for r in report.records if r.table_name == table and not r.is_reconciliation)
    return record.rows_inserted, record.rows_updated, record.rows_deleted


# --- the test ------------------------------------------------------------------------------


def test_platform_types_load_exactly_and_follow_changes(
    setup: tuple[PgDatabase, Warehouse, IngestionConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, warehouse, config = setup
    # Buckets of ~100 keys, so these small tables have many.
    monkeypatch.setattr(reconcile, "BUCKET_ROWS", 100)

    first = _ingest(warehouse, config)
    assert first.tables[(INSTANCE, "spree_orders")].rows_loaded == 3000
    _assert_equal(source, warehouse, config)
    json_type = {"duckdb": "JSON", "postgres": "jsonb"}[warehouse.kind]
    decimal_type = {"duckdb": "DECIMAL(10,2)", "postgres": "numeric(10,2)"}[warehouse.kind]
    assert warehouse.column_type("spree_orders", "total") == decimal_type
    assert warehouse.column_type("messages", "context") == json_type
    assert warehouse.column_type("messages", "labels") == json_type
    # An array lands as a JSON array, never as PostgreSQL's literal text.
    labels = warehouse.fetch("SELECT labels FROM raw.messages WHERE id = 1")[0][0]
    labels = json.loads(labels) if isinstance(labels, str) else labels
    assert labels == ["tag 1", "with,comma", 'quote"d']
    # The naive 01:30 of the night DST ends (repeated hour) is read as PostgreSQL reads it.
    assert warehouse.fetch(
        "SELECT count(*) FROM raw.messages WHERE media_hash IS NULL"
    )[0][0] == _source_scalar(source, "SELECT count(*) FROM messages WHERE media IS NULL")

    unchanged = _ingest(warehouse, config)
    assert unchanged.rows_loaded == 0, unchanged.summary()
    assert unchanged.rows_deleted == 0, unchanged.summary()
    assert _counts(unchanged, "spree_prices") == (0, 0, 0)
    assert _counts(unchanged, "enterprise_roles") == (0, 0, 0)

    conn = source.connect()
    with conn.cursor() as cursor:
        cursor.execute(CHANGE_SQL)
    conn.close()
    changed = _ingest(warehouse, config)
    _assert_equal(source, warehouse, config)
    # cursor: none: exactly what changed, by kind.
    assert _counts(changed, "spree_prices") == (2, 4, 2)
    # primary_key: none: replaced whole (122 rows before; 3 deleted, 1 inserted).
    assert _counts(changed, "enterprise_roles") == (120, 0, 122)
    # The hard deletes of tables with a cursor were found by the (default, every-run)
    # reconciliation, through the buckets that differ only.
    reconciliation = next(
        r for r in changed.records if r.table_name == "spree_orders" and r.is_reconciliation
    )
    assert reconciliation.rows_deleted == 3
    assert reconciliation.buckets.buckets >= 30
    # Rows this run loads (30 updates, 1 insert) are taken out of both sides' numbers: only the
    # two buckets holding the deleted ids 5, 6 and 2999 differ and have their keys compared.
    assert (reconciliation.buckets.differing, reconciliation.buckets.ranges) == (2, 2)

    again = _ingest(warehouse, config)
    assert again.rows_loaded == 0 and again.rows_deleted == 0, again.summary()
    # Nothing changed: every bucket agrees in both databases and no key is fetched.
    for table in ("spree_orders", "messages"):
        stats = next(
            r for r in again.records if r.table_name == table and r.is_reconciliation
        ).buckets
        assert (stats.differing, stats.ranges) == (0, 0), (table, stats)
        assert stats.buckets >= 10
    logged = warehouse.fetch(
        "SELECT rows_inserted, rows_updated, rows_deleted FROM raw._tw_ingestion_runs "
        f"WHERE run_id = '{changed.run_id}' AND table_name = 'spree_prices'"
    )
    assert logged == [(2, 4, 2)]


def test_postgres_types_a_config_cannot_hold_are_refused_naming_the_column(
    pg_database: PgDatabaseFactory,
) -> None:
    from sqlalchemy.engine import make_url

    from ingestion.config import parse_config
    from ingestion.drift import check_drift
    from ingestion.errors import SourceSchemaMismatch
    from ingestion.readers.postgres import PostgresReader

    source = pg_database("tw_types_drift")
    conn = source.connect()
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE prices (id bigint PRIMARY KEY, amount numeric(12,4), tags text[], "
            "blob bytea, updated_at timestamp)"
        )
    conn.close()
    config = parse_config({
        "instances": [INSTANCE],
        "tables": {"prices": {"primary_key": "id", "columns": {
            "id": "bigint", "amount": "decimal(10,2)", "tags": "text", "blob": "text",
            "updated_at": "timestamp"}}},
    })
    table = config.tables["prices"]
    with (
        PostgresReader(INSTANCE, make_url(source.url)) as reader,
        pytest.raises(SourceSchemaMismatch) as caught,
    ):
        check_drift("postgresql", INSTANCE, table, reader.column_types(table), {})
    message = str(caught.value)
    assert message.startswith(f"instance {INSTANCE}, table prices: column amount: source type "
                              "numeric(12,4) has more digits than the configured decimal(10,2)")
    assert ("column tags: incompatible type change, source type ARRAY cannot be read as the "
            "configured text (configure it as json: arrays land as JSON arrays)") in message
    assert "column blob: incompatible type change, source type bytea cannot be read as the " \
           "configured text (configure it as bytes with policy hash or drop)" in message


def test_an_unconstrained_numeric_that_would_round_fails_naming_the_column(
    pg_database: PgDatabaseFactory,
) -> None:
    from sqlalchemy.engine import make_url

    from ingestion.config import parse_config
    from ingestion.errors import SourceSchemaMismatch
    from ingestion.readers.postgres import PostgresReader

    source = pg_database("tw_types_round")
    conn = source.connect()
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE fees (id bigint PRIMARY KEY, amount numeric, "
                       "updated_at timestamptz NOT NULL DEFAULT now())")
        cursor.execute("INSERT INTO fees (id, amount) VALUES (1, 5), (2, 1.234)")
    conn.close()
    config = parse_config({"instances": [INSTANCE], "tables": {"fees": {
        "primary_key": "id",
        "columns": {"id": "bigint", "amount": "decimal(10,2)", "updated_at": "timestamp"}}}})
    table = config.tables["fees"]
    with (
        PostgresReader(INSTANCE, make_url(source.url)) as reader,
        pytest.raises(SourceSchemaMismatch) as caught,
    ):
        list(reader.read_changes(table, None))
    assert str(caught.value) == (
        f"instance {INSTANCE}, table fees: column amount: a value cannot be read as the "
        "configured decimal(10,2): Rescaling Decimal value would cause data loss (a value with "
        "more decimals than the scale is never rounded; widen the decimal)"
    )
