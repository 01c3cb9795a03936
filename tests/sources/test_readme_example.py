"""The README's "More kinds of source" example is a valid config (so the documented keys are
the accepted ones)."""

from __future__ import annotations

import re

import yaml

from ingestion.config import parse_config
from tenant_warehouse.settings import PROJECT_DIR


def test_readme_example_config_is_valid() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## More kinds of source", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the section has no yaml example"
    config = parse_config(yaml.safe_load(block.group(1)))
    assert config.instance("sheets").kind == "spreadsheets"
    assert config.instance("crm").kind == "rest_api"
    assert config.instance("shop").source_time_zone == "Europe/Paris"
    assert config.tables["budgets"].instances == ("sheets",)
    assert config.tables["crm_deals"].instances == ("crm",)
