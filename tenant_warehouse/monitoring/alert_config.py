"""Load and validate alerts.yml (the alert rules and where notifications go).

Every mistake raises AlertConfigError whose message starts with the file and the dotted key that
is wrong (for example `rules.stale_data.max_lag_minutes`), like the ingestion config (tables.yml).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.settings import PROJECT_DIR

DEFAULT_PATH = PROJECT_DIR / "alerts.yml"
PATH_ENV = "TW_ALERTS_FILE"
SEVERITIES = ("info", "warning", "error")
RULES = (
    "instance_failed",
    "run_failed",
    "test_failed",
    "stale_data",
    "row_count_anomaly",
    "new_organization",
    "tenant_data_problem",
)
TEST_STATUSES = ("fail", "error", "warn")
FRESHNESS_STATUSES = ("warn", "error", "runtime error")
ORGANIZATION_KINDS = ("shop", "hub", "producer", "ngo")
DEFAULT_SEVERITY = {
    "instance_failed": "error",
    "run_failed": "error",
    "test_failed": "warning",
    "stale_data": "warning",
    "row_count_anomaly": "warning",
    "new_organization": "info",
    "tenant_data_problem": "warning",
}
_NOTIFY_KEYS = {"urls_env", "title_prefix", "send_resolved", "digest_after"}
_RULE_KEYS: dict[str, set[str]] = {
    "instance_failed": set(),
    "run_failed": set(),
    "test_failed": {"statuses"},
    "stale_data": {"max_lag_minutes", "tables", "freshness_statuses"},
    "row_count_anomaly": set(),
    "new_organization": {"kinds"},
    "tenant_data_problem": set(),
}


class AlertConfigError(ValueError):
    """alerts.yml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class RuleConfig:
    name: str
    enabled: bool = True
    severity: str = "warning"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertConfig:
    rules: Mapping[str, RuleConfig]
    urls_env: str = "TW_ALERT_URLS"
    title_prefix: str = "[tenant_warehouse]"
    send_resolved: bool = True
    digest_after: int = 5
    path: Path = DEFAULT_PATH

    def rule(self, name: str) -> RuleConfig | None:
        """The rule's config when it is enabled, else None."""
        rule = self.rules.get(name)
        return rule if rule is not None and rule.enabled else None

    def urls(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Apprise URLs from the environment variable `urls_env`."""
        value = (environ if environ is not None else os.environ).get(self.urls_env, "")
        return [url for url in re.split(r"[\s,]+", value) if url]

    def lag_threshold_minutes(self, table: str) -> float:
        rule = self.rules["stale_data"]
        return float(rule.options.get("tables", {}).get(table, rule.options["max_lag_minutes"]))


def load_alert_config(path: str | Path | None = None) -> AlertConfig:
    source = Path(path or os.environ.get(PATH_ENV) or DEFAULT_PATH)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AlertConfigError(f"{source}: cannot read the alerts config: {exc}") from exc
    except yaml.YAMLError as exc:
        raise AlertConfigError(f"{source}: not valid YAML: {exc}") from exc
    return parse_alert_config(document, source)


def parse_alert_config(document: Any, source: Path = DEFAULT_PATH) -> AlertConfig:
    def fail(key: str, why: str) -> AlertConfigError:
        return AlertConfigError(f"{source}: {key}: {why}")

    if not isinstance(document, dict):
        raise fail("(top)", "expected a mapping with version, notify and rules")
    unknown = set(document) - {"version", "notify", "rules"}
    if unknown:
        raise fail(sorted(unknown)[0], "unknown key (expected version, notify, rules)")
    if document.get("version") != 1:
        raise fail("version", "must be 1")

    notify = document.get("notify") or {}
    if not isinstance(notify, dict):
        raise fail("notify", "expected a mapping")
    for key in notify:
        if key not in _NOTIFY_KEYS:
            raise fail(f"notify.{key}", f"unknown key (expected {', '.join(sorted(_NOTIFY_KEYS))})")
    urls_env = notify.get("urls_env", "TW_ALERT_URLS")
    if not isinstance(urls_env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", urls_env):
        raise fail("notify.urls_env", "must be an environment variable name")
    digest_after = notify.get("digest_after", 5)
    if not isinstance(digest_after, int) or isinstance(digest_after, bool) or digest_after < 1:
        raise fail("notify.digest_after", "must be a whole number >= 1")
    send_resolved = notify.get("send_resolved", True)
    if not isinstance(send_resolved, bool):
        raise fail("notify.send_resolved", "must be true or false")

    rules_doc = document.get("rules") or {}
    if not isinstance(rules_doc, dict):
        raise fail("rules", "expected a mapping of rule name to settings")
    rules: dict[str, RuleConfig] = {}
    for name in rules_doc:
        if name not in RULES:
            raise fail(f"rules.{name}", f"unknown rule (expected one of {', '.join(RULES)})")
    for name in RULES:
        body = rules_doc.get(name)
        if body is None:
            body = {"enabled": False} if name in rules_doc else {}
        if not isinstance(body, dict):
            raise fail(f"rules.{name}", "expected a mapping")
        rules[name] = _rule(name, body, lambda key, why, name=name: fail(f"rules.{name}.{key}", why))
    return AlertConfig(
        rules=rules,
        urls_env=urls_env,
        title_prefix=str(notify.get("title_prefix", "[tenant_warehouse]")),
        send_resolved=send_resolved,
        digest_after=digest_after,
        path=source,
    )


def _rule(name: str, body: dict[str, Any], fail: Any) -> RuleConfig:
    allowed = {"enabled", "severity"} | _RULE_KEYS[name]
    for key in body:
        if key not in allowed:
            raise fail(key, f"unknown key (expected {', '.join(sorted(allowed))})")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    severity = body.get("severity", DEFAULT_SEVERITY[name])
    if severity not in SEVERITIES:
        raise fail("severity", f"must be one of {', '.join(SEVERITIES)}")
    options: dict[str, Any] = {}
    if name == "test_failed":
        options["statuses"] = _choices(body.get("statuses", list(TEST_STATUSES)), TEST_STATUSES,
                                       lambda why: fail("statuses", why))
    elif name == "stale_data":
        options["max_lag_minutes"] = _minutes(body.get("max_lag_minutes", 120),
                                              lambda why: fail("max_lag_minutes", why))
        tables = body.get("tables") or {}
        if not isinstance(tables, dict):
            raise fail("tables", "expected a mapping of table name to minutes")
        options["tables"] = {
            str(table): _minutes(minutes, lambda why, table=table: fail(f"tables.{table}", why))
            for table, minutes in tables.items()
        }
        options["freshness_statuses"] = _choices(
            body.get("freshness_statuses", ["error"]), FRESHNESS_STATUSES,
            lambda why: fail("freshness_statuses", why),
        )  # fmt: skip
    elif name == "new_organization":
        options["kinds"] = _choices(body.get("kinds", list(ORGANIZATION_KINDS)),
                                    ORGANIZATION_KINDS, lambda why: fail("kinds", why))
    return RuleConfig(name, enabled, severity, options)


def _choices(value: Any, allowed: tuple[str, ...], fail: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"expected a list of {', '.join(allowed)}")
    for item in value:
        if item not in allowed:
            raise fail(f"{item!r} is not one of {', '.join(allowed)}")
    return tuple(value)


def _minutes(value: Any, fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise fail("must be a number of minutes > 0")
    return float(value)
