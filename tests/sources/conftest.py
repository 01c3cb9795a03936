"""Fixtures for the non-database-platform sources: a MariaDB database per test, a TW_HOME per
test, and an ingestion helper bound to a config built in the test.

MariaDB runs on 127.0.0.1:3306 (root, empty password) on development and CI machines
(`TW_TEST_MYSQL_URL` points elsewhere). Without a server the MariaDB tests skip, unless CI=true,
where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from ingestion.config import IngestionConfig
from ingestion.pipeline import IngestionReport, run_ingestion
from tenant_warehouse.settings import Settings
from tests.support.environment import is_ci

SERVER_URL = os.environ.get("TW_TEST_MYSQL_URL", "mysql+pymysql://root:@127.0.0.1:3306")


@dataclass(frozen=True)
class MysqlDatabase:
    name: str
    host: str
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.name}"

    def connect(self) -> Any:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            database=self.name, autocommit=True, charset="utf8mb4",
        )

    def execute(self, *statements: str | tuple[str, Any]) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    if isinstance(statement, str):
                        cursor.execute(statement)
                    else:
                        cursor.execute(*statement)
        finally:
            conn.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()


def _server() -> tuple[str, int, str, str]:
    from sqlalchemy.engine import make_url

    url = make_url(SERVER_URL)
    return url.host or "127.0.0.1", url.port or 3306, url.username or "root", url.password or ""


@pytest.fixture(scope="session")
def mysql_server() -> tuple[str, int, str, str]:
    host, port, user, password = _server()
    try:
        pymysql.connect(host=host, port=port, user=user, password=password, connect_timeout=5).close()
    except pymysql.MySQLError as exc:
        reason = f"no MariaDB/MySQL server at {host}:{port}: {exc}"
        if is_ci():
            pytest.fail(f"MariaDB is required when CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    return host, port, user, password


@pytest.fixture
def mysql_database(mysql_server: tuple[str, int, str, str]) -> Iterator[MysqlDatabase]:
    """A fresh database, dropped when the test ends."""
    host, port, user, password = mysql_server
    name = f"tw_test_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield MysqlDatabase(name, host, port, user, password)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@dataclass
class SourceHome:
    """A TW_HOME of its own (DuckDB warehouse, dlt state) for one test."""

    path: Path
    settings: Settings

    def ingest(self, config: IngestionConfig, **options: Any) -> IngestionReport:
        return run_ingestion(self.settings, config=config, **options)


@pytest.fixture
def source_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SourceHome:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("TW_HOME", str(path))
    monkeypatch.setenv("DLT_DATA_DIR", str(path / "dlt"))
    return SourceHome(path, Settings.from_env())
