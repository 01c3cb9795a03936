"""PostgreSQL as a source (COPY path) and as the warehouse, in throwaway databases."""

from __future__ import annotations

import pytest

from reference_platform.generator import generate
from reference_platform.simulator import erase_contact, simulate
from tests.ingestion.conftest import SCALE, SEED, Home
from tests.ingestion.helpers import mismatches, raw_rows_postgres, source_rows
from tests.support.pg import PgDatabaseFactory


def test_postgres_source_into_postgres_warehouse(
    home: Home, pg_database: PgDatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = pg_database("tw_ingest_source")
    warehouse = pg_database("tw_ingest_warehouse")
    generate(source.url, "au", seed=SEED, scale=SCALE)
    monkeypatch.setenv("TW_SOURCE_AU_URL", source.url)
    for name, value in warehouse.env.items():
        monkeypatch.setenv(name, value)
    conn = warehouse.connect()

    def assert_equal() -> None:
        for table in home.config.tables.values():
            expected = source_rows(source.url, table, home.salt)
            actual = raw_rows_postgres(conn, table, "au")
            assert actual == expected, f"au.{table.name}: {mismatches(expected, actual)}"

    try:
        report = home.ingest(destination="postgres", instances=["au"])
        assert report.ok, report.summary()
        assert report.rows_loaded > 3_000
        assert_equal()

        simulate(source.url, "au", ticks=1, seed=11)
        erased = erase_contact(source.url, 6)
        report = home.ingest(destination="postgres", instances=["au"], reconcile=True)
        assert report.ok, report.summary()
        assert report.tables[("au", "contacts")].rows_deleted == 1
        assert_equal()

        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM raw.contacts WHERE id = %s", (erased["contact_id"],))
            assert cursor.fetchone() == (0,)
            # Staging is emptied after each load: no copy of the merged rows stays behind.
            cursor.execute("SELECT count(*) FROM raw_staging.contacts")
            assert cursor.fetchone() == (0,)
            cursor.execute(
                "SELECT count(DISTINCT run_id), count(*) FILTER (WHERE status = 'failed') "
                "FROM raw._tw_ingestion_runs"
            )
            assert cursor.fetchone() == (2, 0)
    finally:
        conn.close()
