"""The benchmark at a tiny scale, once: every part runs and writes well-formed outputs.

Timings are never asserted (this machine's load decides them); only shapes and counts.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from pathlib import Path

import pytest

from tenant_warehouse.bench import BenchConfig, parse_parts, run_bench
from tenant_warehouse.postgres import PgServer, unique_database_name


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bench_runs_end_to_end_at_tiny_scale(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only what fct_messages needs (tests whose parents are all selected): each dbt build
    # stays a few seconds, and the freshness probes still land in marts.fct_messages.
    monkeypatch.setenv("DBT_INDIRECT_SELECTION", "cautious")
    config = BenchConfig(
        scale=0.002, small_scale=0.002, repeats=1, deltas=(0.01,), results_dir=tmp_path,
        select=("+fct_messages",), dlt_sample_rows=1_000, dlt_chunk_size=500,
        freshness_commits=2, watch_interval=1.0, commit_every=0.5, freshness_timeout=120.0,
        source_prefix=unique_database_name("twbench"),
    )
    result = run_bench(config, log=lambda message: None, server=pg_server)
    folder = result.results_dir

    for name in ("cycles.csv", "cycle_medians.csv", "extraction.csv", "freshness.csv",
                 "memory.csv", "goals.csv", "report.md"):
        assert (folder / name).stat().st_size > 0, name
    assert not (folder / "work").exists()

    cycles = _rows(folder / "cycles.csv")
    # One size (two sizes only add cycles of the same kind): a full refresh and the 1% delta.
    assert [(c["scale"], c["kind"]) for c in cycles] == [("0.002", "full"), ("0.002", "incremental")]
    assert all(c["ok"] == "True" for c in cycles), [c["error"] for c in cycles]
    assert all(float(c["cycle_seconds"]) > 0 and float(c["peak_rss_mb"]) > 0 for c in cycles)
    assert all(int(c["rows_loaded"]) > 0 for c in cycles)

    extraction = _rows(folder / "extraction.csv")
    methods = {(e["table"], e["method"]) for e in extraction}
    for table in ("organizations", "users", "contacts", "orders", "order_items", "messages"):
        for method in ("copy", "tenant_warehouse", "dlt_sqlalchemy", "dlt_pyarrow"):
            assert (table, method) in methods
    for row in extraction:
        assert float(row["rows_per_second"]) > 0, row
    copy_rows = {e["table"]: e["rows"] for e in extraction if e["method"] == "copy"}
    ours_rows = {e["table"]: e["rows"] for e in extraction if e["method"] == "tenant_warehouse"}
    assert copy_rows == ours_rows

    latencies = [r["latency_seconds"] for r in _rows(folder / "freshness.csv")]
    assert len(latencies) == 2 and all(v and float(v) > 0 for v in latencies)

    goals = {g["goal"] for g in _rows(folder / "goals.csv")}
    # The doubling goal needs two sizes; every other goal is evaluated.
    assert len(goals) == 5
    assert "## Goals" in (folder / "report.md").read_text()
    # Every cycle's dbt node times are kept; the report ranks the slowest of the cycle.
    nodes = _rows(folder / "dbt_nodes.csv")
    assert {(n["kind"], n["node"]) for n in nodes} >= {
        ("full", "model fct_messages"), ("incremental", "model fct_messages")}
    assert all(float(n["seconds"]) >= 0 for n in nodes)
    assert "## Slowest dbt nodes: 1.000% cycle at SF0.002" in (folder / "report.md").read_text()
    if importlib.util.find_spec("matplotlib") is not None:
        png = folder / "cycle_time_vs_delta.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_amplify_grows_tables_exactly_and_touch_moves_cursors(pg_server: PgServer) -> None:
    """The larger size of the benchmark: copies with new ids and remapped foreign keys."""
    from tenant_warehouse.bench_source import SourceSet, amplify, generate, table_counts, touch

    sources = SourceSet(pg_server, ("uk",), unique_database_name("twbench"))
    try:
        generate(sources, 0.001, seed=1)
        before = table_counts(sources)["uk"]
        amplify(sources, 2.0)
        after = table_counts(sources)["uk"]
        for table in ("contacts", "orders", "order_items", "messages"):
            assert after[table] == 2 * before[table], table
        assert after["organizations"] == before["organizations"]
        with sources.connect("uk") as conn, conn.cursor() as cur:
            # Every copied item points at a copied order, every copied order at a copied contact.
            cur.execute("select count(*) from order_items i left join orders o on o.id = i.order_id"
                        " where o.id is null")
            orphans_after = cur.fetchone()[0]
            cur.execute("select max(id) from messages")
            top = cur.fetchone()[0]
            cur.execute("select nextval(pg_get_serial_sequence('messages', 'id'))")
            assert cur.fetchone()[0] > top
            cur.execute("select max(updated_at) from messages")
            newest_before = cur.fetchone()[0]
        conn.close()
        assert orphans_after == 0 or orphans_after % 2 == 0  # generated orphans are copied too
        touched = touch(sources, 0.1, seed=3)
        assert 0 < touched < sum(after.values())
        with sources.connect("uk") as conn, conn.cursor() as cur:
            cur.execute("select count(*) from messages where updated_at > %s", (newest_before,))
            assert cur.fetchone()[0] > 0
        conn.close()
    finally:
        sources.drop()


def test_parts_are_checked() -> None:
    assert parse_parts("freshness, cycles") == ("freshness", "cycles")
    for wrong in ("cycle", "", "cycles,memory"):
        with pytest.raises(argparse.ArgumentTypeError, match="subset of cycles, extraction"):
            parse_parts(wrong)
