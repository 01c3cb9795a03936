"""Source readers: typed chunks, inclusive windows, bad values, clear errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from ingestion.config import load_config
from ingestion.errors import SourceSchemaMismatch, SourceTableMissing, SourceUnavailable
from ingestion.readers import open_reader
from ingestion.schema import source_schema
from reference_platform.schema import TABLES, create_table_sql
from tests.support.pg import PgDatabaseFactory

CONFIG = load_config()
CONTACTS = CONFIG.tables["contacts"]
MESSAGES = CONFIG.tables["messages"]
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_contacts(path: Path, rows: list[tuple]) -> str:
    conn = sqlite3.connect(path)
    conn.execute(create_table_sql(TABLES["contacts"], "sqlite"))
    conn.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _contact(i: int, updated: dt.datetime, name: object = None) -> tuple:
    return (i, 1, name if name is not None else f"person {i}", f"p{i}@example.org", "", "en",
            _stamp(T0), _stamp(updated))


def test_sqlite_batches_have_the_explicit_schema(tmp_path: Path) -> None:
    url = _sqlite_contacts(tmp_path / "s.sqlite", [_contact(1, T0), _contact(2, T0)])
    with open_reader("uk", url) as reader:
        batches = list(reader.read_changes(CONTACTS, None))
    assert [b.schema for b in batches] == [source_schema(CONTACTS)]
    assert source_schema(CONTACTS).field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert batches[0].column("updated_at").to_pylist() == [T0, T0]
    assert batches[0].column("phone").to_pylist() == ["", ""]  # empty stays empty, not null


def test_equal_cursors_straddling_chunks_are_all_read_from_an_inclusive_start(
    tmp_path: Path,
) -> None:
    same = T0 + dt.timedelta(hours=1)
    rows = [_contact(i, T0) for i in range(1, 51)]
    rows += [_contact(i, same) for i in range(51, 10_051)]  # one bulk update: 10k equal stamps
    url = _sqlite_contacts(tmp_path / "s.sqlite", rows)
    small_chunks = CONFIG.tables["contacts"].__class__(**{**CONTACTS.__dict__, "chunk_rows": 3_000})
    with open_reader("uk", url) as reader:
        batches = list(reader.read_changes(small_chunks, same))  # start exactly at the stamp
    ids = pa.concat_tables(batches).column("id").to_pylist()
    assert len(batches) == 4  # 20k-row fetches regrouped into ~3k chunks, edges inside the run
    assert ids == list(range(51, 10_051))  # ordered by (updated_at, id), none lost, none twice


def test_invalid_utf8_is_repaired_and_reported_with_its_row(tmp_path: Path) -> None:
    url = _sqlite_contacts(tmp_path / "s.sqlite", [_contact(i, T0) for i in range(1, 4)])
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.execute("UPDATE contacts SET name = CAST(x'4a6fff' AS TEXT) WHERE id = 2")
    conn.execute("UPDATE contacts SET organization_id = 'acme' WHERE id = 3")
    conn.commit()
    conn.close()
    with open_reader("au", url) as reader:
        table = pa.concat_tables(list(reader.read_changes(CONTACTS, None)))
        issues = [str(i) for i in reader.take_issues()]
    assert table.num_rows == 3  # no row is lost
    assert table.column("name").to_pylist()[1] == "Jo\ufffd"
    assert table.column("organization_id").to_pylist() == [1, 1, None]
    assert sorted(issues) == [
        "instance au, table contacts, row id=2, column name: "
        "invalid UTF-8; undecodable bytes replaced with U+FFFD",
        "instance au, table contacts, row id=3, column organization_id: "
        "not a 64-bit integer (SQLite text); loaded as null",
    ]


def test_sqlite_errors_name_instance_table_and_cause(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    with pytest.raises(SourceUnavailable, match=f"instance fr: SQLite database {missing} does not exist"):
        open_reader("fr", f"sqlite:///{missing}")
    assert not missing.exists()  # read-only: never created by a failed open
    url = _sqlite_contacts(tmp_path / "s.sqlite", [])
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.execute("ALTER TABLE contacts DROP COLUMN language")
    conn.commit()
    conn.close()
    with open_reader("fr", url) as reader:
        with pytest.raises(SourceTableMissing, match="instance fr, table messages: table does not exist"):
            reader.check_table(MESSAGES)
        with pytest.raises(SourceSchemaMismatch, match="instance fr, table contacts: no such column: language"):
            reader.check_table(CONTACTS)
    with pytest.raises(SourceUnavailable, match="unsupported source oracle://"):
        open_reader("fr", "oracle://host/db")


def test_versions_and_key_bounds(tmp_path: Path) -> None:
    url = _sqlite_contacts(tmp_path / "s.sqlite", [_contact(i, T0) for i in (3, 5, 9)])
    with open_reader("uk", url) as reader:
        assert reader.key_bounds(CONTACTS) == (3, 9, 3)
        assert reader.read_versions(CONTACTS, 4, 9).column("id").to_pylist() == [5]
        assert reader.read_versions(CONTACTS, None, None).num_rows == 3
        rows = pa.concat_tables(list(reader.read_rows(CONTACTS, [9, 3, 4])))
        assert sorted(rows.column("id").to_pylist()) == [3, 9]


def test_postgres_reader_streams_copy_into_the_same_schema(pg_database: PgDatabaseFactory) -> None:
    database = pg_database("tw_ingest_reader")
    conn = database.connect()
    with conn.cursor() as cursor:
        cursor.execute(create_table_sql(TABLES["messages"], "postgresql"))
        cursor.execute(
            "INSERT INTO messages (organization_id, contact_id, direction, status, body, created_at, "
            "updated_at) SELECT 1, g, CASE WHEN g = 2 THEN 'NA' WHEN g = 3 THEN '' "
            "ELSE 'inbound' END, 'received', E'multi\\nline, \"quoted\"', %s, "
            "%s + g * interval '1 second' FROM generate_series(1, 2500) g",
            (T0, T0),
        )
        cursor.execute("UPDATE messages SET contact_id = NULL WHERE id = 4")
    conn.close()
    small = MESSAGES.__class__(**{**MESSAGES.__dict__, "chunk_rows": 1_000})
    with open_reader("uk", database.url) as reader:
        reader.check_table(MESSAGES)
        full = list(reader.read_changes(small, None))
        assert [b.num_rows for b in full] == [2_500] or sum(b.num_rows for b in full) == 2_500
        table = pa.concat_tables(full).sort_by("id")
        assert table.schema == source_schema(MESSAGES)
        assert table.column("direction").to_pylist()[:4] == ["inbound", "NA", "", "inbound"]
        assert table.column("contact_id").to_pylist()[3] is None
        assert table.column("updated_at").to_pylist()[0] == T0 + dt.timedelta(seconds=1)
        window = list(reader.read_changes(small, T0 + dt.timedelta(seconds=2_000)))
        ids = pa.concat_tables(window).column("id").to_pylist()
        assert ids == list(range(2_000, 2_501))  # inclusive start, ordered
        # A reader stopped early leaves its connection usable.
        stopped = reader.read_changes(small, None)
        next(stopped)
        stopped.close()
        assert reader.key_bounds(MESSAGES) == (1, 2_500, 2_500)
        assert reader.read_versions(MESSAGES, 10, 12).column("id").to_pylist() == [10, 11]
        assert pa.concat_tables(list(reader.read_rows(MESSAGES, [7, 1]))).num_rows == 2
        with pytest.raises(SourceTableMissing, match="instance uk, table contacts: table does not exist"):
            list(reader.read_changes(CONTACTS, None))


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(SourceUnavailable) as caught:
        open_reader("au", "postgresql+psycopg2://reader:secret@127.0.0.1:1/platform")
    message = str(caught.value)
    assert message.startswith("instance au: cannot connect to PostgreSQL postgresql+psycopg2://reader:***@127.0.0.1:1/platform")
    assert "secret" not in message
