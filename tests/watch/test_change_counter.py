"""The source's own write counter (SourceReader.change_counter), which lets the no-change fast
path skip a due reconciliation's whole-table comparison: it moves after every kind of write."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from ingestion.config import load_config
from ingestion.readers import open_reader
from reference_platform.schema import TABLES, create_table_sql
from tests.support.pg import PgDatabase, PgDatabaseFactory

MESSAGES = load_config().tables["messages"]
T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _write(database: PgDatabase, sql: str, params: tuple[object, ...] = ()) -> None:
    connection = database.connect()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    connection.close()  # a backend reports its statistics when it ends


def _moved(reader: object, before: tuple[int, ...] | None) -> tuple[int, ...]:
    """The counter once it differs from `before` (the server publishes it within seconds)."""
    deadline = time.monotonic() + 30
    while True:
        now = reader.change_counter(MESSAGES)  # type: ignore[attr-defined]
        if now is not None and now != before:
            return now
        if time.monotonic() > deadline:
            pytest.fail(f"the change counter did not move from {before}")
        time.sleep(0.2)


def test_the_postgres_change_counter_moves_with_inserts_updates_and_deletes(
    pg_database: PgDatabaseFactory,
) -> None:
    database = pg_database("tw_change_counter")
    _write(database, create_table_sql(TABLES["messages"], "postgresql"))
    with open_reader("uk", database.url) as reader:
        _write(database, "INSERT INTO messages (organization_id, contact_id, direction, status, "
                         "body, created_at, updated_at) SELECT 1, g, 'inbound', 'received', 'x', "
                         "%s, %s FROM generate_series(1, 3) g", (T0, T0))
        inserted = _moved(reader, None)
        assert inserted[0] >= 3
        _write(database, "UPDATE messages SET status = 'read' WHERE id = 1")
        updated = _moved(reader, inserted)
        assert updated[1] > inserted[1]
        _write(database, "DELETE FROM messages WHERE id = 2")
        deleted = _moved(reader, updated)
        assert deleted[2] > updated[2]
        assert reader.change_counter(MESSAGES) == deleted  # nothing written since: it stays
