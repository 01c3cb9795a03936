"""Scheduled delivery for real: folders with manifest and checksums, email through Apprise to a
local SMTP server with the dumps attached, alerts through Apprise to a local webhook when a
delivery fails, retries on later runs until it succeeds, and monthly schedules."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import socket
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tenant_warehouse.exports.delivery import deliver, deliver_after_cycle, load_state
from tenant_warehouse.exports.delivery_config import (
    DeliveryConfigError,
    load_deliveries,
    parse_deliveries,
)
from tenant_warehouse.settings import Settings
from tests.monitoring.receivers import SmtpReceiver, WebhookReceiver

TENANTS = ("uk:2", "fr:3")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


def sender_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=warehouse@example.com&mode=insecure"


@pytest.fixture
def home(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The built warehouse, with delivery state in a fresh TW_HOME of this test."""
    monkeypatch.setenv("TW_DUCKDB_PATH", str(settings.duckdb_path))
    monkeypatch.setenv("TW_HOME", str(tmp_path / "home"))
    return Settings.from_env()


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "deliveries.yml"
    path.write_text(text)
    monkeypatch.setenv("TW_DELIVERIES_FILE", str(path))
    return path


def test_folder_and_email_delivery_alerts_and_retries_until_delivered(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: SmtpReceiver,
    webhook: WebhookReceiver,
) -> None:
    folder = tmp_path / "deliveries"
    write_config(tmp_path, monkeypatch, f"""
version: 1
deliveries:
  - name: ngo-dumps
    tenants: [{", ".join(TENANTS)}]
    formats: [xlsx, csv]
    schedule: after_cycle
    folder: {folder}
    retries: 1
    retry_seconds: 0
    email:
      url_env: TW_TEST_DELIVERY_URL
      to: {{uk:2: data@shop-two.example, fr:3: "a@three.example, b@three.example"}}
""")
    monkeypatch.setenv("TW_TEST_DELIVERY_URL", sender_url(smtp.port))
    monkeypatch.setenv("TW_ALERT_URLS", webhook.url("alerts"))

    first = deliver(home, "duckdb")
    assert [(o.tenant_id, o.status) for o in first.outcomes] == [(t, "delivered") for t in TENANTS]
    for tenant in TENANTS:
        for fmt in ("xlsx", "csv"):
            directory = folder / tenant.replace(":", "_") / fmt
            for line in (directory / "SHA256SUMS").read_text().splitlines():
                digest, name = line.split("  ")
                assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest
    # Apprise's email plugin sends one message per recipient: uk:2 has one, fr:3 two.
    recipients = sorted(to for e in smtp.envelopes for to in e["to"])
    assert recipients == ["<a@three.example>", "<b@three.example>", "<data@shop-two.example>"]
    by_recipient = {tuple(e["to"]): m for e, m in zip(smtp.envelopes, smtp.messages, strict=True)}
    message = next(m for to, m in by_recipient.items() if any("shop-two" in r for r in to))
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(attachments) == {"uk_2.xlsx", "uk_2-csv.zip"}
    workbook = openpyxl.load_workbook(io.BytesIO(attachments["uk_2.xlsx"]), read_only=True)
    assert "definitions" in workbook.sheetnames
    names = zipfile.ZipFile(io.BytesIO(attachments["uk_2-csv.zip"])).namelist()
    assert {"orders.csv", "manifest.json", "SHA256SUMS"} <= set(names)
    assert "sha256" in message.get_body().get_content().lower()

    # Nothing changed: nothing rewritten, nothing sent.
    again = deliver(home, "duckdb")
    assert {o.status for o in again.outcomes} == {"unchanged"} and len(smtp.messages) == 3

    # The mail server goes away: a forced delivery fails after its retry and alerts once.
    monkeypatch.setenv("TW_TEST_DELIVERY_URL", sender_url(closed_port()))
    broken = deliver(home, "duckdb", force=True, tenants=["uk:2"])
    assert [(o.tenant_id, o.status, o.attempts) for o in broken.outcomes] == [("uk:2", "failed", 2)]
    assert len(webhook.requests) == 1
    alert = webhook.requests[0]["body"]
    assert "delivery ngo-dumps of tenant uk:2 failed" in alert["title"]
    assert "warehouse deliver --name ngo-dumps --tenant uk:2" in alert["message"]
    state = load_state(home)["ngo-dumps|uk:2"]
    assert state["failing_since"] and state["alerted"] and "127.0.0.1" in state["last_error"]

    # The next run retries it although the data did not change; still failing: no new alert.
    still = deliver(home, "duckdb")
    assert {(o.tenant_id, o.status) for o in still.outcomes} == {("uk:2", "failed"), ("fr:3", "unchanged")}
    assert len(webhook.requests) == 1

    # Back up: the retry delivers and a RESOLVED note follows.
    monkeypatch.setenv("TW_TEST_DELIVERY_URL", sender_url(smtp.port))
    fixed = deliver(home, "duckdb")
    assert {(o.tenant_id, o.status) for o in fixed.outcomes} == {("uk:2", "delivered"), ("fr:3", "unchanged")}
    assert len(smtp.messages) == 4
    assert len(webhook.requests) == 2 and webhook.requests[1]["body"]["title"].startswith(
        "[tenant_warehouse] RESOLVED"
    )
    since = alert["message"].split("Since: ")[1].splitlines()[0]
    assert f"Since: {since}" in webhook.requests[1]["body"]["message"]  # the streak's start
    assert load_state(home)["ngo-dumps|uk:2"]["failing_since"] is None


def test_monthly_delivery_once_per_month(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "monthly"
    write_config(tmp_path, monkeypatch, f"""
version: 1
deliveries:
  - {{name: month-end, tenants: [uk:2], formats: [parquet], schedule: monthly, folder: {folder}}}
""")
    december = dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)
    statuses = [
        [o.status for o in deliver(home, "duckdb", now=moment).outcomes]
        for moment in (december, december + dt.timedelta(days=14), december + dt.timedelta(days=32))
    ]
    assert statuses == [["delivered"], ["not_due"], ["delivered"]]
    assert [o.status for o in deliver(home, "duckdb", schedules=("after_cycle",)).outcomes] == []
    assert (folder / "uk_2" / "parquet" / "orders.parquet").exists()


def test_large_dump_is_linked_instead_of_attached(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: SmtpReceiver
) -> None:
    folder = tmp_path / "public"
    write_config(tmp_path, monkeypatch, f"""
version: 1
deliveries:
  - name: big
    tenants: [uk:2]
    formats: [parquet]
    folder: {folder}
    email: {{url_env: TW_TEST_DELIVERY_URL, to: {{uk:2: data@shop-two.example}},
             attach_max_mb: 0.001, link_base: "https://files.example.com/dumps/"}}
""")
    monkeypatch.setenv("TW_TEST_DELIVERY_URL", sender_url(smtp.port))
    assert [o.status for o in deliver(home, "duckdb").outcomes] == ["delivered"]
    (message,) = smtp.messages
    assert not list(message.iter_attachments())
    body = message.get_body().get_content()
    assert "too large to attach" in body
    assert "https://files.example.com/dumps/uk_2/parquet/orders.parquet" in body
    assert (folder / "uk_2" / "parquet" / "orders.parquet").exists()


def test_broken_config_alerts_but_never_fails_the_cycle(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    write_config(tmp_path, monkeypatch, "version: 1\ndeliveries:\n  - {name: x, tenants: all}\n")
    monkeypatch.setenv("TW_ALERT_URLS", webhook.url("alerts"))
    lines: list[str] = []
    assert deliver_after_cycle(home, "duckdb", log=lines.append) is False
    assert "deliveries[0]: say where to deliver" in lines[0]
    assert "the delivery step crashed" in webhook.requests[0]["body"]["title"]


@pytest.mark.parametrize(("text", "message"), [
    ("deliveries: [{name: a, tenants: [uk-2], folder: /x}]", "deliveries[0].tenants: tenant 'uk-2'"),
    ("deliveries: [{name: a, tenants: all, folder: /x, formats: [pdf]}]", "deliveries[0].formats"),
    ("deliveries: [{name: a, tenants: all, folder: /x, schedule: weekly}]", "deliveries[0].schedule: 'weekly'"),
    ("deliveries: [{name: a, tenants: [uk:1], email: {to: {uk:2: x@y.z}}}]", "deliveries[0].email.to.uk:2"),
    ("deliveries: [{name: a, tenants: all, folder: /x}, {name: a, tenants: all, folder: /y}]", "deliveries[1].name: 'a' is used twice"),
    ("deliveries: [{name: a, tenants: all, folder: /x, colour: red}]", "unknown key(s) colour"),
])  # fmt: skip
def test_config_mistakes_name_file_and_key(text: str, message: str, tmp_path: Path) -> None:
    import yaml

    with pytest.raises(DeliveryConfigError) as error:
        parse_deliveries(yaml.safe_load(text), tmp_path / "deliveries.yml")
    assert str(error.value).startswith(f"{tmp_path / 'deliveries.yml'}: ")
    assert message in str(error.value)


def test_no_config_means_no_deliveries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TW_DELIVERIES_FILE", raising=False)
    monkeypatch.setattr("tenant_warehouse.exports.delivery_config.DEFAULT_PATH", tmp_path / "none.yml")
    assert load_deliveries().deliveries == ()
    monkeypatch.setenv("TW_DELIVERIES_FILE", str(tmp_path / "missing.yml"))
    with pytest.raises(DeliveryConfigError, match=r"missing\.yml: deliveries file not found"):
        load_deliveries()
