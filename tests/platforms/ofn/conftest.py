"""The ofn profile end to end, built once per session for both warehouses.

Three sample Open Food Network instances in PostgreSQL (reference_platform/samples/ofn: real
schema subset, deterministic activity with cancellations, returns, hard-deleted carts and
customers, late commits, a bulk update, month-edge orders and bad rows) feed two pipelines:
one into DuckDB, one into a PostgreSQL warehouse, each ingesting with TW_CONFIG =
platforms/ofn/tables.yml and building with TW_PLATFORM=ofn. A cycle is the product's own
(`warehouse run`: ingestion with reconciliation, then the whole project the first time and only
what depends on the changed raw tables the second) -> read every mart the tests compare, and
compute the oracle
(reference_platform.samples.ofn.truth) from the sources as they are then. Two cycles: the
generated history, then a day of activity plus what the generator never does, in `uk`: an admin
changes what two enterprises sell (a shop stops selling, a producer starts), which OFN records
nowhere but in `sells` (so billing and kinds change for every month), and a data fix leaves a
completed order in another currency (quarantined: foreign_currency, the profile's own reason).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reference_platform.samples.ofn import generator as ofn
from reference_platform.samples.ofn.truth import compute_truth
from reference_platform.samples.runner import generate, step
from tenant_warehouse.postgres import PgServer
from tenant_warehouse.warehouse_sql import connect, query
from tests.sample_platforms.raw_compare import pg_execute, pg_query
from tests.support.pg import PgDatabaseFactory
from tests.support.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "platforms" / "ofn" / "tables.yml"
SEED = 20_261_202
# ~9 enterprises and ~800 orders per instance: small, and every ugly case is there.
SCALE = 0.5
STEP_MINUTES = 24 * 60
WAREHOUSES = ("duckdb", "postgres")
# The relations the tests read, and the ones the profile must not get (no messages in OFN).
MARTS = (
    "turnover_by_organization_month", "turnover_by_instance_month", "turnover_global_month",
    "new_organizations_by_month", "billing_by_organization_month", "dq_quarantined_rows",
    "dim_organizations", "fct_orders", "active_users_by_organization", "active_users_by_instance",
    "active_users_global",
)
ABSENT = ("fct_messages", "message_delivery_by_organization_month", "contract_messages")
Row = dict[str, Any]


@dataclass
class Cycle:
    truth: dict[str, list[Row]]
    # warehouse -> relation -> rows; a relation that does not exist maps to None.
    relations: dict[str, dict[str, list[Row] | None]]
    # What the test changed in `uk` before this cycle (admin_changes), None before the first.
    changes: AdminChanges | None = None


@dataclass(frozen=True)
class AdminChanges:
    stopped_selling: int  # enterprise id: own -> none
    started_selling: int  # enterprise id: none -> own
    foreign_order: int  # order id: currency changed to EUR


def admin_changes(url: str) -> AdminChanges:
    """The oldest shop stops selling (own -> none), the oldest producer starts (none -> own) and
    the newest complete order is set to EUR, stamped a minute before the instance's clock (uk
    stores UTC, its currency is GBP)."""
    (clock,) = pg_query(url, "SELECT value FROM sim_state WHERE key = 'clock'")[0]
    at = datetime.fromisoformat(clock).astimezone(UTC) - timedelta(minutes=1)
    stamp = at.replace(tzinfo=None)
    (shop,) = pg_query(url, "SELECT min(id) FROM enterprises WHERE sells = 'own'")[0]
    (producer,) = pg_query(
        url, "SELECT min(id) FROM enterprises WHERE sells = 'none' AND is_primary_producer")[0]
    (order,) = pg_query(url, "SELECT max(id) FROM spree_orders WHERE state = 'complete' "
                             "AND distributor_id IS NOT NULL AND total >= 0")[0]
    update = "UPDATE {} SET {} = '{}', updated_at = '{}' WHERE id = {}"
    pg_execute(url, update.format("enterprises", "sells", "none", stamp, shop),
               update.format("enterprises", "sells", "own", stamp, producer),
               update.format("spree_orders", "currency", "EUR", stamp, order))
    return AdminChanges(shop, producer, order)


def read_relations(pipeline: Pipeline, names: tuple[str, ...]) -> dict[str, list[Row] | None]:
    """Every row of each named relation, wherever the build put it (None when it is absent)."""
    found: dict[str, list[Row] | None] = {}
    with pipeline.environment() as settings, connect(settings, pipeline.warehouse) as con:
        placeholder = "%s" if pipeline.warehouse == "postgres" else "?"
        for name in names:
            schemas = [r[0] for r in query(
                con, "select table_schema from information_schema.tables where table_name = "
                f"{placeholder} and table_schema not like '%%snapshot%%'", (name,))]
            if not schemas:
                found[name] = None
                continue
            assert len(schemas) == 1, f"{name} is in several schemas: {schemas}"
            cursor = con.cursor()
            cursor.execute(f'select * from "{schemas[0]}"."{name}"')
            columns = [d[0] for d in cursor.description]
            found[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            cursor.close()
    return found


def run_cycle(pipelines: dict[str, Pipeline], urls: dict[str, str]) -> Cycle:
    relations = {}
    for warehouse, pipeline in pipelines.items():
        pipeline.cycle()
        relations[warehouse] = read_relations(pipeline, MARTS + ABSENT)
    return Cycle(compute_truth(urls), relations)


@pytest.fixture(scope="session")
def ofn_cycles(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer
) -> Iterator[list[Cycle]]:
    factory = PgDatabaseFactory(pg_server)
    try:
        instances = ofn.PLATFORM.instances
        urls = {i: factory(f"tw_ofn_{i}").url for i in instances}
        env = {"TW_CONFIG": str(CONFIG), "TW_PLATFORM": "ofn",
               **{f"TW_SOURCE_{i.upper()}_URL": url for i, url in urls.items()}}
        pipelines = {
            "duckdb": Pipeline(home=tmp_path_factory.mktemp("ofn_duckdb"), warehouse="duckdb",
                               env=env, instances=instances),
            "postgres": Pipeline(home=tmp_path_factory.mktemp("ofn_postgres"),
                                 warehouse="postgres",
                                 env={**env, **factory("tw_ofn_wh").env}, instances=instances),
        }
        for instance, url in urls.items():
            generate(ofn.PLATFORM, url, instance, seed=SEED, scale=SCALE)
        cycles = [run_cycle(pipelines, urls)]
        for instance, url in urls.items():
            step(ofn.PLATFORM, url, instance, minutes=STEP_MINUTES)
        changes = admin_changes(urls["uk"])
        cycles.append(run_cycle(pipelines, urls))
        cycles[-1].changes = changes
        yield cycles
    finally:
        factory.drop_all()
