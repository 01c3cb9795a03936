"""A spreadsheets instance and a REST API instance in one run, into a PostgreSQL warehouse:
the merge-key snapshot replacement, the empty-file marker, the quarantine and the REST deletes
all hold on PostgreSQL (CSV loads through COPY) as on DuckDB."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ingestion.config import parse_config
from tests.sources.conftest import SourceHome
from tests.sources.fake_crm import Crm
from tests.sources.test_rest_api_source import crm as crm  # the fixture, re-exported
from tests.sources.test_rest_api_source import document as crm_document
from tests.sources.test_rest_api_source import expected as crm_expected
from tests.sources.test_rest_api_source import person
from tests.sources.test_spreadsheet_source import BAD, GOOD, write_csv, write_xlsx
from tests.sources.test_spreadsheet_source import document as sheets_document
from tests.support.pg import PgDatabaseFactory


def combined(folder: Path) -> dict[str, Any]:
    doc = copy.deepcopy(sheets_document(folder))
    rest = crm_document()
    doc["instances"].update(rest["instances"])
    doc["tables"].update(rest["tables"])
    return doc


def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return [tuple(v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in r)
                for r in cursor.fetchall()]


def test_spreadsheets_and_rest_api_into_postgres(
    tmp_path: Path,
    crm: Crm,
    source_home: SourceHome,
    pg_database: PgDatabaseFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "sheets"
    folder.mkdir()
    write_xlsx(folder / "budgets.xlsx", GOOD + BAD)
    write_csv(folder / "targets.csv", [["north", "1.5"], ["south", "2"]])
    warehouse = pg_database("tw_sources_wh")
    for name, value in warehouse.env.items():
        monkeypatch.setenv(name, value)
    config = parse_config(combined(folder))
    salt = source_home.settings.pii_salt()
    conn = warehouse.connect()
    try:
        first = source_home.ingest(config, destination="postgres")
        assert first.ok, first.summary()
        assert rows(conn, "SELECT id FROM raw.budgets ORDER BY id") == [(1,), (2,), (3,)]
        assert rows(conn, "SELECT count(*) FROM raw._tw_quarantine") == [(5,)]
        persons = rows(conn, "SELECT id, organization_id, name_hash, email_hash, update_time"
                             " FROM raw.crm_persons ORDER BY id")
        assert persons == crm_expected(crm, salt)["crm_persons"]

        write_xlsx(folder / "budgets.xlsx", GOOD[1:])
        write_csv(folder / "targets.csv", [])
        crm.delete("persons", 1)
        crm.put("persons", person(20))
        second = source_home.ingest(config, destination="postgres")
        assert second.ok, second.summary()
        assert rows(conn, "SELECT id FROM raw.budgets ORDER BY id") == [(2,), (3,)]
        assert rows(conn, "SELECT count(*) FROM raw.targets") == [(0,)]
        assert rows(conn, "SELECT count(*) FROM raw._tw_quarantine") == [(0,)]
        persons = rows(conn, "SELECT id, organization_id, name_hash, email_hash, update_time"
                             " FROM raw.crm_persons ORDER BY id")
        assert persons == crm_expected(crm, salt)["crm_persons"]

        third = source_home.ingest(config, destination="postgres")
        assert third.ok, third.summary()
        assert (third.rows_loaded, third.rows_deleted) == (0, 0), third.summary()
        assert rows(conn, "SELECT count(DISTINCT run_id), count(*) FILTER (WHERE status = 'failed')"
                          " FROM raw._tw_ingestion_runs") == [(3, 0)]
    finally:
        conn.close()

