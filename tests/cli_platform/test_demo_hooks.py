"""The reference platform's demo hooks, as `warehouse demo|generate|simulate` and the oracle
comparison reach them (by entry point, never by import from the product)."""

from __future__ import annotations

from pathlib import Path

from reference_platform.database import Database
from reference_platform.schema import PLATFORM_TABLE_NAMES
from tenant_warehouse.platforms import demo_hooks
from tests.support.verify import MART_KEYS


def test_reference_hooks_generate_simulate_and_compute_the_truth(tmp_path: Path) -> None:
    hooks = demo_hooks("reference")
    url = f"sqlite:///{tmp_path / 'uk.sqlite'}"
    messages: list[str] = []
    assert not hooks.source_exists(url)
    counts = hooks.generate(url, "uk", 1, 0.001, messages.append)
    assert hooks.source_exists(url)
    database = Database(url)
    assert counts == {t: database.query(f"SELECT count(*) FROM {t}")[0][0]
                      for t in PLATFORM_TABLE_NAMES}
    assert messages and hooks.tables == tuple(PLATFORM_TABLE_NAMES)
    before = database.query("SELECT count(*) FROM messages")[0][0]
    line = hooks.simulate(url, "uk", 1, 1, 6.0, messages.append)
    after = database.query("SELECT count(*) FROM messages")[0][0]
    assert line.startswith("tick 1 to ") and "messages +" in line
    assert f"messages +{after - before}/" in line
    truth = hooks.truth({"uk": url})
    assert set(MART_KEYS) <= set(truth)
    assert hooks.current_rows is not None
    assert len(hooks.current_rows(url, "messages")) == after
