"""One small reference-platform warehouse for the exports and statements suites, built once per
session with real dlt and dbt:

1. generate the platform (clock 2026-06-28: January to May closed, June open), ingest, build:
   the billing snapshot reports January to May;
2. a customer of RESTATED_TENANT cancels two orders completed in May (written to the source
   database like the platform would: state, cancelled_at, updated_at), ingest, build again:
   May of that tenant now bills less than it was reported (a restatement).

Both suites call `billing_warehouse(tmp_path_factory)`; the second call reuses the first build.
dbt builds models, seeds and snapshots only (the data tests are other suites' business).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.pipeline import Pipeline

SEED, SCALE = 7, 0.004
RESTATED_TENANT = "uk:2"
RESTATED_MONTH = "2026-05"
BUILD = ("build", "--resource-type", "seed", "--resource-type", "snapshot",
         "--resource-type", "model")  # fmt: skip


def billing_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    home = tmp_path_factory.getbasetemp() / "exports_billing_warehouse"
    pipeline = Pipeline(home=home)
    done = home / "built"
    if done.exists():
        return pipeline
    pipeline.generate(seed=SEED, scale=SCALE)
    pipeline.ingest()
    pipeline.dbt(*BUILD)
    cancel_may_orders(home / "source" / "uk.sqlite", organization_id=2, count=2)
    pipeline.ingest()
    pipeline.dbt(*BUILD)
    done.write_text("ok")
    return pipeline


def cancel_may_orders(source: Path, organization_id: int, count: int) -> None:
    with sqlite3.connect(source) as connection:
        (clock,) = connection.execute("select value from sim_state where key = 'clock'").fetchone()
        stamp = clock.replace("T", " ")[:19] + ".000000"
        ids = [row[0] for row in connection.execute(
            "select id from orders where organization_id = ? and state = 'complete'"
            " and completed_at >= '2026-05-03' and completed_at < '2026-05-28'"
            " order by id limit ?", (organization_id, count),
        )]  # fmt: skip
        assert len(ids) == count, f"scenario needs {count} May orders of organization {organization_id}"
        connection.executemany(
            "update orders set state = 'cancelled', cancelled_at = ?, updated_at = ? where id = ?",
            [(stamp, stamp, order_id) for order_id in ids],
        )


def warehouse_file(pipeline: Pipeline) -> Path:
    return pipeline.home / "warehouse.duckdb"
