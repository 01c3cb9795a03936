"""The sample platforms' pieces agree with each other, and their command lines behave.

The generators' instance lists, the profiles' seeds (platforms/<name>/seeds) and the ingestion
configs (platforms/<name>/tables.yml) are written separately; a drift between them would make
the oracle and the warehouse disagree for reasons no mart test explains.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from ingestion.config import load_config
from reference_platform.samples import cli
from reference_platform.samples.glific import generator as glific
from reference_platform.samples.glific.instances import INSTANCES as GLIFIC_INSTANCES
from reference_platform.samples.ofn import generator as ofn
from reference_platform.samples.ofn.instances import INSTANCES as OFN_INSTANCES
from reference_platform.samples.ofn.truth import OfnSeeds
from reference_platform.samples.runner import Platform
from tests.sample_platforms.raw_compare import pg_query
from tests.support.pg import PgDatabaseFactory

ROOT = Path(__file__).resolve().parents[2]


def seed_rows(platform: str, name: str) -> list[dict[str, str]]:
    with (ROOT / "platforms" / platform / "seeds" / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ofn_seeds_match_the_instances_and_the_config() -> None:
    seeds = {r["instance_id"]: r for r in seed_rows("ofn", "ofn_instances.csv")}
    assert {i: (s["currency"], s["time_zone"]) for i, s in seeds.items()} == {
        i: (spec.currency, spec.time_zone) for i, spec in OFN_INSTANCES.items()}
    config = load_config(ROOT / "platforms" / "ofn" / "tables.yml")
    assert set(config.instances) == set(OFN_INSTANCES)
    # Every shop kind has a price in every instance currency for every month the fx seed covers.
    prices = OfnSeeds.load()
    months = sorted({month for month, _ in prices.fx_rates})
    for spec in OFN_INSTANCES.values():
        for sells in ("own", "any"):
            for month in months:
                prices.price(sells, spec.currency, month)
    # Validity ranges of one (sells, currency) never overlap.
    ranges: dict[tuple[str, str], list] = {}
    for price in prices.prices:
        ranges.setdefault((price.sells, price.currency), []).append(price)
    for series in ranges.values():
        series.sort(key=lambda p: p.valid_from)
        for earlier, later in pairwise(series):
            assert earlier.valid_to == later.valid_from


def test_glific_seeds_match_the_instances_and_the_config() -> None:
    seeds = {r["instance_id"]: r["time_zone"] for r in seed_rows("glific",
                                                                 "glific_instances.csv")}
    assert seeds == {i: spec.time_zone for i, spec in GLIFIC_INSTANCES.items()}
    config = load_config(ROOT / "platforms" / "glific" / "tables.yml")
    assert set(config.instances) == set(GLIFIC_INSTANCES)


@pytest.mark.parametrize("name", ["ofn", "glific"])
def test_generator_help(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"reference_platform.samples.{name}.generator", "step", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "--minutes" in result.stdout and "--url-template" in result.stdout


def test_cli_generates_steps_and_refuses_mistakes(
    pg_database: PgDatabaseFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_database("tw_cli").url  # no {instance}: every instance named goes there

    def run(platform: Platform, *args: str) -> tuple[int, str, str]:
        code = cli.main(platform, [*args, "--url-template", url])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run(glific.PLATFORM, "generate", "--instances", "in", "--scale", "0.05")
    assert code == 0 and out.startswith("in: step 1 to 2026-03-03 00:00 UTC: ")
    code, out, _ = run(glific.PLATFORM, "step", "--instances", "in", "--minutes", "30")
    assert code == 0 and out.startswith("in: step 2 to 2026-03-03 00:30 UTC")
    assert pg_query(url, "SELECT value FROM sim_state WHERE key = 'step'") == [("2",)]
    for platform, args, message in (
        (glific.PLATFORM, ("generate", "--instances", "in"), "is already generated"),
        (ofn.PLATFORM, ("step", "--instances", "au"), "holds glific instance 'in'"),
        (glific.PLATFORM, ("generate", "--instances", "xx"), "unknown glific instance 'xx'"),
        (glific.PLATFORM, ("step", "--instances", "in", "--minutes", "0"), "minutes must be"),
    ):
        code, _, err = run(platform, *args)
        assert code == 2 and err.startswith("error: ") and message in err
        assert err.count("\n") == 1, err  # one line, no traceback
    code = cli.main(glific.PLATFORM, ["step", "--instances", "in", "--url-template",
                                      "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot reach the database: ")
