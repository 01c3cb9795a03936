"""Paths and environment shared by every part; one place so tests can redirect all state."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Instances are not listed here: they come only from the ingestion config (the platform's
# platforms/<name>/tables.yml, or --config / TW_CONFIG), `ingestion.config.load_config().instances`.
PLATFORMS_DIR = PROJECT_DIR / "platforms"
# The platform profile in use (`warehouse --platform NAME` sets it; tenant_warehouse/platforms.py).
PLATFORM_ENV = "TW_PLATFORM"
DEFAULT_PLATFORM = "reference"


def _quiet_tools() -> None:
    # Keep third-party tools from phoning home or writing to the home folder.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


# What TW_HOME holds is every tenant's data (warehouse file, dlt state and packages, the salt of
# the personal-data hashes): the operator's alone.
PRIVATE_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal", "pii_salt", "build_state.json",
                 "journal.sqlite", "warehouse.lock", "ingestion.lock")


def make_private(home: Path) -> None:
    """TW_HOME 0700, its files 0600, and everything this process creates private (umask 077).
    Tightens a home made by an older version; never touches files of another user."""
    os.umask(0o077)
    for path in (home, home / "dlt", home / "profiles"):
        if path.is_dir() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    for name in PRIVATE_FILES:
        path = home / name
        if path.is_file() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def postgres_url_template(database: str) -> str:
    """SQLAlchemy URL of `database` (which may hold `{instance}`) on the TW_PG_* server."""
    user = os.environ.get("TW_PG_USER", "postgres")
    password = os.environ.get("TW_PG_PASSWORD", "")
    credentials = f"{user}:{password}" if password else user
    host = os.environ.get("TW_PG_HOST", "127.0.0.1")
    port = os.environ.get("TW_PG_PORT", "5432")
    return f"postgresql+psycopg2://{credentials}@{host}:{port}/{database}"


@dataclass(frozen=True)
class Settings:
    home: Path
    platform: str = DEFAULT_PLATFORM

    @classmethod
    def from_env(cls) -> Settings:
        """TW_HOME (default .warehouse/) for the reference platform; another platform keeps all
        its state (warehouse file, dlt pipelines, journal, salt) apart, in TW_HOME/<platform>."""
        _quiet_tools()
        platform = os.environ.get(PLATFORM_ENV) or DEFAULT_PLATFORM
        home = Path(os.environ.get("TW_HOME", PROJECT_DIR / ".warehouse")).resolve()
        if platform != DEFAULT_PLATFORM:
            home = home / platform
        home.mkdir(parents=True, exist_ok=True)
        make_private(home)
        os.environ.setdefault("DLT_DATA_DIR", str(home / "dlt"))
        return cls(home=home, platform=platform)

    @property
    def source_dir(self) -> Path:
        return self.home / "source"

    @property
    def pipelines_dir(self) -> Path:
        return self.home / "dlt" / "pipelines"

    @property
    def duckdb_path(self) -> Path:
        return Path(os.environ.get("TW_DUCKDB_PATH", self.home / "warehouse.duckdb")).resolve()

    @property
    def raw_schema(self) -> str:
        """Schema (dataset) the ingestion layer lands raw tables in; dbt reads it as var raw_schema."""
        return os.environ.get("TW_RAW_SCHEMA", "raw")

    @property
    def profiles_dir(self) -> Path:
        return self.home / "profiles"

    def sqlite_source_url(self, instance: str) -> str:
        return f"sqlite:///{self.source_dir / f'{instance}.sqlite'}"

    def source_url(self, instance: str) -> str:
        """Connection URL of an instance's application database: TW_SOURCE_<INSTANCE>_URL, else
        TW_SOURCE_URL_TEMPLATE, else the demo's: a SQLite file under TW_HOME for the reference
        platform, PostgreSQL database tw_<platform>_<instance> on the TW_PG_* server otherwise."""
        explicit = os.environ.get(f"TW_SOURCE_{instance.upper()}_URL")
        if explicit:
            return explicit
        template = os.environ.get("TW_SOURCE_URL_TEMPLATE")
        if template:
            return template.format(instance=instance)
        if self.platform != DEFAULT_PLATFORM:
            return postgres_url_template(f"tw_{self.platform}_{instance}")
        return self.sqlite_source_url(instance)

    def pii_salt(self) -> str:
        """Salt for hashing personal data: TW_PII_SALT, else a random one kept under TW_HOME."""
        salt = os.environ.get("TW_PII_SALT")
        if salt:
            return salt
        salt_file = self.home / "pii_salt"
        if not salt_file.exists():
            salt_file.write_text(secrets.token_hex(32))
            salt_file.chmod(0o600)
        return salt_file.read_text().strip()
