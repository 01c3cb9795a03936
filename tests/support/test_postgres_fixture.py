"""The PostgreSQL discovery, private cluster and database fixtures, and the isolated TW_HOME."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from tenant_warehouse import postgres
from tenant_warehouse.postgres import (
    PgServer,
    PostgresConfigError,
    PrivateCluster,
    discover_server,
    server_from_url,
    unique_database_name,
)
from tenant_warehouse.settings import Settings
from tests.support.environment import TEST_PII_SALT
from tests.support.pg import PgDatabaseFactory, unavailable


def _database_exists(server: PgServer, name: str) -> bool:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


# --- isolated home -----------------------------------------------------------------------------


def test_tw_home_isolates_state(tw_home: Path, tw_settings: Settings) -> None:
    assert os.environ["TW_HOME"] == str(tw_home)
    assert os.environ["DLT_DATA_DIR"] == str(tw_home / "dlt")
    assert os.environ["TW_PII_SALT"] == TEST_PII_SALT
    assert os.environ["RUNTIME__DLTHUB_TELEMETRY"] == "false"
    assert os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert "TW_DUCKDB_PATH" not in os.environ
    assert tw_settings.home == tw_home.resolve()
    assert tw_settings.duckdb_path.is_relative_to(tw_home.resolve())


# --- pure helpers ------------------------------------------------------------------------------


def test_unique_database_name_is_valid_and_unique() -> None:
    long_prefix = "Tenant-Warehouse " * 10
    names = {unique_database_name(long_prefix) for _ in range(20)}
    assert len(names) == 20
    for name in names:
        assert len(name) <= 63
        assert name == name.lower()
        assert str(os.getpid()) in name
        assert all(ch.isalnum() or ch == "_" for ch in name)


def test_server_from_url_accepts_sqlalchemy_urls() -> None:
    server = server_from_url("postgresql+psycopg2://alice:p%40ss@db.example:6543/warehouse")
    assert (server.host, server.port, server.user, server.password) == (
        "db.example",
        6543,
        "alice",
        "p@ss",
    )
    assert server.origin == "env"
    assert server.url("x") == "postgresql+psycopg2://alice:p%40ss@db.example:6543/x"


def test_missing_server_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not available: nope"):
        unavailable("nope")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required when CI=true: nope"):
        unavailable("nope")


# --- fixtures against the discovered server ----------------------------------------------------


def test_pg_server_accepts_connections(pg_server: PgServer) -> None:
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select current_user")
            assert cur.fetchone() == (pg_server.user,)
    finally:
        conn.close()
    assert pg_server.origin in {"env", "local", "private"}


def test_pg_database_creates_isolated_databases(pg_database: PgDatabaseFactory) -> None:
    first = pg_database("fixture_test")
    second = pg_database("fixture_test")
    assert first.name != second.name
    assert first.name.startswith("fixture_test_")
    assert first.env["TW_PG_DATABASE"] == first.name
    assert first.url.startswith("postgresql+psycopg2://")
    conn = first.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("select current_database()")
            assert cur.fetchone() == (first.name,)
    finally:
        conn.close()


def test_pg_database_drops_even_with_open_sessions(pg_server: PgServer) -> None:
    factory = PgDatabaseFactory(pg_server)
    database = factory("drop_check")
    leaked = database.connect()  # a client that forgot to close must not block the drop
    factory.drop_all()
    assert not _database_exists(pg_server, database.name)
    assert leaked.closed or _connection_is_dead(leaked)


def _connection_is_dead(conn: psycopg2.extensions.connection) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute("select 1")
    except psycopg2.Error:
        return True
    finally:
        conn.close()
    return False


# --- discovery order ---------------------------------------------------------------------------


def test_explicit_url_wins(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.URL_ENV, pg_server.url())
    monkeypatch.delenv(postgres.FORCE_PRIVATE_ENV, raising=False)
    with discover_server() as server:
        assert server.origin == "env"
        assert (server.host, server.port) == (pg_server.host, pg_server.port)


def test_unusable_explicit_url_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    port = postgres.free_port()  # nothing listens there
    monkeypatch.setenv(postgres.URL_ENV, f"postgresql://nobody@127.0.0.1:{port}/postgres")
    monkeypatch.delenv(postgres.FORCE_PRIVATE_ENV, raising=False)
    with pytest.raises(PostgresConfigError, match="unusable"), discover_server():
        pass


# --- the private cluster really starts ---------------------------------------------------------


def _require_pg_binaries() -> None:
    if postgres.find_pg_bin_dir() is None:
        unavailable("no initdb/pg_ctl installed")


def test_forced_private_cluster_starts_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_pg_binaries()
    monkeypatch.setenv(postgres.FORCE_PRIVATE_ENV, "1")
    monkeypatch.setenv(postgres.URL_ENV, "postgresql://ignored@127.0.0.1:1/x")  # forced wins
    with discover_server() as server:
        assert server.origin == "private"
        assert server.port != postgres.LOCAL_PORT
        factory = PgDatabaseFactory(server)
        database = factory("private")
        conn = database.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("show data_directory")
                (data_directory,) = cur.fetchone()
                cur.execute("show listen_addresses")
                assert cur.fetchone() == ("127.0.0.1",)
        finally:
            conn.close()
        factory.drop_all()
        assert Path(data_directory).exists()
    # Stopped and cleaned up: the port refuses connections and the directory is gone.
    assert not Path(data_directory).exists()
    with pytest.raises(psycopg2.OperationalError):
        server.connect().close()


def test_private_cluster_in_a_kept_directory_is_reused() -> None:
    # The CLI keeps a cluster under TW_HOME between commands: a second start adopts it.
    # (Under /tmp, not tmp_path: as root the cluster runs as `postgres`, and pytest's tmp is 0700.)
    _require_pg_binaries()
    base = Path(tempfile.mkdtemp(prefix="tw_pg_kept_"))
    base.chmod(0o755)
    first = PrivateCluster(base_dir=base / "pg")
    try:
        server = first.start()
        again = PrivateCluster(base_dir=base / "pg").start()
        assert again.port == server.port
        with discover_server(force_private=True, private_dir=base / "pg") as adopted:
            assert adopted.port == server.port
        assert first.is_running()  # a kept cluster outlives the block
        first.stop()
        assert (base / "pg" / "data" / "PG_VERSION").exists()  # kept: it was not temporary
        assert not first.is_running()
    finally:
        first.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_nothing_available_names_every_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "find_running_server", lambda: (None, ["local: refused"]))
    monkeypatch.setattr(postgres, "find_pg_bin_dir", lambda: None)
    monkeypatch.delenv(postgres.FORCE_PRIVATE_ENV, raising=False)
    expected = r"local: refused; private cluster: no initdb"
    with pytest.raises(postgres.PostgresUnavailable, match=expected), discover_server():
        pass
