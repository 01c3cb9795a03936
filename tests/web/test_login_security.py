"""Login throttling, the session secret and `warehouse serve`'s refusals (no browser needed:
plain HTTP against the app served by uvicorn)."""

from __future__ import annotations

import base64
import json
import re
import socket
from pathlib import Path

import itsdangerous
import pytest

from tenant_warehouse import cli
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.registry import remove_login, store_password, tenant_principal
from tenant_warehouse.web.app import create_app
from tenant_warehouse.web.security import (
    MAX_TRACKED_KEYS,
    DashboardConfigError,
    LoginThrottle,
    session_secret,
)
from tests.web.conftest import DashboardWarehouse
from tests.web.helpers import Client, running


def test_repeated_failures_lock_the_login_out(dashboard_warehouse: DashboardWarehouse) -> None:
    # Its own app: the failures below must not lock the address out of the shared server.
    wh = dashboard_warehouse
    with running(create_app(wh.settings, "duckdb")) as url:
        client = Client(url)
        for _ in range(5):
            status, page = client.log_in(wh.tenant_a.login, "not-the-password")
            assert status == 401 and "Wrong login or password." in page
        # Now even the right password waits: a guesser cannot tell when it found it.
        status, page = client.log_in(wh.tenant_a.login, wh.tenant_a.password)
        assert status == 429 and re.search(r"Too many failed logins; try again in \d+ s\.", page)
        status, _ = client.log_in(wh.tenant_b.login, wh.tenant_b.password)  # same address
        assert status == 429
        assert client.request("/api/dashboard")[0] == 401


def test_session_secret_is_generated_private_or_taken_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    monkeypatch.delenv("TW_DASHBOARD_SECRET", raising=False)
    secret = session_secret(settings)
    path = tmp_path / "dashboard_secret"
    assert len(secret) == 64 and path.stat().st_mode & 0o777 == 0o600
    assert session_secret(settings) == secret  # kept: sessions survive nothing else
    path.chmod(0o644)
    with pytest.raises(DashboardConfigError, match="readable by others"):
        session_secret(settings)
    monkeypatch.setenv("TW_DASHBOARD_SECRET", "short")
    with pytest.raises(DashboardConfigError, match="TW_DASHBOARD_SECRET is 5 characters long"):
        session_secret(settings)
    monkeypatch.setenv("TW_DASHBOARD_SECRET", "x" * 40)
    assert session_secret(settings) == "x" * 40


def test_serve_refuses_what_it_cannot_do(
    dashboard_warehouse: DashboardWarehouse, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.setenv("TW_HOME", str(dashboard_warehouse.settings.home))
    monkeypatch.setenv("TW_WAREHOUSE", "bigquery")  # argparse checks --warehouse, not defaults
    assert cli.main(["serve"]) == 2
    assert "--warehouse bigquery: the dashboard reads a DuckDB or PostgreSQL" in capsys.readouterr().out
    monkeypatch.delenv("TW_WAREHOUSE")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().out
    monkeypatch.setenv("TW_DUCKDB_PATH", str(tmp_path / "missing.duckdb"))
    assert cli.main(["serve"]) == 2
    out = capsys.readouterr().out
    assert "missing.duckdb does not exist yet" in out and "Traceback" not in out
    monkeypatch.setenv("TW_PG_PORT", "1")  # nothing listens there
    assert cli.main(["serve", "--warehouse", "postgres"]) == 2
    assert "postgres warehouse (TW_PG_* variables): cannot connect" in capsys.readouterr().out


def test_an_unreadable_warehouse_is_a_clear_503(tmp_path: Path) -> None:
    # A tenant logs in, but the warehouse file is gone (e.g. being rebuilt elsewhere).
    settings = Settings(home=tmp_path)
    store_password(settings, tenant_principal("uk:1"), "pw-uk-1-not-secret")
    with running(create_app(settings, "duckdb")) as url:
        client = Client(url)
        assert client.log_in("tw_tenant_uk_1", "pw-uk-1-not-secret")[0] == 303
        status, page = client.request("/dashboard")
        assert status == 503 and "The warehouse cannot be read right now" in page
        assert str(tmp_path) not in page  # the cause is in the server log, not the page
        status, body = client.request("/api/dashboard")
        assert status == 503 and json.loads(body)["error"].startswith("The warehouse cannot")


def test_a_removed_login_is_logged_out_at_its_next_request(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    store_password(settings, tenant_principal("uk:1"), "pw-uk-1-not-secret")
    with running(create_app(settings, "duckdb")) as url:
        client = Client(url)
        assert client.log_in("tw_tenant_uk_1", "pw-uk-1-not-secret")[0] == 303
        assert client.request("/api/dashboard")[0] == 503  # logged in (no warehouse here)
        assert remove_login(settings, "tw_tenant_uk_1")
        assert client.request("/api/dashboard")[0] == 401
        store_password(settings, tenant_principal("uk:1"), "pw-uk-1-not-secret")
        assert client.request("/api/dashboard")[0] == 401  # the old session stays ended


def test_a_forged_cookie_logs_nobody_in(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    store_password(settings, tenant_principal("uk:1"), "pw-uk-1-not-secret")
    with running(create_app(settings, "duckdb")) as url:
        client = Client(url)
        assert client.log_in("tw_tenant_uk_1", "pw-uk-1-not-secret")[0] == 303
        [real] = [c for c in client.cookies if c.name == "tw_dashboard"]
        # Even signed with the server's own secret, a cookie naming a tenant (or a session id
        # the server never issued) is not a session: sessions live on the server.
        signer = itsdangerous.TimestampSigner(session_secret(settings))
        forged = {
            "unsigned": base64.b64encode(b'{"sid": "x", "tenant_id": "uk:1"}').decode(),
            "tenant": signer.sign(base64.b64encode(b'{"tenant_id": "uk:1"}')).decode(),
            "sid": signer.sign(base64.b64encode(b'{"sid": "made-up"}')).decode(),
        }
        for name, value in forged.items():
            other = Client(url)
            other.set_cookie("tw_dashboard", value)
            assert other.request("/api/dashboard")[0] == 401, name
        other = Client(url)
        other.set_cookie("tw_dashboard", str(real.value))
        assert other.request("/api/dashboard")[0] == 503  # the real one is a session (no warehouse)


def test_throttle_counts_per_address_and_per_name_and_forgets_stale_entries() -> None:
    now = [1000.0]
    throttle = LoginThrottle(window=0.2, clock=lambda: now[0])
    for _ in range(5):
        throttle.failed("10.0.0.1", "Bob")
    assert throttle.retry_after("10.0.0.1", "alice") > 0  # the address is locked out
    assert throttle.retry_after("10.0.0.2", "bob") > 0  # so is the name, from anywhere
    assert throttle.retry_after("10.0.0.2", "carol") == 0
    for number in range(MAX_TRACKED_KEYS + 1):
        throttle.failed("10.0.0.3", f"guess-{number}")
    now[0] += 0.25
    throttle.failed("10.0.0.4", "dave")
    assert len(throttle._failures) == 2  # only dave's name and address are remembered
    assert throttle.retry_after("10.0.0.1", "bob") == 0  # the window has passed
