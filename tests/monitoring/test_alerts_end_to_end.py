"""Alerts end to end: real dbt results, real Apprise, a real HTTP webhook and SMTP server.

The failing warehouse (conftest) must produce one alert per event at both receivers, nothing
new on the next evaluation, and "resolved" notes once a good run has cleared the failures.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tenant_warehouse.monitoring.alert_config import load_alert_config
from tenant_warehouse.monitoring.alerts import Notifier, evaluate_and_send
from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings
from tests.monitoring import scenario
from tests.monitoring.receivers import SmtpReceiver, WebhookReceiver

EXPECTED_RULES = {"instance_failed", "test_failed", "row_count_anomaly", "new_organization"}


def _titles(webhook: WebhookReceiver) -> list[str]:
    return [request["body"]["title"] for request in webhook.requests]


def test_failure_alerts_once_then_resolves(
    warehouse_copy: Path, tw_settings: Settings, webhook: WebhookReceiver, smtp: SmtpReceiver
) -> None:
    config = load_alert_config()
    notifier = Notifier([webhook.url(), smtp.url()], config.title_prefix)

    outcome = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)

    assert {a.rule for a in outcome.sent} == EXPECTED_RULES
    assert not outcome.undelivered
    # The stale source and uk:3's time zone were alerted at the first evaluation: not again.
    assert [a.rule for a in outcome.already_open] == ["stale_data", "tenant_data_problem"]
    assert len(webhook.requests) == len(smtp.messages) == 4
    by_rule = {a.rule: a for a in outcome.sent}

    failed = by_rule["instance_failed"]
    assert failed.instance_id == "uk"
    assert "all 6 tables" in failed.what
    assert "connection refused" in failed.details and "2 failed run(s)" in failed.details
    webhook_body = next(r["body"] for r in webhook.requests if "instance uk" in r["body"]["title"])
    assert webhook_body["type"] == "failure"
    for line in ("What: ingestion of instance uk failed", "Where: instance uk; tables organizations",
                 "Since: ", "Investigate: warehouse status --instances uk"):
        assert line in webhook_body["message"]
    email = next(m for m in smtp.messages if "instance uk" in m["Subject"])
    assert email["Subject"].startswith("[tenant_warehouse] ERROR instance failed")
    text = email.get_body(preferencelist=("plain",)).get_content()
    assert "Investigate: warehouse status --instances uk" in text
    assert smtp.envelopes[0]["to"] == ["<ops@example.com>"]

    assert "not_null_stg_monitoring__row_counts_row_count fail" in by_rule["test_failed"].what
    assert by_rule["test_failed"].where == "stg_monitoring__row_counts, column row_count"
    anomaly = by_rule["row_count_anomaly"]
    assert (anomaly.instance_id, anomaly.table_name) == ("fr", "orders")
    assert "row-count drop" in anomaly.what
    organization = by_rule["new_organization"]
    assert organization.tenant_id == "uk:999" and "'Corner Shop'" in organization.what
    assert organization.investigate == "warehouse status --tenant uk:999"

    # The same events on the next run: nothing is sent again.
    again = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)
    assert again.sent == [] and again.resolved == []
    assert len(again.already_open) == 6
    assert len(webhook.requests) == 4 and len(smtp.messages) == 4

    # A good run: uk loads again, the broken capture is gone and its test passes again.
    now = dt.datetime.now(dt.UTC)
    with open_warehouse(tw_settings, "duckdb") as warehouse:
        scenario.insert_runs(warehouse.connection, scenario.run_rows(now, 0.5))
        warehouse.execute("delete from raw._tw_row_counts where capture_id = 'broken-capture'")
        warehouse.append("row_counts", scenario.count_rows(
            now, 0.2, 9, overrides={("fr", "orders"): scenario.BASE_COUNTS["orders"] - 39}
        ))  # fmt: skip
    output = scenario.dbt(tw_settings, "build", "--select", "stg_monitoring__row_counts")
    assert not output.startswith("FAILED"), output[-3000:]

    cleared = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)

    assert cleared.sent == []
    assert sorted(key.split(":")[0] for key in cleared.resolved) == [
        "instance_failed", "row_count_anomaly", "test_failed",
    ]
    resolved_titles = _titles(webhook)[4:]
    assert len(resolved_titles) == 3 and all("RESOLVED" in t for t in resolved_titles)
    assert len(smtp.messages) == 7
    # Still stale (the fixture's data is old) and the organization is news only once.
    assert {a.rule for a in cleared.already_open} == {
        "stale_data", "new_organization", "tenant_data_problem"}

    final = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)
    assert final.sent == [] and final.resolved == []
    assert len(webhook.requests) == 7


def test_undelivered_alert_is_retried(
    warehouse_copy: Path, tw_settings: Settings, webhook: WebhookReceiver
) -> None:
    config = load_alert_config()
    notifier = Notifier([webhook.url()], config.title_prefix)
    webhook.status = 500  # the receiver is down

    first = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)

    assert first.sent == [] and len(first.undelivered) == 4
    with open_warehouse(tw_settings, "duckdb", read_only=True) as warehouse:
        errors = warehouse.query(
            "select delivery_error from raw._tw_alerts where event = 'fired' and not is_delivered"
        )
    assert len(errors) == 4 and all("json://127.0.0.1" in e["delivery_error"] for e in errors)
    assert all("500" in e["delivery_error"] for e in errors)

    webhook.status = 200
    second = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)
    assert len(second.sent) == 4 and len(webhook.requests) == 4


def test_an_open_alerts_text_follows_its_count(
    warehouse_copy: Path, tw_settings: Settings, webhook: WebhookReceiver
) -> None:
    """The failing test's count changes (1 -> 2 failing rows): the open alert is reworded in the
    alert log (status and the report show the new text), without being sent again."""
    config = load_alert_config()
    notifier = Notifier([webhook.url()], config.title_prefix)
    first = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)
    failed = next(a for a in first.sent if a.rule == "test_failed")
    assert "(1 failing row(s))" in failed.what
    with open_warehouse(tw_settings, "duckdb") as warehouse:
        warehouse.append("row_counts", [{
            "capture_id": "broken-capture-2", "captured_at": dt.datetime.now(dt.UTC),
            "instance_id": "uk", "table_name": "orders", "row_count": None,
        }])  # fmt: skip
    output = scenario.dbt(tw_settings, "build", "--select", "stg_monitoring__row_counts")
    assert "FAIL 2" in output or "Got 2 results" in output, output[-3000:]
    sent = len(webhook.requests)

    second = evaluate_and_send(tw_settings, "duckdb", config, notifier=notifier)

    assert second.updated == 1 and not second.sent
    assert len(webhook.requests) == sent  # reworded, not re-sent
    with open_warehouse(tw_settings, "duckdb", read_only=True) as warehouse:
        rows = warehouse.query(
            "select title from raw._tw_alerts where alert_key = %s order by recorded_at",
            (failed.key,),
        )
    assert [("(2 failing row(s))" in r["title"]) for r in rows] == [False, True]
