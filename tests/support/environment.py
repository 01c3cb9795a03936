"""The isolated environment every test session runs in: its own TW_HOME, no telemetry, no leaks.

Variables a developer may have exported for real work (a DuckDB path, a PostgreSQL warehouse,
source URLs, a dbt profiles dir) are removed, so a test can never write to real data.
"""

from __future__ import annotations

import os
from pathlib import Path

# Fixed so hashed personal data is reproducible across runs; never used outside tests.
TEST_PII_SALT = "tenant-warehouse-test-salt-not-secret"

# Exported by developers for real runs; tests that need one set it explicitly.
LEAKY_VARIABLES = (
    "TW_PLATFORM",
    "TW_DUCKDB_PATH",
    "TW_DEV_DUCKDB_PATH",
    "TW_DEV_SCHEMA",
    "TW_TARGET",
    "TW_RAW_SCHEMA",
    "TW_SOURCE_URL_TEMPLATE",
    "TW_PG_HOST",
    "TW_PG_PORT",
    "TW_PG_USER",
    "TW_PG_PASSWORD",
    "TW_PG_DATABASE",
    "DBT_PROFILES_DIR",
    "DBT_TARGET_PATH",
    "DBT_LOG_PATH",
    "DBT_PROJECT_DIR",
)


def isolated_environment(home: Path) -> dict[str, str]:
    """Variables to set for a session whose state lives under `home`."""
    return {
        "TW_HOME": str(home),
        "DLT_DATA_DIR": str(home / "dlt"),
        "TW_PII_SALT": TEST_PII_SALT,
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def leaky_variables() -> list[str]:
    """LEAKY_VARIABLES plus any per-instance source URL (TW_SOURCE_<INSTANCE>_URL) that is set."""
    per_instance = [k for k in os.environ if k.startswith("TW_SOURCE_") and k.endswith("_URL")]
    return sorted({*LEAKY_VARIABLES, *per_instance})


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
