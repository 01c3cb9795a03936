"""The same monitoring on a PostgreSQL warehouse: hooks, observability views, alerts, status."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.console import Console

from tenant_warehouse import cli
from tenant_warehouse.monitoring import status
from tenant_warehouse.monitoring.alert_config import load_alert_config
from tenant_warehouse.monitoring.alerts import Notifier, evaluate_and_send
from tenant_warehouse.monitoring.store import open_warehouse
from tenant_warehouse.settings import Settings
from tests.dbt_project import raw_fixture
from tests.monitoring import scenario
from tests.monitoring.receivers import WebhookReceiver
from tests.support.pg import PgDatabaseFactory


def test_failure_alert_and_status_on_postgres(
    pg_database: PgDatabaseFactory,
    tw_settings: Settings,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = pg_database("tw_monitoring")
    for name, value in database.env.items():
        monkeypatch.setenv(name, value)
    now = dt.datetime.now(dt.UTC)
    tables = raw_fixture.first_load()
    tables["_tw_ingestion_runs"] = scenario.healthy_history(now) + scenario.run_rows(
        now, 3, ("uk",), "failed", scenario.UK_ERROR
    )
    connection = database.connect(autocommit=False)
    try:
        raw_fixture.load_postgres(connection, tables)
    finally:
        connection.close()
    with open_warehouse(tw_settings, "postgres") as warehouse:
        warehouse.ensure_tables()
        warehouse.append("row_counts", scenario.count_history(now) + scenario.count_rows(
            now, 1, 8, overrides={("fr", "orders"): scenario.BASE_COUNTS["orders"] - 50}
        ))  # fmt: skip

    output = scenario.dbt(tw_settings, "build", *scenario.BUILD_SELECTION, target="postgres")
    assert not output.startswith("FAILED"), output[-4000:]

    config = load_alert_config()
    notifier = Notifier([webhook.url()], config.title_prefix)
    outcome = evaluate_and_send(tw_settings, "postgres", config, notifier=notifier)
    assert {a.rule for a in outcome.sent} == {
        "instance_failed", "row_count_anomaly", "tenant_data_problem"}  # uk:3's time zone
    assert outcome.baseline == 8  # the fixture's organizations
    problem = next(a for a in outcome.sent if a.rule == "tenant_data_problem")
    assert problem.what.startswith("organization uk:3 has invalid time zone 'Europe/Londn' since")
    assert len(webhook.requests) == 3
    again = evaluate_and_send(tw_settings, "postgres", config, notifier=notifier)
    assert again.sent == [] and len(webhook.requests) == 3

    with open_warehouse(tw_settings, "postgres", read_only=True) as warehouse:
        recorded = warehouse.query(
            "select command, status, nodes from observability.dbt_invocations"
        )
        rates = warehouse.query(
            "select scope, runs, failed_runs, failure_percent from"
            " observability.pipeline_failures_by_day where step = 'ingestion' order by scope"
        )
    assert [(r["command"], r["status"]) for r in recorded] == [("build", "success")]
    # The runs span the last hour, so shortly after midnight UTC they fall on two days: compare
    # totals per instance, and each day's percentage with that day's own counts.
    totals: dict[str, list[int]] = {}
    for row in rates:
        runs, failed = int(row["runs"]), int(row["failed_runs"])
        assert float(row["failure_percent"]) == round(100 * failed / runs, 2), row
        total = totals.setdefault(row["scope"], [0, 0])
        total[0] += runs
        total[1] += failed
    assert totals == {"au": [36, 0], "fr": [36, 0], "uk": [42, 6]}

    console = Console(record=True, force_terminal=True, color_system="standard", width=260)
    monkeypatch.setattr(status, "console", console)
    assert cli.main(["status", "--warehouse", "postgres"]) == 1
    red = [line for line in console.export_text(styles=True).splitlines() if "\x1b[31m" in line]
    assert sum("FAILING" in line for line in red) == 6
