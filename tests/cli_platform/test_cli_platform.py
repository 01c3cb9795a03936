"""`warehouse --platform NAME` / TW_PLATFORM: a profile of platforms/ is checked, its tables.yml
becomes the ingestion config (unless --config / TW_CONFIG), TW_PLATFORM reaches every dbt child,
and its state stays apart from every other profile's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingestion.config import CONFIG_ENV, DEFAULT_PATH, load_config
from tenant_warehouse.cli import main
from tenant_warehouse.dbt_runner import dbt_env
from tenant_warehouse.platforms import (
    DemoHooks,
    PlatformError,
    available_platforms,
    demo_hooks,
    platform_config,
)
from tenant_warehouse.settings import PLATFORMS_DIR, Settings

SHIPPED = ("glific", "ofn", "reference")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TW_HOME in tmp; every variable main() sets registered, so the test undoes it."""
    monkeypatch.setenv("TW_HOME", str(tmp_path / "home"))
    for name in ("TW_PLATFORM", CONFIG_ENV, "TW_PG_DATABASE", "TW_DUCKDB_PATH", "DLT_DATA_DIR",
                 "TW_SOURCE_URL_TEMPLATE", "TW_SOURCE_AU_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return tmp_path / "home"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_the_shipped_profiles_are_found() -> None:
    assert set(SHIPPED) <= set(available_platforms())
    assert platform_config("reference") == DEFAULT_PATH == PLATFORMS_DIR / "reference" / "tables.yml"


@pytest.mark.parametrize("argv", [
    ["--platform", "nope", "status"],
    ["status", "--platform", "nope"],
    ["ingest", "--platform", "../ofn"],
])
def test_an_unknown_platform_is_one_line_listing_the_profiles(
    argv: list[str], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith("error: unknown platform ")
    assert err.rstrip().endswith(f"(available: {', '.join(available_platforms())})")
    assert not env.exists()  # refused before anything ran


def test_tw_platform_is_checked_like_the_option(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TW_PLATFORM", "mars")
    code, err = _run(["status"], capsys)
    assert code == 2 and err.startswith("error: unknown platform 'mars'")


def test_platform_sets_the_config_and_tw_platform(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An instance the reference config has but ofn's has not: refused by the ofn config.
    code, err = _run(["--platform", "ofn", "ingest", "--instances", "nz"], capsys)
    assert code == 2 and err.count("\n") == 1
    ofn_config = PLATFORMS_DIR / "ofn" / "tables.yml"
    assert err.startswith(f"error: {ofn_config}: ")
    assert "'nz'" in err and "au, fr, uk" in err
    assert os.environ["TW_PLATFORM"] == "ofn"
    assert Path(os.environ[CONFIG_ENV]) == ofn_config
    assert set(load_config().tables) == set(load_config(ofn_config).tables)
    # Every dbt child reads TW_PLATFORM (dbt_project.yml adds platforms/<name>/ to its paths).
    settings = Settings.from_env()
    child = dbt_env(settings, "duckdb")
    assert child["TW_PLATFORM"] == "ofn"
    # Its state is apart: its own home, DuckDB file, dlt pipelines and PostgreSQL database.
    assert settings.platform == "ofn" and settings.home == env / "ofn"
    assert Path(child["TW_DUCKDB_PATH"]) == env / "ofn" / "warehouse.duckdb"
    assert Path(child["DBT_TARGET_PATH"]).is_relative_to(env / "ofn")
    assert os.environ["TW_PG_DATABASE"] == "tenant_warehouse_ofn"
    assert settings.source_url("au").endswith("@127.0.0.1:5432/tw_ofn_au")


def test_config_given_wins_over_the_profile(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(["--platform", "glific", "--config", str(tmp_path / "none.yml"), "status"],
                     capsys)
    assert code == 2 and err.startswith(f"error: {tmp_path / 'none.yml'}: cannot read")
    assert os.environ["TW_PLATFORM"] == "glific"


def test_the_reference_platform_keeps_todays_paths(env: Path) -> None:
    code = main(["--platform", "reference", "status", "--instances", "uk", "--tables", "nope"])
    assert code == 2
    assert os.environ["TW_PLATFORM"] == "reference" and CONFIG_ENV not in os.environ
    settings = Settings.from_env()
    assert settings.home == env and settings.duckdb_path == env / "warehouse.duckdb"
    assert settings.source_url("uk") == f"sqlite:///{env / 'source' / 'uk.sqlite'}"
    assert "TW_PG_DATABASE" not in os.environ


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_registers_its_demo(name: str) -> None:
    hooks = demo_hooks(name)
    assert isinstance(hooks, DemoHooks) and hooks.name == name
    assert set(hooks.tables) <= set(load_config(platform_config(name)).tables)


def test_a_profile_without_a_demo_is_refused_in_one_line(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(PlatformError, match=r"^platform 'acme' has no demo: no package "):
        demo_hooks("acme")
    # A real platform's profile (no demo package): the demo commands refuse it in one line.
    profiles = tmp_path / "platforms"
    (profiles / "acme").mkdir(parents=True)
    (profiles / "acme" / "tables.yml").write_text(DEFAULT_PATH.read_text(encoding="utf-8"))
    monkeypatch.setattr("tenant_warehouse.platforms.PLATFORMS_DIR", profiles)
    code, err = _run(["--platform", "acme", "generate"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: platform 'acme' has no demo: ")
