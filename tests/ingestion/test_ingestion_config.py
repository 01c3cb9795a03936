"""tables.yml: the packaged config and the errors a broken one gives."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingestion.config import DEFAULT_PATH, ConfigError, load_config, parse_config
from ingestion.pipeline import run_ingestion
from tenant_warehouse.settings import Settings


def packaged() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_PATH.read_text())


def test_packaged_config_matches_the_contract() -> None:
    config = load_config()
    assert config.instances == ("uk", "au", "fr")
    assert list(config.tables) == [
        "organizations", "users", "contacts", "orders", "order_items", "messages",
    ]
    assert config.is_excluded("sim_state") and config.is_excluded("sim_erasures")
    for name in ("users", "contacts"):
        table = config.tables[name]
        assert {c.name: c.policy for c in table.columns if c.policy != "keep"} == {
            "name": "hash", "email": "hash", "phone": "hash",
        }
        assert [c.output_name for c in table.columns][2:5] == ["name_hash", "email_hash", "phone_hash"]
    body = config.tables["messages"].column("body")
    assert body.policy == "drop"
    assert "body" not in [c.name for c in config.tables["messages"].source_columns]
    for table in config.tables.values():
        assert (table.primary_key, table.cursor, table.lag_seconds) == ("id", "updated_at", 3600)
        assert table.write_disposition == "merge"
        # Hard deletes happen only where there is no soft-delete column: reconciled every run;
        # elsewhere hourly at one run a minute (late commits older than the lag, stray deletes).
        expected = 1 if table.name in ("contacts", "order_items") else 60
        assert table.reconcile_every == expected


def test_a_new_table_is_a_config_entry() -> None:
    document = packaged()
    document["tables"]["refunds"] = {
        "primary_key": "id",
        "lag_seconds": 60,
        "columns": {"id": "bigint", "amount_cents": "bigint", "note": {"type": "text", "policy": "drop"},
                    "updated_at": "timestamp"},
    }
    table = parse_config(document).tables["refunds"]
    assert (table.cursor, table.lag_seconds, table.reconcile_every) == ("updated_at", 60, 60)
    assert [c.name for c in table.source_columns] == ["id", "amount_cents", "updated_at"]


def _broken(path: str, value: Any) -> dict[str, Any]:
    """The packaged document with the value at a dotted path replaced (None deletes it)."""
    document = copy.deepcopy(packaged())
    *parents, leaf = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("tables.users.columns.email", {"type": "text", "policy": "mask"},
         "tables.users.columns.email.policy: unknown policy 'mask' (expected one of keep, hash, drop)"),
        ("tables.orders.primary_key", None, "tables.orders.primary_key: missing primary key"),
        ("tables.orders.primary_key", "order_id",
         "tables.orders.primary_key: column 'order_id' is not among the table's columns"),
        ("tables.orders.primary_key", "state", "tables.orders.primary_key: column 'state' must be of type bigint"),
        ("tables.orders.cursor", "total_cents",
         "tables.orders.cursor: column 'total_cents' must be of type timestamp"),
        ("tables.orders.columns.state", "varchar",
         "tables.orders.columns.state.type: unknown type 'varchar'"),
        ("tables.orders.lag_seconds", -5, "tables.orders.lag_seconds: expected a whole number >= 0, got -5"),
        ("tables.orders.partition", "month", "tables.orders: unknown key(s) partition"),
        ("tables.orders.write_disposition", "replace",
         "tables.orders.write_disposition: unsupported 'replace' (expected one of merge)"),
        ("tables.sim_state", {"primary_key": "key", "columns": {"key": "text"}},
         "tables.sim_state: table is excluded by the `exclude` list"),
        ("tables.orders.columns.total_cents", {"type": "bigint", "policy": "hash"},
         "tables.orders.columns.total_cents.policy: only text and bytes columns can be hashed"),
        ("tables.contacts.columns.id", {"type": "bigint", "policy": "drop"},
         "tables.contacts.primary_key: column 'id' cannot be hashed or dropped"),
        ("tables.contacts.columns.instance_id", "text",
         "tables.contacts.columns.instance_id: 'instance_id' is reserved"),
        ("tables.contacts.columns.name_hash", "text", "tables.contacts.columns: two columns land as 'name_hash'"),
        ("instances", None, "instances: missing"),
        ("instances", ["uk", "UK"], "instances[1]: 'UK' is not a plain lower-case identifier"),
        ("defaults.reconcile_every", "often",
         "reconcile_every: expected a whole number >= 0, got 'often'"),
        ("tables.orders.columns.total_cents", "decimal(39,2)",
         "tables.orders.columns.total_cents.type: decimal precision 39 out of range "
         "(expected 1 <= P <= 38)"),
        ("tables.orders.columns.total_cents", "decimal(4,5)",
         "tables.orders.columns.total_cents.type: decimal scale 5 out of range (expected 0 <= S <= P)"),
        ("tables.orders.columns.total_cents", "decimal(10",
         "tables.orders.columns.total_cents.type: unknown type 'decimal(10': inside {...} quote "
         "it, e.g. amount: 'decimal(10,2)'"),
        ("tables.orders.columns.total_cents", "decimal(10)",
         "tables.orders.columns.total_cents.type: unknown type 'decimal(10)'"),
        ("tables.contacts.columns.phone", "bytes",
         "tables.contacts.columns.phone.policy: a bytes column needs policy hash"),
        ("tables.orders.source_time_zone", "Europe/Londres",
         "tables.orders.source_time_zone: unknown time zone 'Europe/Londres'"),
        ("tables.orders.instances", ["uk", "de"],
         "tables.orders.instances: unknown instance 'de' (database instances: uk, au, fr)"),
        ("instances", {"uk": {"source_time_zone": "Mars/Olympus"}},
         "instances.uk.source_time_zone: unknown time zone 'Mars/Olympus'"),
        ("instances", {"uk": {"kind": "ftp"}},
         "instances.uk.kind: unknown kind 'ftp' (expected one of database, spreadsheets, rest_api)"),
        ("instances", {"uk": {"time_zone": "UTC"}},
         "instances.uk: unknown key(s) time_zone for an instance of kind database"),
        ("instances", "uk", "instances: expected a list of instance ids"),
    ],
)
def test_broken_config_names_the_key_and_the_cause(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_broken(path, value), Path("tables.yml"))
    assert str(caught.value).startswith("tables.yml: "), str(caught.value)
    assert message in str(caught.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the ingestion config"):
        load_config(tmp_path / "missing.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text("tables: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yml: not valid YAML"):
        load_config(broken)


def test_selection_rejects_unknown_and_excluded_names() -> None:
    config = load_config()
    assert [t.name for t in config.select_tables(["messages", "messages"])] == ["messages"]
    with pytest.raises(ConfigError, match=r"tables: unknown table 'refunds' \(configured: organizations"):
        config.select_tables(["refunds"])
    with pytest.raises(ConfigError, match="table 'sim_events' is excluded"):
        config.select_tables(["sim_events"])
    with pytest.raises(ConfigError, match=r"instances: unknown instance 'de' \(configured: uk, au, fr\)"):
        config.select_instances(["uk", "de"])


def test_run_ingestion_rejects_an_unknown_table_before_doing_anything(
    tw_settings: Settings,
) -> None:
    with pytest.raises(ConfigError, match="unknown table 'invoices'"):
        run_ingestion(tw_settings, tables=["invoices"])
    assert not tw_settings.pipelines_dir.exists() or not any(tw_settings.pipelines_dir.iterdir())


def test_new_keys_parse_into_the_table_and_instance_settings() -> None:
    document = copy.deepcopy(packaged())
    document["instances"] = {"uk": {"source_time_zone": "Europe/London"}, "au": None, "fr": {}}
    del document["defaults"]["reconcile_every"]
    document["tables"]["orders"]["columns"]["total"] = "decimal( 10 , 2 )"
    document["tables"]["orders"]["columns"]["meta"] = "json"
    document["tables"]["orders"]["source_time_zone"] = "America/New_York"
    document["tables"]["orders"]["instances"] = ["uk"]
    document["tables"]["prices"] = {
        "primary_key": "id", "cursor": "none", "columns": {"id": "bigint", "amount": "decimal(8,2)"}
    }
    document["tables"]["roles"] = {
        "primary_key": "none", "columns": {"user_id": "bigint", "token": {"type": "bytes", "policy": "hash"}}
    }
    config = parse_config(document, Path("tables.yml"))
    assert config.instances == ("uk", "au", "fr")
    assert config.instance("uk").source_time_zone == "Europe/London"
    assert config.instance("au").source_time_zone == "UTC"
    orders = config.tables["orders"]
    assert orders.column("total").type == "decimal(10,2)"
    assert orders.column("total").decimal == (10, 2)
    assert orders.instances == ("uk",)
    assert config.for_instance(orders, "uk").time_zone == "America/New_York"
    assert config.for_instance(config.tables["contacts"], "uk").time_zone == "Europe/London"
    # Safe default: no soft_delete column -> deletes are hard -> reconciled every run.
    assert orders.reconcile_every == 1
    assert config.tables["organizations"].reconcile_every == 0
    prices, roles = config.tables["prices"], config.tables["roles"]
    assert prices.compares_rows and prices.cursor is None and prices.reconcile_every == 0
    assert roles.replaces_whole and roles.primary_key is None and roles.cursor is None
    assert roles.column("token").output_name == "token_hash"


def test_reconcile_every_zero_opts_out_and_cursor_none_refuses_it() -> None:
    document = copy.deepcopy(packaged())
    document["tables"]["orders"]["reconcile_every"] = 0
    assert parse_config(document, Path("t.yml")).tables["orders"].reconcile_every == 0
    document["tables"]["orders"]["cursor"] = "none"
    with pytest.raises(ConfigError, match=r"tables.orders.reconcile_every: does not apply"):
        parse_config(document, Path("t.yml"))


def test_the_readme_configuration_example_is_a_valid_config() -> None:
    import re

    readme = (DEFAULT_PATH.parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration reference"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    config = parse_config(yaml.safe_load(example.group(1)), Path("README.md"))
    assert config.instance("uk").source_time_zone == "Europe/London"
    assert config.tables["spree_prices"].compares_rows
    assert config.tables["enterprise_roles"].replaces_whole
    assert config.tables["spree_orders"].column("total").decimal == (10, 2)
