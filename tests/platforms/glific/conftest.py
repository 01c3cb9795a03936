"""The glific profile end to end, built once per session and shared by the tests of this folder.

Three Glific instance databases on the test PostgreSQL server, generated with deterministic
random activity (reference_platform.samples.glific), feed two warehouses, DuckDB and
PostgreSQL: ingestion with platforms/glific/tables.yml (TW_CONFIG), `dbt build` with the glific
profile (TW_PLATFORM). Two cycles: the generated history, then more activity (an organization's
data wiped after its soft delete, new messages, provider webhooks) plus an erasure here (a
contact's DELETE; PostgreSQL cascades it to the contact's messages). After each cycle the
fixture reads the marts of both warehouses and computes the oracle from the sources at that
moment; the tests compare them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reference_platform.samples.glific import generator as glific
from reference_platform.samples.glific.truth import compute_truth
from reference_platform.samples.runner import generate, step
from tenant_warehouse.postgres import PgServer
from tenant_warehouse.warehouse_sql import connect, query, relation_exists
from tests.sample_platforms.raw_compare import pg_execute, pg_query
from tests.support.pg import PgDatabaseFactory
from tests.support.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[3]
SEED = 23
SCALE = 0.12
STEP_MINUTES = 24 * 60
WAREHOUSES = ("duckdb", "postgres")
INSTANCES = glific.PLATFORM.instances

# Marts read after each cycle: the ones the oracle checks, and the organizations' zones.
MARTS: dict[str, tuple[str, ...]] = {
    "active_users_by_organization": ("instance_id", "organization_id", "tenant_id", "period",
                                     "period_start", "active_contacts"),
    "active_users_by_instance": ("instance_id", "period", "period_start", "active_contacts"),
    "active_users_global": ("period", "period_start", "active_contacts"),
    "message_delivery_by_organization_month": (
        "instance_id", "organization_id", "tenant_id", "month_start", "inbound_messages",
        "outbound_messages", "delivered_messages", "read_messages", "failed_messages",
        "delivery_rate", "read_rate", "failure_rate"),
    "new_organizations_by_month": ("instance_id", "month_start", "kind", "new_organizations"),
    "dq_quarantined_rows": ("instance_id", "table_name", "row_id", "quarantine_reason"),
    "dim_organizations": ("instance_id", "organization_id", "time_zone",
                          "is_time_zone_fallback"),
    "fct_messages": ("instance_id", "message_id"),
}
# What a chatbot platform does not have: these marts must not exist at all.
ABSENT_MARTS = ("fct_orders", "turnover_by_organization_month", "billing_by_organization_month")


@dataclass
class Cycle:
    number: int
    truth: dict[str, list[dict[str, Any]]]
    marts: dict[str, dict[str, list[dict[str, Any]]]]  # warehouse -> mart -> rows
    present: dict[str, dict[str, bool]]  # warehouse -> absent-mart name -> exists
    erased_messages: list[tuple[str, int]] = field(default_factory=list)


def read_marts(pipeline: Pipeline) -> tuple[dict[str, list[dict[str, Any]]], dict[str, bool]]:
    with pipeline.environment() as settings, connect(settings, pipeline.warehouse) as con:
        marts = {
            mart: [dict(zip(columns, row, strict=True))
                   for row in query(con, f"select {', '.join(columns)} from marts.{mart}")]
            for mart, columns in MARTS.items()
        }
        present = {mart: relation_exists(con, "marts", mart) for mart in ABSENT_MARTS}
    return marts, present


def erase_contact(url: str) -> list[int]:
    """Glific's erasure of the busiest ordinary contact: its DELETE only; PostgreSQL removes its
    messages (ON DELETE CASCADE). Returns the ids of the messages that went with it."""
    (contact_id,) = pg_query(
        url, "SELECT c.id FROM contacts c JOIN messages m ON m.contact_id = c.id "
             "WHERE m.flow = 'inbound' "
             "AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.contact_id = c.id) "
             "AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.sender_id = c.id "
             "AND x.contact_id <> c.id) "
             "GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1")[0]
    messages = [r[0] for r in pg_query(url, "SELECT id FROM messages WHERE contact_id = %s",
                                       (contact_id,))]
    pg_execute(url, f"DELETE FROM contacts WHERE id = {contact_id}")
    return messages


def run_cycle(number: int, pipelines: dict[str, Pipeline], urls: dict[str, str]) -> Cycle:
    marts, present = {}, {}
    for name, pipeline in pipelines.items():
        pipeline.cycle()
        marts[name], present[name] = read_marts(pipeline)
    return Cycle(number, compute_truth(urls), marts, present)


@pytest.fixture(scope="session")
def glific_cycles(pg_server: PgServer,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Cycle]]:
    factory = PgDatabaseFactory(pg_server)
    try:
        urls = {i: factory(f"tw_glific_src_{i}").url for i in INSTANCES}
        env = {"TW_CONFIG": str(ROOT / "platforms" / "glific" / "tables.yml"),
               "TW_PLATFORM": "glific",
               **{f"TW_SOURCE_{i.upper()}_URL": url for i, url in urls.items()}}
        pipelines = {
            "duckdb": Pipeline(home=tmp_path_factory.mktemp("glific_duckdb"), env=env,
                               instances=INSTANCES),
            "postgres": Pipeline(home=tmp_path_factory.mktemp("glific_postgres"),
                                 warehouse="postgres", instances=INSTANCES,
                                 env={**env, **factory("tw_glific_wh").env}),
        }
        for instance, url in urls.items():
            generate(glific.PLATFORM, url, instance, seed=SEED, scale=SCALE)
        cycles = [run_cycle(1, pipelines, urls)]

        for instance, url in urls.items():
            step(glific.PLATFORM, url, instance, minutes=STEP_MINUTES)
        erased = [(INSTANCES[0], m) for m in erase_contact(urls[INSTANCES[0]])]
        cycles.append(run_cycle(2, pipelines, urls))
        cycles[1].erased_messages = erased
        yield cycles
    finally:
        factory.drop_all()
