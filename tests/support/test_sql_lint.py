"""`warehouse lint-sql` (tenant_warehouse.sql_lint): configuration, and that it can fail."""

from __future__ import annotations

from pathlib import Path

from tenant_warehouse.settings import Settings
from tenant_warehouse.sql_lint import _override_config, lint_command, lint_runs, lint_sql
from tests.support.project import copy_dbt_project


def test_override_config_pins_the_dbt_templater(tmp_path: Path, tw_settings: Settings) -> None:
    config = _override_config(tmp_path, tw_settings, tmp_path).read_text()
    assert "templater = dbt" in config
    assert "target = duckdb" in config
    assert "dbt_skip_compilation_error = False" in config  # a model that fails to compile fails
    assert (tmp_path / "profiles" / "profiles.yml").exists()
    command = lint_command(tmp_path / "x.cfg", ["models"], fix=False)
    assert command[command.index("lint") + 1] == "models"


def test_lint_fails_on_unparsable_sql(tmp_path: Path, tw_settings: Settings) -> None:
    project = copy_dbt_project(tmp_path / "project")
    (project / "models" / "lint_probe.sql").write_text("select 1 as x from where\n")
    assert lint_sql(tw_settings, ["models/lint_probe.sql"], project_dir=project) != 0


def test_each_profile_is_linted_with_its_profile_active(tmp_path: Path) -> None:
    for path in ("models", "macros", "platforms/reference/models", "platforms/ofn/models",
                 "platforms/ofn/macros", "platforms/bare/seeds"):
        (tmp_path / path).mkdir(parents=True)
    runs = lint_runs(tmp_path, None)
    # The product once, with the default profile; every profile's own SQL with it active; a
    # profile without SQL (only seeds) is not linted.
    assert runs == [
        ("ofn", ["platforms/ofn/models", "platforms/ofn/macros"]),
        ("reference", ["models", "macros", "platforms/reference/models"]),
    ]
    assert lint_runs(tmp_path, ["models/x.sql"]) == [(None, ["models/x.sql"])]
