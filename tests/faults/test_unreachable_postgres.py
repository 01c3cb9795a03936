"""An instance whose PostgreSQL database stops accepting connections in the middle of a run
(connections refused, its open sessions terminated): the other instances load, the run reports
the failure for that instance's tables, and the next run catches up exactly. Full matrix only;
the SQLite version runs at the default size in test_faults_end_to_end.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.extract import ProgressEvent
from tests.faults.harness import FULL, FaultPipeline
from tests.faults.matrix import MATRIX
from tests.support.pg import PgDatabase, PgDatabaseFactory

pytestmark = pytest.mark.skipif(not FULL, reason="full matrix only (TW_FAULT_MATRIX=full)")
INSTANCES = ("uk", "au", "fr")


class Outage:
    """Refuses connections to one source database and terminates its sessions once one of its
    tables has been read."""

    def __init__(self, database: PgDatabase, instance: str) -> None:
        self.database, self.instance, self.started = database, instance, False

    def _admin(self, sql: str) -> None:
        connection = self.database.server.connect("postgres", autocommit=True)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def __call__(self, event: ProgressEvent) -> None:
        if not self.started and event.instance == self.instance and event.phase == "done":
            self.started = True
            name = self.database.name
            self._admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")

    def end(self) -> None:
        self._admin(f'ALTER DATABASE "{self.database.name}" ALLOW_CONNECTIONS true')


def test_a_postgres_instance_unreachable_mid_run(tmp_path: Path,
                                                 pg_database: PgDatabaseFactory) -> None:
    sources = {instance: pg_database(f"tw_fault_src_{instance}") for instance in INSTANCES}
    env = {f"TW_SOURCE_{i.upper()}_URL": db.url for i, db in sources.items()}
    pipeline = FaultPipeline(home=tmp_path / "home", env=env)
    pipeline.generate(seed=21, scale=0.001)
    assert pipeline.run_ingestion().ok
    pipeline.simulate(seed=21, ticks=1, tick_hours=6)

    outage = Outage(sources["fr"], "fr")
    try:
        report = pipeline.run_ingestion(progress=outage)
    finally:
        outage.end()
    assert outage.started and not report.ok
    failed = {(r.instance_id, r.table_name): r.error_message for r in report.records
              if r.status == "failed"}
    assert failed and {i for i, _ in failed} == {"fr"}, report.summary()
    assert all(m.startswith("instance fr") for m in failed.values()), failed
    checks = pipeline.check_raw(instances=["uk", "au"])
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()

    pipeline.simulate(seed=21, ticks=1, tick_hours=6)
    after = pipeline.run_ingestion()
    assert after.ok, after.summary()
    checks = pipeline.check_raw()
    MATRIX.count_check(checks.lost, checks.duplicated)
    assert checks.ok, checks.describe()
    MATRIX.runs += 3
    MATRIX.scenario("unreachable instance mid-run (PostgreSQL)",
                    f"{len(failed)} fr tables failed naming the instance, uk/au loaded; next "
                    "run exact")
