"""PostgreSQL and SQLite sources hold the same rows for the same seed (skipped without a server
unless CI=true, where the shared fixtures make a missing server a failure)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reference_platform.database import Database
from reference_platform.generator import generate
from reference_platform.schema import TABLES
from reference_platform.simulator import begin_late_commit, erase_contact, simulate
from reference_platform.truth import compute_truth, latest_rows


def build(url: str) -> None:
    generate(url, "au", seed=11, scale=0.005)
    simulate(url, "au", ticks=2, seed=11, bad_row_rate=0.2)
    erase_contact(url, 3)
    begin_late_commit(url).commit()
    simulate(url, "au", ticks=1, seed=11)


def test_same_rows_on_both_engines(pg_database: Callable, tmp_path: Path) -> None:
    postgres = pg_database("tw_platform").url
    sqlite = f"sqlite:///{tmp_path / 'au.sqlite'}"
    build(postgres)
    build(sqlite)
    for table in TABLES:
        assert latest_rows(postgres, table) == latest_rows(sqlite, table), table
    assert compute_truth({"au": postgres}) == compute_truth({"au": sqlite})


def test_postgres_types_and_late_commit_visibility(pg_database: Callable) -> None:
    url = pg_database("tw_platform").url
    generate(url, "uk", scale=0.005)
    database = Database(url)
    types = dict(database.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'orders'"))
    assert types["created_at"] == "timestamp with time zone" and types["total_cents"] == "bigint"
    identity = database.query("SELECT is_identity FROM information_schema.columns "
                              "WHERE table_name = 'orders' AND column_name = 'id'")
    assert identity == [("YES",)]
    late = begin_late_commit(url)
    assert not database.query(f"SELECT id FROM orders WHERE id = {late.rows['orders'][0]}")
    late.commit()
    assert database.query(f"SELECT id FROM orders WHERE id = {late.rows['orders'][0]}")
    # Rows inserted without an id get the next one from the database's identity.
    with database.transaction() as session:
        new_id = session.query(
            "INSERT INTO messages (organization_id, contact_id, direction, status, body, "
            "created_at, updated_at) VALUES (1, 1, 'inbound', 'received', 'hi', "
            "'2026-06-28 00:00:00', '2026-06-28 00:00:00') RETURNING id")[0][0]
    assert new_id == max(late.rows["messages"]) + 1
