"""alerts.yml: the shipped file is valid, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tenant_warehouse.monitoring.alert_config import (
    RULES,
    AlertConfigError,
    load_alert_config,
    parse_alert_config,
)


def _shipped() -> dict:
    return yaml.safe_load(Path(load_alert_config().path).read_text())


def test_shipped_config_enables_every_rule() -> None:
    config = load_alert_config()
    assert all(config.rule(name) for name in RULES)
    assert config.rules["stale_data"].options["max_lag_minutes"] == 120
    assert config.lag_threshold_minutes("messages") == 120
    assert config.urls({"TW_ALERT_URLS": "json://a/x, mailto://b?to=c\nslack://d"}) == [
        "json://a/x", "mailto://b?to=c", "slack://d",
    ]
    assert config.urls({}) == []


def test_per_table_threshold_and_disabled_rule() -> None:
    document = _shipped()
    document["rules"]["stale_data"]["tables"] = {"messages": 30}
    document["rules"]["new_organization"] = {"enabled": False}
    config = parse_alert_config(document)
    assert config.lag_threshold_minutes("messages") == 30
    assert config.lag_threshold_minutes("orders") == 120
    assert config.rule("new_organization") is None


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["rules"].update(page_someone={}), "rules.page_someone"),
        (lambda d: d["rules"]["stale_data"].update(max_lag_minutes=-5), "rules.stale_data.max_lag_minutes"),
        (lambda d: d["rules"]["stale_data"].update(tables={"orders": "soon"}), "rules.stale_data.tables.orders"),
        (lambda d: d["rules"]["test_failed"].update(statuses=["boom"]), "rules.test_failed.statuses"),
        (lambda d: d["rules"]["run_failed"].update(severity="fatal"), "rules.run_failed.severity"),
        (lambda d: d["rules"]["run_failed"].update(threshold=3), "rules.run_failed.threshold"),
        (lambda d: d["notify"].update(urls_env="not a name"), "notify.urls_env"),
        (lambda d: d["notify"].update(url="slack://secret"), "notify.url"),
        (lambda d: d.update(version=2), "version"),
    ],
)
def test_mistakes_name_the_key(change, key: str) -> None:
    document = _shipped()
    change(document)
    with pytest.raises(AlertConfigError, match=rf": {key.replace('.', '[.]')}: "):
        parse_alert_config(document, Path("alerts.yml"))
