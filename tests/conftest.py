"""Fixtures every suite shares: an isolated TW_HOME, and PostgreSQL servers and databases.

- `tw_home` (session, autouse): a fresh TW_HOME with its environment; nothing touches .warehouse/.
- `tw_settings` (session): `Settings.from_env()` inside that home.
- `pg_server` (session): a `PgServer` (host, port, user, password, origin) from
  tenant_warehouse.postgres.discover_server; skipped when none, failed when CI=true.
- `pg_database` (function): a factory `pg_database(name_prefix="tw") -> PgDatabase`; every database
  it creates is dropped (sessions terminated first) when the test ends.

Tests that use `pg_server` or `pg_database` are marked `postgres` automatically.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tenant_warehouse.postgres import (
    PgServer,
    PostgresConfigError,
    PostgresUnavailable,
    discover_server,
)
from tenant_warehouse.settings import Settings
from tests.support.environment import isolated_environment, leaky_variables
from tests.support.pg import PgDatabaseFactory, unavailable

POSTGRES_FIXTURES = {"pg_server", "pg_database"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # So `-m "not postgres"` deselects every test that would need a server, marked or not.
    for item in items:
        if POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session", autouse=True)
def tw_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("tw_home")
    with pytest.MonkeyPatch.context() as patch:
        for name in leaky_variables():
            patch.delenv(name, raising=False)
        for name, value in isolated_environment(home).items():
            patch.setenv(name, value)
        # Every cycle builds the periodic tier (cycle_build.py), so the suites that compare the
        # marts with the oracle after cycles see them exact; tests/cadence sets its own interval.
        patch.setenv("TW_PERIODIC_EVERY_MINUTES", "0")
        yield home


@pytest.fixture(scope="session")
def tw_settings(tw_home: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # ExitStack: the private cluster, if this session started one, is stopped at session end.
    with ExitStack() as stack:
        try:
            server = stack.enter_context(discover_server())
        except PostgresConfigError as exc:
            # The user named a server explicitly: silently skipping would hide their mistake.
            pytest.fail(str(exc), pytrace=False)
        except PostgresUnavailable as exc:
            unavailable(str(exc))
        yield server


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[PgDatabaseFactory]:
    factory = PgDatabaseFactory(pg_server)
    try:
        yield factory
    finally:
        factory.drop_all()
