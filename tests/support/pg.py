"""Throwaway PostgreSQL databases for tests, on whatever server tenant_warehouse.postgres found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import pytest
from psycopg2.extensions import connection as PgConnection

from tenant_warehouse.postgres import (
    PgServer,
    create_database,
    drop_database,
    unique_database_name,
)
from tests.support.environment import is_ci


def unavailable(reason: str) -> NoReturn:
    """Skip a test that needs PostgreSQL; under CI=true a missing server is a failure instead."""
    if is_ci():
        pytest.fail(f"PostgreSQL is required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str

    @property
    def url(self) -> str:
        """SQLAlchemy URL (postgresql+psycopg2://...)."""
        return self.server.url(self.name)

    @property
    def env(self) -> dict[str, str]:
        """TW_PG_* variables pointing profiles.yml / the CLI at this database."""
        return self.server.warehouse_env(self.name)

    def connect(self, autocommit: bool = True) -> PgConnection:
        return self.server.connect(self.name, autocommit=autocommit)


@dataclass
class PgDatabaseFactory:
    """Callable `factory(name_prefix="tw") -> PgDatabase`; `drop_all()` removes what it made."""

    server: PgServer
    created: list[PgDatabase] = field(default_factory=list)

    def __call__(self, name_prefix: str = "tw") -> PgDatabase:
        database = PgDatabase(self.server, unique_database_name(name_prefix))
        create_database(self.server, database.name)
        self.created.append(database)
        return database

    def drop_all(self) -> None:
        while self.created:
            drop_database(self.server, self.created.pop().name)
