"""Each sample platform through the real ingestion, with its own tables.yml, into DuckDB.

Three instance databases per platform on the test PostgreSQL server; raw must equal the source
row for row (decimals exact, json arrays as JSON, naive times placed in the instance's stored
zone, personal data hashed, dropped columns absent); then one step of activity plus a hard
delete made here, and the next run must equal the source again with the deletes propagated.
Last, one metric per platform computed from raw with DuckDB SQL must equal the oracle's rows
computed from the sources: raw holds what the profile's marts will need, zones included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingestion.config import load_config
from ingestion.pipeline import run_ingestion
from reference_platform.samples.glific import generator as glific
from reference_platform.samples.glific.instances import INSTANCES as GLIFIC_INSTANCES
from reference_platform.samples.glific.truth import compute_truth as glific_truth
from reference_platform.samples.ofn import generator as ofn
from reference_platform.samples.ofn.instances import INSTANCES as OFN_INSTANCES
from reference_platform.samples.ofn.truth import compute_truth as ofn_truth
from reference_platform.samples.runner import Platform, generate, step
from tenant_warehouse.settings import Settings
from tests.sample_platforms.raw_compare import (
    assert_raw_equals_source,
    pg_execute,
    pg_query,
    raw_rows,
    raw_types,
)
from tests.support.pg import PgDatabaseFactory

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.25
SEED = 7


@dataclass(frozen=True)
class Case:
    platform: Platform
    stored_zones: dict[str, str]
    # (url of one instance) -> (table, ids) hard-deleted by the test, children included.
    hard_delete: Callable[[str], tuple[str, list[int]]]
    # Raw types the platform's quirks must land as: (table, column) -> DuckDB type.
    raw_types: dict[tuple[str, str], str]
    # One metric computed from raw with DuckDB SQL, and the oracle's rows of it as tuples.
    raw_metric: str
    oracle_metric: Callable[[dict[str, str]], list[tuple[object, ...]]]


# Turnover per distributor and local month, from raw (the oracle's rules, written again in SQL
# so that raw is shown to hold what the marts will need, time zones included).
OFN_TURNOVER_SQL = """
with zones (instance_id, time_zone) as (
    select * from (values ('au', 'Australia/Melbourne'), ('fr', 'Europe/Paris'),
                          ('uk', 'Europe/London'))
),
sold as (
    select o.instance_id, o.distributor_id, o.total,
           timezone(z.time_zone, o.completed_at) as completed_local
    from raw.spree_orders as o
    inner join zones as z on z.instance_id = o.instance_id
    where o.state in ('complete', 'awaiting_return') and o.distributor_id is not null
      and o.total >= 0 and o.completed_at >= o.created_at
)
select instance_id, distributor_id, cast(date_trunc('month', completed_local) as date),
       count(*), cast(sum(total) * 100 as bigint)
from sold
where year(completed_local) between 2000 and 2100
group by all
order by all
"""

# Active contacts per organization and local month (organization's zone, NULL = Asia/Kolkata,
# not a zone name = the instance's zone).
GLIFIC_ACTIVE_SQL = """
with zones (instance_id, time_zone) as (
    select * from (values ('br', 'America/Sao_Paulo'), ('in', 'Asia/Kolkata'),
                          ('ng', 'Africa/Lagos'))
),
organizations as (
    select o.instance_id, o.id,
           case when coalesce(o.timezone, 'Asia/Kolkata') in (select name from pg_timezone_names())
                then coalesce(o.timezone, 'Asia/Kolkata') else z.time_zone end as time_zone
    from raw.organizations as o
    inner join zones as z on z.instance_id = o.instance_id
),
inbound as (
    select m.instance_id, m.organization_id, m.contact_id,
           timezone(o.time_zone, m.inserted_at) as inserted_local
    from raw.messages as m
    inner join organizations as o on o.instance_id = m.instance_id and o.id = m.organization_id
    inner join raw.contacts as c on c.instance_id = m.instance_id and c.id = m.contact_id
    where m.flow = 'inbound' and c.organization_id = m.organization_id
)
select instance_id, organization_id, cast(date_trunc('month', inserted_local) as date),
       count(distinct contact_id)
from inbound
group by all
order by all
"""


def ofn_oracle_turnover(urls: dict[str, str]) -> list[tuple[object, ...]]:
    rows = ofn_truth(urls)["turnover_by_distributor_month"]
    return sorted((r["instance_id"], r["distributor_id"], r["month_start"],
                   r["completed_orders"], r["turnover_cents"]) for r in rows)


def glific_oracle_active(urls: dict[str, str]) -> list[tuple[object, ...]]:
    rows = glific_truth(urls)["active_contacts_by_organization_month"]
    return sorted((r["instance_id"], r["organization_id"], r["month_start"],
                   r["active_contacts"]) for r in rows)


def erase_ofn_cart(url: str) -> tuple[str, list[int]]:
    """What Rails does for an order with `dependent: :destroy`: line items, then the order."""
    (order_id,) = pg_query(url, "SELECT min(o.id) FROM spree_orders o WHERE EXISTS "
                                "(SELECT 1 FROM spree_line_items i WHERE i.order_id = o.id)")[0]
    items = [r[0] for r in pg_query(url, "SELECT id FROM spree_line_items WHERE order_id = %s",
                                    (order_id,))]
    pg_execute(url, f"DELETE FROM spree_line_items WHERE order_id = {order_id}",
               f"DELETE FROM spree_orders WHERE id = {order_id}",
               # enterprise_roles has no timestamps: only `cursor: none` can see this change.
               "UPDATE enterprise_roles SET receives_notifications = NOT receives_notifications "
               "WHERE id = (SELECT min(id) FROM enterprise_roles)")
    return "spree_line_items", items


def erase_glific_contact(url: str) -> tuple[str, list[int]]:
    """Glific's erasure: the contact's DELETE only; PostgreSQL cascades to its messages."""
    (contact_id,) = pg_query(
        url, "SELECT c.id FROM contacts c JOIN messages m ON m.contact_id = c.id "
             "WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.contact_id = c.id) "
             "AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.sender_id = c.id "
             "AND x.contact_id <> c.id) "
             "GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1")[0]
    messages = [r[0] for r in pg_query(url, "SELECT id FROM messages WHERE contact_id = %s",
                                       (contact_id,))]
    pg_execute(url, f"DELETE FROM contacts WHERE id = {contact_id}")
    assert pg_query(url, "SELECT count(*) FROM messages WHERE contact_id = %s",
                    (contact_id,))[0][0] == 0, "ON DELETE CASCADE did not remove the messages"
    return "messages", messages


CASES = {
    "ofn": Case(
        ofn.PLATFORM,
        {i: spec.stored_time_zone for i, spec in OFN_INSTANCES.items()},
        erase_ofn_cart,
        {("spree_orders", "total"): "DECIMAL(10,2)", ("spree_line_items", "weight"): "DECIMAL(8,2)",
         ("spree_orders", "completed_at"): "TIMESTAMP WITH TIME ZONE"},
        OFN_TURNOVER_SQL,
        ofn_oracle_turnover,
    ),
    "glific": Case(
        glific.PLATFORM,
        {i: "UTC" for i in GLIFIC_INSTANCES},
        erase_glific_contact,
        {("users", "roles"): "JSON", ("flows", "keywords"): "JSON",
         ("messages", "errors"): "JSON", ("organizations", "active_language_ids"): "JSON"},
        GLIFIC_ACTIVE_SQL,
        glific_oracle_active,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_raw_equals_source_through_activity_and_deletes(
    name: str, pg_database: PgDatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    config = load_config(ROOT / "platforms" / name / "tables.yml")
    # The config's zones are the ones the generator writes in (the comparison uses the latter).
    assert {i: config.instance(i).source_time_zone for i in config.instances} == case.stored_zones

    urls = {}
    for instance in case.platform.instances:
        urls[instance] = pg_database(f"tw_{name}_{instance}").url
        generate(case.platform, urls[instance], instance, seed=SEED, scale=SCALE)
        monkeypatch.setenv(f"TW_SOURCE_{instance.upper()}_URL", urls[instance])
    monkeypatch.setenv("TW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TW_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    settings = Settings.from_env()

    report = run_ingestion(settings, config=config)
    assert report.ok, report.summary()
    compared = assert_raw_equals_source(config, urls, case.stored_zones, settings.duckdb_path,
                                        settings.pii_salt())
    assert compared > 1_000
    for (table, column), expected_type in case.raw_types.items():
        assert raw_types(settings.duckdb_path, table)[column] == expected_type, (table, column)
    for table in config.tables.values():
        dropped = {c.name for c in table.columns if c.policy == "drop"}
        hashed = {c.name for c in table.columns if c.policy == "hash"}
        landed = set(raw_types(settings.duckdb_path, table.name))
        assert not (dropped | hashed) & landed, f"{table.name}: personal data or secret in raw"

    for instance, url in urls.items():
        step(case.platform, url, instance, minutes=90)
    first = sorted(urls)[0]
    table, deleted = case.hard_delete(urls[first])
    assert deleted

    report = run_ingestion(settings, config=config)
    assert report.ok, report.summary()
    assert report.tables[(first, table)].rows_deleted >= len(deleted)
    assert_raw_equals_source(config, urls, case.stored_zones, settings.duckdb_path,
                             settings.pii_salt())
    remaining = {row[0] for row in raw_rows(settings.duckdb_path, config.tables[table], first)}
    assert not remaining & set(deleted)

    # The oracle (from the sources) and the same metric from raw agree, and are not empty.
    expected = case.oracle_metric(urls)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        actual = [tuple(row) for row in conn.execute(case.raw_metric).fetchall()]
    assert len(expected) > 10
    assert actual == expected
