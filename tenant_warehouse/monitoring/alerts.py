"""Alert rules over the observability marts, sent through Apprise, each event once.

`evaluate` turns the warehouse's state into Alerts (rules in alerts.yml); `evaluate_and_send`
sends the new ones and records them in `raw._tw_alerts`, where the latest event of an alert key
is its state:

- `fired` and delivered: the alert is open; the same key on a later run is not sent again.
- `fired` but not delivered (no receiver answered): sent again on the next evaluation.
- `resolved`: the condition has cleared (an open key no rule produces any more).
- `baseline`: an organization that existed at the first evaluation (never alerted).

A key names the event, not just the place: `instance_failed:uk:<failing since>`. A new failure
streak after a recovery is a new event and alerts again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape

from tenant_warehouse.monitoring.alert_config import AlertConfig, load_alert_config
from tenant_warehouse.monitoring.output import make_console
from tenant_warehouse.monitoring.store import Warehouse
from tenant_warehouse.settings import Settings

console = make_console()  # plain, complete lines when not on a terminal
NEVER_RESOLVED = ("new_organization",)


@dataclass(frozen=True)
class Alert:
    key: str
    rule: str
    severity: str
    what: str
    where: str
    since: dt.datetime | None
    investigate: str
    instance_id: str | None = None
    table_name: str | None = None
    tenant_id: str | None = None
    details: str = ""

    @property
    def title(self) -> str:
        return f"{self.severity.upper()} {self.rule.replace('_', ' ')}: {self.what}"

    @property
    def body(self) -> str:
        lines = [
            f"What: {self.what}",
            f"Where: {self.where}",
            f"Since: {_format_time(self.since)}",
            f"Investigate: {self.investigate}",
        ]
        if self.details:
            lines += ["", self.details]
        return "\n".join(lines)


@dataclass(frozen=True)
class CycleError:
    """A step of the cycle that crashed (no run-log row says so): reported by rule run_failed.
    From the journal (monitoring/journal.py): a command interrupted or unable to record its
    failure, `what` says which; `already_sent` when it was sent while the warehouse was
    unreachable (recorded now, not sent again)."""

    step: str
    message: str
    what: str = ""
    entry_id: int | None = None
    already_sent: bool = False


@dataclass
class AlertOutcome:
    sent: list[Alert] = field(default_factory=list)
    undelivered: list[Alert] = field(default_factory=list)
    already_open: list[Alert] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    baseline: int = 0
    updated: int = 0
    notes: list[str] = field(default_factory=list)


# --- rules ------------------------------------------------------------------------------------


def evaluate(
    warehouse: Warehouse, config: AlertConfig, cycle_errors: Sequence[CycleError] = ()
) -> tuple[list[Alert], list[str]]:
    """The alerts the warehouse's current state calls for, and notes on rules that could not
    be evaluated (their mart does not exist yet)."""
    alerts: list[Alert] = []
    notes: list[str] = []

    def needs(view: str) -> bool:
        if warehouse.has_view(view):
            return True
        notes.append(f"observability.{view} does not exist yet (run `warehouse build`)")
        return False

    if config.rule("instance_failed") and needs("pipeline_status"):
        alerts += _instance_failed(warehouse, config)
    if config.rule("run_failed"):
        alerts += _cycle_failed(config, cycle_errors)
        if needs("dbt_node_status"):
            alerts += _dbt_failed(warehouse, config)
    if config.rule("test_failed") and needs("dbt_node_status"):
        alerts += _tests_failed(warehouse, config)
    if config.rule("stale_data"):
        if needs("pipeline_status"):
            alerts += _stale_tables(warehouse, config)
        if needs("source_freshness"):
            alerts += _stale_sources(warehouse, config)
    if config.rule("row_count_anomaly") and needs("row_count_trend"):
        alerts += _row_count_anomalies(warehouse, config)
    if config.rule("tenant_data_problem"):
        if warehouse.relation_exists("marts", "dim_organizations"):
            alerts += _tenant_data_problems(warehouse, config)
        else:
            notes.append("marts.dim_organizations does not exist yet (run `warehouse build`)")
    if config.rule("new_organization"):
        if warehouse.relation_exists("marts", "dim_organizations"):
            alerts += _new_organizations(warehouse, config)
        else:
            notes.append("marts.dim_organizations does not exist yet (run `warehouse build`)")
    return alerts, notes


def _instance_failed(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["instance_failed"]
    rows = warehouse.query(
        "select instance_id, table_name, failing_since, consecutive_failures, last_error_message"
        " from observability.pipeline_status where is_failing order by instance_id, table_name"
    )
    by_instance: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_instance[row["instance_id"]].append(row)
    configured = _configured_tables()
    alerts = []
    for instance, failing in by_instance.items():
        since = min(_utc(r["failing_since"]) for r in failing if r["failing_since"])
        tables = sorted(
            (r["table_name"] for r in failing),
            key=lambda t: (configured.index(t) if t in configured else len(configured), t),
        )
        scope = (
            f"all {len(tables)} tables" if configured and set(configured) <= set(tables)
            else ", ".join(tables)
        )  # fmt: skip
        errors = sorted({r["last_error_message"] or "no error message" for r in failing})
        runs = max(int(r["consecutive_failures"] or 0) for r in failing)
        alerts.append(Alert(
            key=f"instance_failed:{instance}:{_key_time(since)}",
            rule="instance_failed", severity=rule.severity,
            what=f"ingestion of instance {instance} failed ({scope})",
            where=f"instance {instance}; tables {', '.join(tables)}",
            since=since,
            investigate=f"warehouse status --instances {instance}"
                        f"  (then: warehouse rerun --failed)",
            instance_id=instance, table_name=tables[0] if len(tables) == 1 else None,
            details=f"{runs} failed run(s) in a row. Error(s):\n" + "\n".join(
                f"- {error}" for error in errors[:5]
            ),
        ))  # fmt: skip
    return alerts


def _configured_tables() -> list[str]:
    try:
        from ingestion.config import load_config

        return list(load_config().tables)
    except Exception:  # the list only shapes the wording
        return []


def _cycle_failed(config: AlertConfig, errors: Sequence[CycleError]) -> list[Alert]:
    rule = config.rules["run_failed"]
    return [
        Alert(
            key=f"run_failed:cycle:{error.step}:{_digest(error.message)}",
            rule="run_failed", severity=rule.severity,
            what=error.what or f"the {error.step} step of the pipeline crashed",
            where=f"step {error.step}", since=_now(),
            investigate="warehouse status; warehouse run (runs the cycle again, with its output)",
            details=error.message,
        )
        for error in errors
    ]


def _dbt_failed(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["run_failed"]
    rows = warehouse.query(
        "select unique_id, resource_type, node_name, relation_name, failing_since, last_message,"
        " consecutive_failures from observability.dbt_node_status"
        " where is_failing and resource_type in ('model', 'seed', 'snapshot')"
        " order by unique_id"
    )
    return [
        Alert(
            key=f"run_failed:{row['unique_id']}:{_key_time(row['failing_since'])}",
            rule="run_failed", severity=rule.severity,
            what=f"dbt {row['resource_type']} {row['node_name']} failed",
            where=f"{row['resource_type']} {row['node_name']}"
                  + (f" ({row['relation_name']})" if row["relation_name"] else ""),
            since=_utc(row["failing_since"]),
            investigate=f"warehouse build --select {row['node_name']}",
            details=f"{row['consecutive_failures']} failed run(s) in a row. "
                    f"dbt said: {_short(row['last_message'])}",
        )
        for row in rows
    ]


def _tests_failed(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["test_failed"]
    statuses = rule.options["statuses"]
    rows = warehouse.query(
        "select unique_id, node_name, attached_node, column_name, last_status, last_failures,"
        " last_message, failing_since from observability.dbt_node_status"
        " where resource_type in ('test', 'unit_test') and failing_since is not null"
        " order by unique_id"
    )
    alerts = []
    for row in rows:
        if row["last_status"] not in statuses:
            continue
        tested = (row["attached_node"] or "").split(".")[-1]
        column = f", column {row['column_name']}" if row["column_name"] else ""
        where = f"{tested}{column}" if tested else f"singular test {row['node_name']} (tests/dbt)"
        failures = row["last_failures"]
        alerts.append(Alert(
            key=f"test_failed:{row['unique_id']}:{row['last_status']}:{_key_time(row['failing_since'])}",
            rule="test_failed", severity=rule.severity,
            what=f"dbt test {row['node_name']} {row['last_status']}"
                 + (f" ({failures} failing row(s))" if failures else ""),
            where=where,
            since=_utc(row["failing_since"]),
            investigate=f"warehouse build --select {row['node_name']}"
                        f"  (dbt test --select {row['node_name']} --store-failures)",
            details=f"dbt said: {_short(row['last_message'])}" if row["last_message"] else "",
        ))  # fmt: skip
    return alerts


def _stale_tables(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["stale_data"]
    rows = warehouse.query(
        "select instance_id, table_name, data_as_of, lag_seconds, last_status"
        " from observability.pipeline_status where lag_seconds is not null"
        " order by instance_id, table_name"
    )
    alerts = []
    for row in rows:
        threshold = config.lag_threshold_minutes(row["table_name"])
        if row["lag_seconds"] <= threshold * 60:
            continue
        where = f"instance {row['instance_id']}, table {row['table_name']}"
        alerts.append(Alert(
            key=f"stale_data:{row['instance_id']}:{row['table_name']}:{_key_time(row['data_as_of'])}",
            rule="stale_data", severity=rule.severity,
            what=f"{row['instance_id']}.{row['table_name']} is {_duration(row['lag_seconds'])} "
                 f"behind the source (threshold {_duration(threshold * 60)})",
            where=where, since=_utc(row["data_as_of"]),
            investigate=f"warehouse status --instances {row['instance_id']}"
                        f"  (then: warehouse rerun --select {row['instance_id']}.{row['table_name']})",
            instance_id=row["instance_id"], table_name=row["table_name"],
            details=f"Last run status: {row['last_status']}.",
        ))  # fmt: skip
    return alerts


def _stale_sources(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["stale_data"]
    statuses = rule.options["freshness_statuses"]
    if not statuses:
        return []
    rows = warehouse.query(
        "select source_unique_id, source_name, table_name, status, max_loaded_at, age_seconds,"
        " message from observability.source_freshness where is_latest order by source_unique_id"
    )
    alerts = []
    for row in rows:
        if row["status"] not in statuses:
            continue
        age = f", last load {_duration(row['age_seconds'])} ago" if row["age_seconds"] else ""
        alerts.append(Alert(
            key=f"stale_data:{row['source_unique_id']}:{row['status']}:{_key_time(row['max_loaded_at'])}",
            rule="stale_data", severity=rule.severity,
            what=f"source freshness {row['status']} on {row['source_name']}.{row['table_name']}{age}",
            where=f"source {row['source_name']}, table {row['table_name']} (all instances)",
            since=_utc(row["max_loaded_at"]),
            investigate=f"dbt source freshness --select source:{row['source_name']}.{row['table_name']}",
            table_name=row["table_name"],
            details=_short(row["message"]) if row["message"] else "",
        ))  # fmt: skip
    return alerts


def _row_count_anomalies(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["row_count_anomaly"]
    rows = warehouse.query(
        "select instance_id, table_name, capture_id, captured_at, row_count, row_count_change,"
        " mean_change, z_score, anomaly_direction from ("
        " select trend.*, row_number() over ("
        "   partition by instance_id, table_name order by captured_at desc, capture_id desc"
        " ) as capture_recency from observability.row_count_trend as trend"
        ") as latest where capture_recency = 1 and is_anomaly order by instance_id, table_name"
    )
    return [
        Alert(
            key=f"row_count_anomaly:{row['instance_id']}:{row['table_name']}:{row['capture_id']}",
            rule="row_count_anomaly", severity=rule.severity,
            what=f"row-count {row['anomaly_direction']} in {row['instance_id']}.{row['table_name']}: "
                 f"{int(row['row_count_change']):+,} rows (usual {float(row['mean_change']):+,.0f}, "
                 f"z = {float(row['z_score']):.1f})",
            where=f"instance {row['instance_id']}, table {row['table_name']}",
            since=_utc(row["captured_at"]),
            investigate=f"warehouse report  (row-count trend of {row['instance_id']}.{row['table_name']})",
            instance_id=row["instance_id"], table_name=row["table_name"],
            details=f"Rows now: {int(row['row_count']):,}.",
        )
        for row in rows
    ]


def _tenant_data_problems(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    """A data problem of one tenant: an organization with an invalid time zone (kept in the
    marts on its instance's zone), rows naming an organization the warehouse does not have."""
    rule = config.rules["tenant_data_problem"]
    try:
        fallbacks = warehouse.query(
            "select instance_id, organization_id, tenant_id, organization_name, source_time_zone,"
            " time_zone, updated_at from marts.dim_organizations where is_time_zone_fallback"
            " order by instance_id, organization_id"
        )
    except Exception:  # a warehouse built before the column existed: the next build adds it
        _rollback(warehouse)
        fallbacks = []
    alerts = []
    for row in fallbacks:
        tenant, since = row["tenant_id"], _utc(row["updated_at"])
        value = "no time zone" if row["source_time_zone"] is None else (
            f"invalid time zone {row['source_time_zone']!r}")
        alerts.append(Alert(
            key=f"tenant_data_problem:{tenant}:invalid_time_zone:{row['source_time_zone']}",
            rule="tenant_data_problem", severity=rule.severity,
            what=f"organization {tenant} has {value} since {_format_short(since)}; its orders "
                 f"are counted in {row['time_zone']}",
            where=f"instance {row['instance_id']}, tenant {tenant}, table organizations, "
                  f"column time_zone",
            since=since,
            investigate=f"warehouse status --tenant {tenant}  (fix organizations.time_zone of id "
                        f"{row['organization_id']} in instance {row['instance_id']})",
            instance_id=row["instance_id"], table_name="organizations", tenant_id=tenant,
            details=f"{row['organization_name']!r} stays in every mart with its instance's time "
                    f"zone (dim_organizations.is_time_zone_fallback); dq_quarantined_rows lists "
                    f"the value. Its local days and months move to its own zone once fixed.",
        ))  # fmt: skip
    if warehouse.relation_exists("marts", "dq_quarantined_rows"):
        orphans = warehouse.query(
            "select instance_id, tenant_id, table_name, count(*) as row_count"
            " from marts.dq_quarantined_rows where quarantine_reason = 'unknown_organization'"
            " group by instance_id, tenant_id, table_name order by instance_id, tenant_id, table_name"
        )
        by_tenant: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in orphans:
            by_tenant[(row["instance_id"], row["tenant_id"])].append(row)
        for (instance, tenant), rows in by_tenant.items():
            counts = ", ".join(f"{int(r['row_count']):,} {r['table_name']}" for r in rows)
            alerts.append(Alert(
                key=f"tenant_data_problem:{tenant}:unknown_organization",
                rule="tenant_data_problem", severity=rule.severity,
                what=f"rows of tenant {tenant} name an organization the warehouse does not have "
                     f"({counts}); they are kept out of the marts",
                where=f"instance {instance}, tenant {tenant}",
                since=None,
                investigate=f"warehouse status --tenant {tenant}  (is organization "
                            f"{tenant.split(':')[-1]} missing from {instance}.organizations?)",
                instance_id=instance, tenant_id=tenant,
            ))  # fmt: skip
    return alerts


def _rollback(warehouse: Warehouse) -> None:
    if warehouse.target == "postgres":
        warehouse.connection.rollback()


def _new_organizations(warehouse: Warehouse, config: AlertConfig) -> list[Alert]:
    rule = config.rules["new_organization"]
    rows = warehouse.query(
        "select instance_id, organization_id, tenant_id, organization_name, kind, plan, created_at"
        " from marts.dim_organizations order by instance_id, organization_id"
    )
    return [
        Alert(
            key=f"new_organization:{row['tenant_id']}",
            rule="new_organization", severity=rule.severity,
            what=f"new {row['kind']} {row['organization_name']!r} on plan {row['plan']}",
            where=f"instance {row['instance_id']}, tenant {row['tenant_id']}",
            since=_utc(row["created_at"]),
            investigate=f"warehouse status --tenant {row['tenant_id']}",
            instance_id=row["instance_id"], tenant_id=row["tenant_id"],
        )
        for row in rows
        if row["kind"] in rule.options["kinds"]
    ]


# --- sending ----------------------------------------------------------------------------------


class Notifier:
    """Apprise, one service per URL so a failing one is named and the others still get it.

    Each message gets fresh service objects: a reused one throttles itself between sends (the
    email plugin waits seconds), and an evaluation sends few messages (see digest_after)."""

    def __init__(self, urls: Iterable[str], title_prefix: str = "") -> None:
        import apprise

        self.apprise = apprise
        self.title_prefix = title_prefix
        self.services: list[tuple[str, str]] = []
        self.invalid: list[str] = []
        for url in urls:
            if apprise.Apprise().add(url):
                self.services.append((_redact(url), url))
            else:
                self.invalid.append(_redact(url))

    @property
    def configured(self) -> bool:
        return bool(self.services or self.invalid)

    def send(self, title: str, body: str, severity: str) -> str | None:
        """Send to every service; None when all accepted it, else what failed."""
        notify_type = {
            "error": self.apprise.NotifyType.FAILURE,
            "warning": self.apprise.NotifyType.WARNING,
            "info": self.apprise.NotifyType.INFO,
            "resolved": self.apprise.NotifyType.SUCCESS,
        }[severity]
        problems = [f"{url}: not a valid Apprise URL" for url in self.invalid]
        for redacted, url in self.services:
            service = self.apprise.Apprise()
            service.add(url)
            with self.apprise.LogCapture(level=logging.WARNING) as log:
                result = service.notify(
                    title=f"{self.title_prefix} {title}".strip(), body=body,
                    notify_type=notify_type, body_format=self.apprise.NotifyFormat.TEXT,
                )  # fmt: skip
            if not result:
                reason = " ".join(log.getvalue().split()) or "notification failed"
                problems.append(f"{redacted}: {reason}"[:500])
        return "; ".join(problems) or None


def evaluate_and_send(
    settings: Settings,
    target: str,
    config: AlertConfig | None = None,
    cycle_errors: Sequence[CycleError] = (),
    notifier: Notifier | None = None,
) -> AlertOutcome:
    """Evaluate the rules, send what is new, record what was sent and what cleared."""
    from tenant_warehouse.monitoring.journal import Journal
    from tenant_warehouse.monitoring.store import open_warehouse

    config = config or load_alert_config()
    notifier = notifier or Notifier(config.urls(), config.title_prefix)
    outcome = AlertOutcome()
    journal = Journal(settings)
    # Failures the warehouse could not take when they happened (an interrupted command, a
    # cycle that could not reach it): copied in now, as run_failed alerts.
    pending = [_journal_error(entry) for entry in journal.unrecorded_failures()]
    cycle_errors = [*cycle_errors, *pending]
    sent_before = {a.key for a in _cycle_failed(config, [e for e in pending if e.already_sent])
                   } if config.rule("run_failed") else set()  # fmt: skip
    with open_warehouse(settings, target) as warehouse:
        warehouse.ensure_tables()
        state = _latest_events(warehouse)
        alerts, outcome.notes = evaluate(warehouse, config, cycle_errors)
        now = _now()

        alerts = _baseline_organizations(warehouse, alerts, state, now, outcome)
        fresh: list[Alert] = []
        records = []
        for alert in alerts:
            latest = state.get(alert.key)
            if latest and latest["event"] == "baseline":
                continue
            if alert.key in sent_before:
                outcome.already_open.append(alert)
                records.append(_record(alert, "fired", now, None))
            elif latest and latest["event"] == "fired" and latest["is_delivered"]:
                outcome.already_open.append(alert)
                if (latest["title"], latest["body"]) != (alert.title, alert.body):
                    # Same event, new count or wording: the open alert's text follows it (status
                    # and the report show the latest); not sent again for that.
                    records.append(_record(alert, "fired", now, None))
                    outcome.updated += 1
            else:
                fresh.append(alert)

        for batch in _batches(fresh, config.digest_after):
            if len(batch) == 1:
                title, body = batch[0].title, batch[0].body
            else:
                title, body = _digest_message(batch)
            error = _deliver(notifier, title, body, batch[0].severity)
            for alert in batch:
                (outcome.undelivered if error else outcome.sent).append(alert)
                records.append(_record(alert, "fired", now, error))

        current = {alert.key for alert in alerts}
        cleared = [
            row for key, row in sorted(state.items())
            if row["event"] == "fired" and key not in current and row["rule_name"] not in NEVER_RESOLVED
        ]  # fmt: skip
        for row in cleared:
            title = f"RESOLVED {row['title']}"
            body = f"Cleared: {_format_time(now)} (the latest run no longer shows it).\n\n{row['body']}"
            error = (
                _deliver(notifier, title, body, "resolved")
                if config.send_resolved and row["is_delivered"] else None
            )  # fmt: skip
            outcome.resolved.append(row["alert_key"])
            records.append({
                **{k: row[k] for k in ("alert_key", "rule_name", "severity", "instance_id",
                                       "table_name", "tenant_id", "since_at")},
                "recorded_at": now, "event": "resolved", "title": title, "body": body,
                "is_delivered": error is None, "delivery_error": error,
            })  # fmt: skip
        warehouse.append("alerts", records)
    journal.mark_recorded([e.entry_id for e in pending if e.entry_id is not None])
    journal.save_snapshot("open_alerts", [
        {"title": a.title, "severity": a.severity, "rule": a.rule, "tenant_id": a.tenant_id,
         "instance_id": a.instance_id}
        for a in alerts if a.rule not in NEVER_RESOLVED
    ])  # fmt: skip
    _print_outcome(outcome, notifier)
    return outcome


def _journal_error(entry: Any) -> CycleError:
    what = (f"warehouse {entry.command} was interrupted" if entry.status == "interrupted"
            else f"warehouse {entry.command} failed and could not record it in the warehouse")
    if entry.step:
        what += f" during step {entry.step}"
    return CycleError(entry.step or "start", entry.describe(), what=what,
                      entry_id=entry.entry_id, already_sent=entry.alerted)


def notify_unrecorded(errors: Sequence[CycleError], cause: str) -> bool:
    """Send a cycle's failures now, when the warehouse cannot take the alert log (its DuckDB
    file locked, its server down); the journal keeps them for the next evaluation to record.
    True when delivered (the console always is)."""
    config = load_alert_config()
    notifier = Notifier(config.urls(), config.title_prefix)
    lines = [f"- {error.step}: {error.message}" for error in errors] or ["- (no step crashed)"]
    title = "ERROR run failed: a cycle failed and the warehouse cannot record it"
    body = "\n".join([
        f"What: {title.split(': ', 1)[1]}",
        f"Why the warehouse could not record it: {_short(cause)}",
        f"Since: {_format_time(_now())}",
        "Investigate: warehouse status  (is another process holding the warehouse?)",
        "", *lines,
    ])
    return _deliver(notifier, title, body, "error") is None


def _deliver(notifier: Notifier, title: str, body: str, severity: str) -> str | None:
    if not notifier.configured:
        # No receiver configured: the console is the channel, and it always works.
        style = {"error": "red", "warning": "yellow", "resolved": "green"}.get(severity, "cyan")
        console.print(f"[bold {style}]alert[/bold {style}] {escape(title)}\n{escape(body)}\n", highlight=False)
        return None
    return notifier.send(title, body, severity)


def _baseline_organizations(
    warehouse: Warehouse,
    alerts: list[Alert],
    state: dict[str, dict[str, Any]],
    now: dt.datetime,
    outcome: AlertOutcome,
) -> list[Alert]:
    """At the first evaluation, every organization already there is the baseline, not news."""
    if any(row["rule_name"] == "new_organization" for row in state.values()):
        return alerts
    organizations = [a for a in alerts if a.rule == "new_organization"]
    if not organizations:
        return alerts
    rows = [_record(alert, "baseline", now, None) for alert in organizations]
    warehouse.append("alerts", rows)
    for row in rows:
        state[row["alert_key"]] = row
    outcome.baseline = len(rows)
    return alerts


def _latest_events(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    rows = warehouse.query(
        f"select alert_key, rule_name, event, severity, instance_id, table_name, tenant_id, title,"
        f" body, since_at, is_delivered, recorded_at from {warehouse.relation('alerts')}"
        f" order by recorded_at, event"
    )
    return {row["alert_key"]: row for row in rows}  # later rows overwrite earlier ones


def _record(alert: Alert, event: str, now: dt.datetime, error: str | None) -> dict[str, Any]:
    return {
        "recorded_at": now, "alert_key": alert.key, "rule_name": alert.rule, "event": event,
        "severity": alert.severity, "instance_id": alert.instance_id,
        "table_name": alert.table_name, "tenant_id": alert.tenant_id, "title": alert.title,
        "body": alert.body, "since_at": alert.since, "is_delivered": error is None,
        "delivery_error": error,
    }  # fmt: skip


def _batches(alerts: list[Alert], digest_after: int) -> list[list[Alert]]:
    by_rule: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_rule[alert.rule].append(alert)
    batches: list[list[Alert]] = []
    for group in by_rule.values():
        batches += [group] if len(group) > digest_after else [[a] for a in group]
    return batches


def _digest_message(alerts: list[Alert]) -> tuple[str, str]:
    first = alerts[0]
    title = f"{first.severity.upper()} {first.rule.replace('_', ' ')}: {len(alerts)} new alerts"
    body = "\n\n".join(alert.body for alert in alerts)
    return title, body


def _print_outcome(outcome: AlertOutcome, notifier: Notifier) -> None:
    channel = f"{len(notifier.services)} receiver(s)" if notifier.configured else "the console"
    parts = [f"{len(outcome.sent)} sent to {channel}"]
    if outcome.undelivered:
        parts.append(f"[red]{len(outcome.undelivered)} not delivered (retried next run)[/red]")
    if outcome.already_open:
        parts.append(f"{len(outcome.already_open)} already sent")
    if outcome.updated:
        parts.append(f"{outcome.updated} open alert(s) reworded (count changed)")
    if outcome.resolved:
        parts.append(f"[green]{len(outcome.resolved)} resolved[/green]")
    if outcome.baseline:
        parts.append(f"{outcome.baseline} organizations taken as the baseline")
    console.print("alerts: " + ", ".join(parts))
    for note in outcome.notes:
        console.print(f"[dim]alerts: {note}[/dim]")
    for alert in outcome.undelivered:
        console.print(f"[red]not delivered:[/red] {escape(alert.title)}", highlight=False)


# --- helpers ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _format_short(value: Any) -> str:
    moment = _utc(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "an unknown time"


def _key_time(value: Any) -> str:
    moment = _utc(value)
    return moment.strftime("%Y%m%dT%H%M%S.%fZ") if moment else "never"


def _format_time(value: Any) -> str:
    moment = _utc(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _short(text: str | None, limit: int = 600) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _redact(url: str) -> str:
    """scheme://host... without credentials or tokens, for messages and logs."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"
