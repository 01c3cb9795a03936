"""A REST API as a source, against a fake Pipedrive-like CRM on 127.0.0.1 (tests/sources/fake_crm.py):
offset paging, `updated_since` increments, a page failing once with 500 and a 429 with
Retry-After, deletions reported by the change feed and purges found by a full listing.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import decimal
import hashlib
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from ingestion.config import ConfigError, IngestionConfig, parse_config
from tests.sources.conftest import SourceHome
from tests.sources.fake_crm import TOKEN, Crm, serve

D = decimal.Decimal
PAGINATOR = {
    "type": "offset", "limit": 3, "offset_param": "start", "limit_param": "limit",
    "total_path": None, "has_more_path": "additional_data.pagination.more_items_in_collection",
}


def document() -> dict[str, Any]:
    endpoint = {
        "data_selector": "data",
        "incremental": {"param": "updated_since", "cursor": "update_time"},
        "deleted_flag": "deleted",
        "fields": {"organization_id": "org_id.value"},
    }
    return copy.deepcopy({
        "instances": {
            "crm": {
                "kind": "rest_api",
                "base_url": "https://crm.example.org/api/v1/",
                "auth": "bearer",
                "paginator": dict(PAGINATOR),
                "tables": {
                    "crm_persons": {**copy.deepcopy(endpoint), "path": "persons",
                                    "fields": {"organization_id": "org_id.value",
                                               "email": "email.0.value"}},
                    "crm_deals": {**copy.deepcopy(endpoint), "path": "deals"},
                },
            }
        },
        "tables": {
            "crm_persons": {
                "primary_key": "id",
                "cursor": "update_time",
                "lag_seconds": 120,
                "reconcile_every": 0,  # deletions come from the change feed
                "columns": {
                    "id": "bigint",
                    "organization_id": "bigint",
                    "name": {"type": "text", "policy": "hash"},
                    "email": {"type": "text", "policy": "hash"},
                    "update_time": "timestamp",
                },
            },
            "crm_deals": {
                "primary_key": "id",
                "cursor": "update_time",
                "lag_seconds": 120,
                "reconcile_every": 1,  # a full listing every run also finds purged deals
                "columns": {
                    "id": "bigint",
                    "organization_id": "bigint",
                    "title": "text",
                    "value": "decimal(12,2)",
                    "currency": "text",
                    "status": "text",
                    "update_time": "timestamp",
                },
            },
        },
    })


def person(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"Person {i}", "org_id": {"value": 100 + i % 2, "name": "Org"},
            "email": [{"value": f"p{i}@example.org", "primary": True}]}


def deal(i: int) -> dict[str, Any]:
    return {"id": i, "title": f"Deal {i}", "value": i * 100.25, "currency": "EUR",
            "status": "open", "org_id": {"value": 100 + i % 2}}


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crm]:
    crm = Crm()
    for i in range(1, 9):
        crm.put("persons", person(i))
    for i in range(1, 8):
        crm.put("deals", deal(i))
    with serve(crm) as url:
        monkeypatch.setenv("TW_SOURCE_CRM_URL", url)
        monkeypatch.setenv("TW_SOURCE_CRM_TOKEN", TOKEN)
        yield crm


def h(salt: str, value: str) -> str:
    return hashlib.sha256((salt + value).encode()).hexdigest()


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def expected(crm: Crm, salt: str) -> dict[str, list[tuple[Any, ...]]]:
    persons = [(p["id"], p["org_id"]["value"], h(salt, p["name"]), h(salt, p["email"][0]["value"]),
                when(p["update_time"])) for p in crm.current("persons")]
    deals = [(d["id"], d["org_id"]["value"], d["title"], D(str(d["value"])).quantize(D("0.01")),
              d["currency"], d["status"], when(d["update_time"])) for d in crm.current("deals")]
    return {"crm_persons": sorted(persons), "crm_deals": sorted(deals)}


def raw(home: SourceHome) -> dict[str, list[tuple[Any, ...]]]:
    conn = duckdb.connect(str(home.settings.duckdb_path), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        persons = conn.execute(
            "SELECT id, organization_id, name_hash, email_hash, update_time FROM raw.crm_persons"
            " WHERE instance_id = 'crm' ORDER BY id").fetchall()
        deals = conn.execute(
            "SELECT id, organization_id, title, value, currency, status, update_time"
            " FROM raw.crm_deals WHERE instance_id = 'crm' ORDER BY id").fetchall()
    finally:
        conn.close()
    return {"crm_persons": persons, "crm_deals": deals}


CURSOR_PAGINATOR = {"type": "cursor", "cursor_path": "additional_data.next_cursor",
                    "cursor_param": "cursor"}


@pytest.mark.parametrize("paging", ["offset", "cursor"])
def test_rest_api_source_pages_retries_increments_and_deletes(
    paging: str, crm: Crm, source_home: SourceHome
) -> None:
    doc = document()
    if paging == "cursor":
        doc["instances"]["crm"]["paginator"] = dict(CURSOR_PAGINATOR)
        for endpoint in doc["instances"]["crm"]["tables"].values():
            endpoint["params"] = {"limit": 3}
    config = parse_config(doc)
    salt = source_home.settings.pii_salt()
    crm.faults[("deals", 3)] = 500
    crm.faults[("persons", 3)] = 429

    first = source_home.ingest(config)
    assert first.ok, first.summary()
    assert raw(source_home) == expected(crm, salt)
    assert first.rows_loaded == 15
    statuses = [(path, q.get("start") or _offset(q.get("cursor")), status)
                for path, q, status in crm.log]
    # The failing page and the rate-limited one were asked again, and answered.
    assert statuses.count(("/v1/deals", "3", 500)) == 1
    assert statuses.count(("/v1/deals", "3", 200)) == 1
    assert statuses.count(("/v1/persons", "3", 429)) == 1
    assert statuses.count(("/v1/persons", "3", 200)) == 1

    crm.log.clear()
    crm.update("persons", 2, name="Person two")
    crm.put("persons", person(9))
    crm.delete("persons", 3)
    crm.update("deals", 1, value=999.5, status="won")
    crm.put("deals", deal(8))
    crm.delete("deals", 5)
    crm.purge("deals", 4)
    second = source_home.ingest(config)
    assert second.ok, second.summary()
    persons, deals = second.tables[("crm", "crm_persons")], second.tables[("crm", "crm_deals")]
    assert (persons.rows_loaded, persons.rows_deleted) == (2, 1), second.summary()
    assert (deals.rows_loaded, deals.rows_deleted) == (2, 2), second.summary()
    assert raw(source_home) == expected(crm, salt)
    # Persons were asked only for what changed since the watermark (minus the lag).
    person_queries = [q for path, q, _ in crm.log if path == "/v1/persons"]
    assert person_queries and all(q["updated_since"] > "2026-11-01T09:05" for q in person_queries)

    third = source_home.ingest(config)
    assert third.ok, third.summary()
    assert (third.rows_loaded, third.rows_deleted) == (0, 0), third.summary()
    assert raw(source_home) == expected(crm, salt)

    # A backfill asks for the items changed since then and loads them again as they are.
    crm.log.clear()
    since = dt.datetime(2026, 11, 1, 9, 5, tzinfo=dt.UTC)
    backfill = source_home.ingest(config, tables=["crm_persons"], since=since)
    assert backfill.ok, backfill.summary()
    assert backfill.rows_loaded == sum(when(p["update_time"]) >= since
                                       for p in crm.current("persons"))
    assert {q["updated_since"] for _, q, _ in crm.log} == {"2026-11-01T09:05:00Z"}
    assert raw(source_home) == expected(crm, salt)


def test_items_moving_between_pages_while_paging(crm: Crm, source_home: SourceHome) -> None:
    """Deal 1 is edited between two pages of an offset-paged listing ordered by update_time: it
    moves to the end, so it comes twice (old version on the first page, new on the last) and
    deal 4 slides onto a page already read. The merge keeps deal 1's latest version; deal 4
    comes with the next run (here its full listing; otherwise its lag window)."""
    config = parse_config(document())
    crm.hooks[("deals", 3)] = lambda: crm.update("deals", 1, title="Deal one, renamed")
    first = source_home.ingest(config)
    assert first.ok, first.summary()
    assert first.tables[("crm", "crm_deals")].rows_extracted == 7  # deal 1 twice, no deal 4
    salt = source_home.settings.pii_salt()
    truth = expected(crm, salt)["crm_deals"]
    assert raw(source_home)["crm_deals"] == [row for row in truth if row[0] != 4]
    second = source_home.ingest(config)
    assert second.ok, second.summary()
    assert second.tables[("crm", "crm_deals")].rows_loaded == 1
    assert raw(source_home)["crm_deals"] == truth


def _offset(cursor: str | None) -> str | None:
    """The offset a fake CRM cursor stands for (the test's view of the fake's pages)."""
    if cursor is None:
        return None
    return base64.urlsafe_b64decode(cursor).decode().removeprefix("offset:")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_token", "instance crm, table crm_persons: endpoint persons: HTTP 401 Unauthorized from GET http://127.0.0.1:"),
        ("no_token", "instance crm, table crm_persons: endpoint persons: auth bearer needs the token in TW_SOURCE_CRM_TOKEN"),
        ("no_server", "instance crm, table crm_persons: endpoint persons: cannot connect:"),
        ("not_found", "instance crm, table crm_persons: endpoint people: HTTP 404 Not Found from GET http://127.0.0.1:"),
        ("bad_api_key", "instance crm, table crm_persons: endpoint persons: HTTP 401 Unauthorized from GET http://127.0.0.1:"),
    ],
)
def test_rest_api_errors_are_one_line_without_the_token(
    case: str, expected: str, crm: Crm, source_home: SourceHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = document()
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "1")
    if case == "bad_token":
        monkeypatch.setenv("TW_SOURCE_CRM_TOKEN", "wrong-token-value")
    elif case == "no_token":
        monkeypatch.delenv("TW_SOURCE_CRM_TOKEN")
    elif case == "no_server":
        monkeypatch.setenv("TW_SOURCE_CRM_URL", "http://127.0.0.1:1/v1/")
    elif case == "bad_api_key":  # in the query string, where it must be masked
        doc["instances"]["crm"]["auth"] = "api_key"
        monkeypatch.setenv("TW_SOURCE_CRM_TOKEN", "wrong-token-value")
    elif case == "not_found":
        doc["instances"]["crm"]["tables"]["crm_persons"]["path"] = "people"
    report = source_home.ingest(parse_config(doc), tables=["crm_persons"])
    assert not report.ok
    assert len(report.failures) == 1, report.failures
    failure = report.failures[0]
    assert "\n" not in failure and failure.startswith(expected), failure
    assert "wrong-token-value" not in failure and TOKEN not in failure
    if case == "bad_api_key":
        assert "api_token=***" in failure


def test_api_key_in_the_query_string_reads_the_api(crm: Crm, source_home: SourceHome) -> None:
    doc = document()
    doc["instances"]["crm"]["auth"] = "api_key"  # ?api_token=..., Pipedrive's v1 way
    report = source_home.ingest(parse_config(doc), tables=["crm_persons"])
    assert report.ok, report.summary()
    assert report.rows_loaded == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["instances"]["crm"].update(auth="password"), "instances.crm.auth: unknown auth 'password'"),
        (lambda d: d["instances"]["crm"].update(headers={"Authorization": "Bearer x"}), "instances.crm.headers.Authorization: secrets never go in tables.yml"),
        (lambda d: d["instances"]["crm"]["paginator"].update(type="magic"), "instances.crm.paginator.type: unknown paginator 'magic'"),
        (lambda d: d["instances"]["crm"]["paginator"].update(pages=3), "instances.crm.paginator: unknown key(s) pages for paginator offset"),
        (lambda d: d["instances"]["crm"]["tables"]["crm_deals"].pop("path"), "instances.crm.tables.crm_deals.path: missing"),
        (lambda d: d["instances"]["crm"]["tables"]["crm_deals"]["incremental"].pop("cursor"), "instances.crm.tables.crm_deals.incremental.cursor: missing"),
        (lambda d: d["instances"]["crm"]["tables"]["crm_deals"].update(fields={"owner": "owner.id"}), "instances.crm.tables.crm_deals.fields: not columns of table crm_deals: owner"),
        (lambda d: d["tables"]["crm_deals"].update(cursor="none", reconcile_every=None) or d["tables"]["crm_deals"].pop("reconcile_every"), "tables.crm_deals: served by the REST API instance crm: needs a primary key and a cursor"),
    ],
)
def test_rest_api_config_mistakes_name_the_key(change: Any, message: str) -> None:
    doc = document()
    change(doc)
    with pytest.raises(ConfigError) as error:
        parse_config(doc)
    assert message in str(error.value)


def test_config_keeps_secrets_out(crm: Crm) -> None:
    config: IngestionConfig = parse_config(document())
    assert TOKEN not in repr(config)
