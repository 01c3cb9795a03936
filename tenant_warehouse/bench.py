"""`warehouse bench`: extraction speed against COPY and dlt, incremental cost against delta size,
freshness in watch mode, and ingestion peak memory, measured side by side in one run.

One run (docs/performance.md has the latest results and the meaning of every number):
1. generate the reference platform in PostgreSQL at the small size (the real generator);
2. at each size (small, then `--scale`, grown by set-based copies unless `--generator full`):
   full refresh cycles (fresh warehouse: ingest + `dbt build --full-refresh`), then incremental
   cycles (ingest + the cycle's `dbt build`, periodic tier not due) after activity touching each
   delta fraction of the rows, each followed by the cycle that brings the periodic tier up to it;
3. at `--scale`: end-to-end loads of the largest table side by side (bench_loads.py: COPY,
   tenant_warehouse, a minimal connectorx -> DuckDB script, dlt sql_table with connectorx and
   pyarrow, ingestr; each a process timed from spawn to exit, its output checked), extraction
   per table (the readers alone, in this process), then freshness (commits in the source while
   a watch loop runs, each cycle split into its phases);
4. medians of `--repeats`, printed, and written under the results folder: CSV files, a PNG plot
   (cycle time against delta, both sizes) and report.md.
Ingestion always runs in a child process, whose peak RSS (VmHWM) is recorded.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenant_warehouse.settings import PROJECT_DIR, Settings

DEFAULT_DELTAS = (0.001, 0.01, 0.1)
PARTS = ("cycles", "loads", "extraction", "freshness")
MB = 1_000_000
GIB = 1 << 30

# The goals of the benchmark issue; `evaluate_goals` checks each against this run.
GOAL_LOAD_COPY_SHARE = 0.55  # end-to-end full load, rows/s, and ahead of every peer
GOAL_NO_CHANGE_CYCLE = 1.0
GOAL_INCREMENTAL_SHARE = 0.15
GOAL_DOUBLING_GROWTH = 0.15
GOAL_FRESHNESS_P95 = 15.0
GOAL_PEAK_RSS = GIB
PERIODIC_NEVER_MINUTES = 525_600  # a year: the periodic tier is not due during a measured cycle


@dataclass
class BenchConfig:
    scale: float = 1.0
    small_scale: float | None = None  # default: 1 when scale > 2, else scale / 2
    repeats: int = 3
    cycle_repeats: int | None = None  # default: repeats
    select: tuple[str, ...] = ()  # dbt selection for every cycle (default: the whole project)
    deltas: tuple[float, ...] = DEFAULT_DELTAS
    seed: int = 1
    warehouse: str = "duckdb"
    # Default: every database instance of the ingestion config.
    instances: tuple[str, ...] = field(default_factory=lambda: _configured_instances())
    results_dir: Path | None = None
    generator: str = "amplify"  # or "full": the real generator at every size
    parts: tuple[str, ...] = PARTS  # what to measure (a subset when iterating on one of them)
    dlt_sample_rows: int = 200_000
    dlt_chunk_size: int = 50_000
    freshness_commits: int = 20
    watch_interval: float = 5.0
    commit_every: float = 3.0
    freshness_timeout: float = 900.0
    keep: bool = False
    source_prefix: str = "twbench"
    peers: tuple[str, ...] = ()  # the loads part's peers (default: all of bench_peers.PEERS)

    @property
    def repeats_of_cycles(self) -> int:
        return self.repeats if self.cycle_repeats is None else self.cycle_repeats

    @property
    def sizes(self) -> list[float]:
        small = self.small_scale
        if small is None:
            small = 1.0 if self.scale > 2 else self.scale / 2
        return [small, self.scale] if small < self.scale else [self.scale]


@dataclass
class CycleRow:
    scale: float
    kind: str  # full | incremental | no-change
    delta: float | None
    repeat: int
    rows_touched: int
    ingest_seconds: float
    dbt_seconds: float
    cycle_seconds: float
    rows_extracted: int
    rows_loaded: int
    peak_rss_mb: float
    ok: bool
    error: str = ""


@dataclass
class ExtractionRow:
    table: str
    method: str
    rows: int
    csv_mb: float
    seconds: float
    rows_per_second: float
    mb_per_second: float
    repeats: int
    note: str = ""


@dataclass
class BenchResult:
    config: BenchConfig
    results_dir: Path
    started_at: str
    machine: dict[str, str]
    source_rows: dict[float, dict[str, int]] = field(default_factory=dict)
    generate_seconds: dict[float, float] = field(default_factory=dict)
    cycles: list[CycleRow] = field(default_factory=list)
    extraction: list[ExtractionRow] = field(default_factory=list)
    freshness: list[float | None] = field(default_factory=list)
    watch_cycle_seconds: list[float] = field(default_factory=list)
    watch_failures: list[str] = field(default_factory=list)
    watch_warmup_seconds: float | None = None
    total_seconds: float = 0.0
    goals: list[dict[str, Any]] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)  # bench_loads.LoadRow
    load_peers_missing: dict[str, str] = field(default_factory=dict)  # peer -> why not run
    load_instance: str = ""
    watch_phases: list[dict[str, Any]] = field(default_factory=list)
    """per freshness cycle: ingest, change detection, dbt start-up and node time, alerts (s)"""
    load_averages: list[tuple[float, float, float]] = field(default_factory=list)
    """/proc/loadavg sampled during the freshness run"""
    node_seconds: list[dict[str, Any]] = field(default_factory=list)
    """dbt node times of every cycle (scale, kind, delta, repeat, node, seconds)"""


# --- orchestration -----------------------------------------------------------------------------


def run_bench(
    config: BenchConfig, log: Callable[[str], None] = print, server: Any = None
) -> BenchResult:
    """Run the benchmark; `server` is a tenant_warehouse.postgres.PgServer (default: found or
    started by discover_server)."""
    from tenant_warehouse.bench_source import (
        SourceSet,
        advance_clock,
        amplify,
        generate,
        table_counts,
    )
    from tenant_warehouse.postgres import discover_server

    started = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results_dir = (config.results_dir or PROJECT_DIR / "benchmarks" / "results") / (
        f"sf{_fmt_scale(config.scale)}-{stamp}"
    )
    work = results_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    result = BenchResult(config, results_dir, stamp, machine_description())
    sizes = config.sizes

    with ExitStack() as stack:
        if server is None:
            server = stack.enter_context(discover_server())
        sources = SourceSet(server, tuple(config.instances), config.source_prefix)
        env = _bench_env(work, sources, server, config)
        saved = dict(os.environ)
        stack.callback(_restore_environment, saved)
        os.environ.update(env)
        settings = Settings(home=work)
        try:
            for index, size in enumerate(sizes):
                log(f"== size SF{_fmt_scale(size)} ==")
                t0 = time.perf_counter()
                if index == 0 or config.generator == "full":
                    log(f"generating the reference platform at SF{_fmt_scale(size)} in PostgreSQL")
                    sources.drop()
                    generate(sources, size, config.seed)
                else:
                    log(f"growing the platform x{size / sizes[index - 1]:g} to SF{_fmt_scale(size)}")
                    amplify(sources, size / sizes[index - 1])
                    # The copies keep their updated_at: the small size's bench activity (a
                    # third of its rows touched in its last minutes) would sit, grown, in the
                    # large size's re-read window and be read again by every cycle there.
                    advance_clock(sources, quiet_seconds())
                result.generate_seconds[size] = time.perf_counter() - t0
                counts = table_counts(sources)
                result.source_rows[size] = _sum_counts(counts)
                log(f"  {time.perf_counter() - t0:.0f} s; rows: {result.source_rows[size]}")
                if "cycles" in config.parts:
                    _cycles_at(result, settings, env, sources, config, size, sizes, log)
                _write_outputs(result)
            if "loads" in config.parts:
                _loads(result, settings, env, sources, config, log)
                _write_outputs(result)
            if "extraction" in config.parts:
                _extraction(result, settings, sources, config, log)
                _write_outputs(result)
            if "freshness" in config.parts:
                advance_clock(sources, quiet_seconds())  # the deltas' bursts leave the window
                _freshness(result, settings, env, sources, config, log)
        finally:
            result.total_seconds = time.perf_counter() - started
            result.goals = evaluate_goals(result)
            _write_outputs(result)
            if not config.keep:
                sources.drop()
                if config.warehouse == "postgres":
                    _drop_warehouse_database(server, env)
                shutil.rmtree(work, ignore_errors=True)
    return result


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def _bench_env(work: Path, sources: Any, server: Any, config: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TW_HOME": str(work),
        "TW_SOURCE_URL_TEMPLATE": sources.url_template,
        "TW_PII_SALT": "benchmark-salt",
        "DLT_DATA_DIR": str(work / "dlt"),
        "TW_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "DBT_TARGET_PATH": str(work / f"dbt_target_{config.warehouse}"),
        "DBT_LOG_PATH": str(work / "dbt_logs"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The project root, so the child finds this package in a checkout without an install.
        "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_DIR), env.get("PYTHONPATH")) if p),
    })
    for name in [k for k in env if k.startswith("TW_SOURCE_") and k.endswith("_URL")]:
        del env[name]  # every instance comes from the template
    if config.warehouse == "postgres":
        env.update(server.warehouse_env(f"{config.source_prefix}_warehouse"))
    return env


def _reset_warehouse(settings: Settings, env: dict[str, str], config: BenchConfig) -> None:
    """Nothing loaded, no dlt state: the next cycle is a full refresh."""
    shutil.rmtree(settings.home / "dlt", ignore_errors=True)
    if config.warehouse == "duckdb":
        for suffix in ("", ".wal"):
            Path(env["TW_DUCKDB_PATH"] + suffix).unlink(missing_ok=True)
    elif config.warehouse == "postgres":
        from tenant_warehouse.postgres import server_from_url
        from tenant_warehouse.warehouse_sql import ensure_postgres_database

        server = server_from_url(
            f"postgresql://{env['TW_PG_USER']}@{env['TW_PG_HOST']}:{env['TW_PG_PORT']}/postgres"
        )
        _drop_warehouse_database(server, env)
        ensure_postgres_database()


def _drop_warehouse_database(server: Any, env: dict[str, str]) -> None:
    from tenant_warehouse.postgres import drop_database

    drop_database(server, env["TW_PG_DATABASE"])


def _cycles_at(
    result: BenchResult, settings: Settings, env: dict[str, str], sources: Any,
    config: BenchConfig, size: float, sizes: list[float], log: Callable[[str], None],
) -> None:
    from tenant_warehouse.bench_measure import cycle
    from tenant_warehouse.bench_source import touch

    repeats = config.repeats_of_cycles
    select = ["--select", *config.select] if config.select else []
    for repeat in range(repeats):
        _reset_warehouse(settings, env, config)
        outcome = cycle(settings, env, config.warehouse, ["build", "--full-refresh", *select])
        result.cycles.append(_cycle_row(size, "full", None, repeat, 0, outcome))
        _keep_node_times(result, size, "full", None, repeat, outcome)
        log(f"  full refresh {repeat + 1}/{repeats}: {_describe(outcome)}")
    deltas = list(config.deltas)
    if size != sizes[0]:
        # The same number of rows as the 1% delta at the small size: cycle time when the table
        # grows at a fixed delta.
        fixed = 0.01 * sizes[0] / size
        if not any(math.isclose(fixed, d, rel_tol=1e-6) for d in deltas):
            deltas.append(fixed)
    # Incremental cycles as `warehouse run --watch` runs them, the minute cadence's way to run:
    # ingestion and dbt in this process, dbt's parse kept. Unmeasured first, as the loop's
    # first cycles: a cycle after touching 0.01% of every table (imports, dbt's parse, and the
    # first incremental write after a full build, which rewrites DuckDB's row groups once),
    # then the periodic tier's catch-up (dbt's parse with that setting).
    from tenant_warehouse.bench_measure import WARM_UP_FRACTION, warm_cycle
    from tenant_warehouse.dbt_runner import warm_dbt

    with warm_dbt():
        touch(sources, WARM_UP_FRACTION, seed=config.seed * 1000 + 999)
        for due in (False, True):
            with periodic_tier(due=due):
                warm_cycle(settings, env, config.warehouse, dbt_args=_build_args(select))
        for delta in sorted(deltas):
            for repeat in range(repeats):
                touched = touch(sources, delta, seed=config.seed * 1000 + repeat)
                # The minute cycle: the build `warehouse run` makes between two periodic
                # builds (fresh tier only), or the benchmark's own --select.
                with periodic_tier(due=False):
                    outcome = warm_cycle(settings, env, config.warehouse,
                                         dbt_args=_build_args(select))
                result.cycles.append(
                    _cycle_row(size, "incremental", delta, repeat, touched, outcome))
                _keep_node_times(result, size, "incremental", delta, repeat, outcome)
                log(f"  delta {delta:.4%} ({touched:,} rows) {repeat + 1}/{repeats}: "
                    f"{_describe(outcome)}")
                if select:
                    continue
                # The next cycle with the periodic tier due and nothing new in the source:
                # what bringing the whole-table marts and tests up to that delta costs.
                with periodic_tier(due=True):
                    caught_up = warm_cycle(settings, env, config.warehouse)
                result.cycles.append(
                    _cycle_row(size, "periodic", delta, repeat, touched, caught_up))
                _keep_node_times(result, size, "periodic", delta, repeat, caught_up)
                log(f"  periodic tier after it {repeat + 1}/{repeats}: {_describe(caught_up)}")
    if size == sizes[-1]:
        # Nothing changed in the source since the last cycle: what every idle cycle of the warm
        # watch loop costs (ingestion and dbt in this process, imports and dbt's parse paid by
        # one unmeasured cycle first, as by the loop's first cycle).
        with warm_dbt(), periodic_tier(due=False):
            warm_cycle(settings, env, config.warehouse)
            for repeat in range(repeats):
                outcome = warm_cycle(settings, env, config.warehouse)
                result.cycles.append(_cycle_row(size, "no-change", 0.0, repeat, 0, outcome))
                _keep_node_times(result, size, "no-change", 0.0, repeat, outcome)
                log(f"  no change {repeat + 1}/{repeats}: {_describe(outcome)}")


def _build_args(select: list[str]) -> list[str] | None:
    """The benchmark's own --select build, or None: the build `warehouse run` plans."""
    return ["build", *select] if select else None


@contextmanager
def periodic_tier(due: bool) -> Iterator[None]:
    """Make the cycle's periodic tier (cycle_build: whole-table marts and tests) due or not due
    for the cycles in the block, whatever the wall clock says, so each measured cycle is of one
    known kind."""
    name = "TW_PERIODIC_EVERY_MINUTES"
    saved = os.environ.get(name)
    os.environ[name] = "0" if due else str(PERIODIC_NEVER_MINUTES)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _keep_node_times(
    result: BenchResult, size: float, kind: str, delta: float | None, repeat: int, outcome: Any
) -> None:
    result.node_seconds.extend(
        {"scale": size, "kind": kind, "delta": delta, "repeat": repeat, "node": node,
         "seconds": seconds}
        for node, seconds in outcome.node_seconds.items()
    )


def _cycle_row(
    size: float, kind: str, delta: float | None, repeat: int, touched: int, outcome: Any
) -> CycleRow:
    error = outcome.ingest.error or ("dbt build failed: " + outcome.dbt_output_tail[-400:]
                                     if not outcome.dbt_ok else "")
    return CycleRow(
        size, kind, delta, repeat, touched, round(outcome.ingest.seconds, 3),
        round(outcome.dbt_seconds, 3), round(outcome.seconds, 3), outcome.ingest.rows_extracted,
        outcome.ingest.rows_loaded, round(outcome.ingest.peak_rss_bytes / (1 << 20), 1),
        outcome.ok, error.replace("\n", " ")[:600],
    )


def _describe(outcome: Any) -> str:
    status = "ok" if outcome.ok else "FAILED"
    return (f"{outcome.seconds:.1f} s (ingest {outcome.ingest.seconds:.1f} s, "
            f"{outcome.ingest.rows_loaded:,} rows, RSS {outcome.ingest.peak_rss_bytes / (1 << 20):.0f} MiB;"
            f" dbt {outcome.dbt_seconds:.1f} s) {status}")


def _extraction(
    result: BenchResult, settings: Settings, sources: Any, config: BenchConfig,
    log: Callable[[str], None],
) -> None:
    from ingestion.config import load_config
    from tenant_warehouse.bench_measure import copy_probe, dlt_probe, tw_probe

    log(f"== extraction at SF{_fmt_scale(config.scale)} ==")
    salt = settings.pii_salt()
    tables = list(load_config().tables.values())
    for table in tables:
        copy_runs, tw_runs = [], []
        rows = nbytes = 0
        for _ in range(config.repeats):
            # Side by side: COPY then ours, per instance, so both see the same machine load.
            c_rows = c_sec = t_rows = t_sec = c_bytes = 0.0
            for instance in sources.instances:
                r, s, b = copy_probe(sources, instance, table)
                c_rows, c_sec, c_bytes = c_rows + r, c_sec + s, c_bytes + b
                r2, s2 = tw_probe(sources, instance, table, salt)
                t_rows, t_sec = t_rows + r2, t_sec + s2
            copy_runs.append(c_sec)
            tw_runs.append(t_sec)
            rows, nbytes = int(c_rows), int(c_bytes)
            if int(t_rows) != rows:
                log(f"  warning: {table.name}: ours read {int(t_rows)} rows, COPY {rows}")
        mb = nbytes / MB
        for method, runs in (("copy", copy_runs), ("tenant_warehouse", tw_runs)):
            seconds = statistics.median(runs)
            result.extraction.append(ExtractionRow(
                table.name, method, rows, round(mb, 3), round(seconds, 4),
                round(rows / seconds, 1) if seconds else 0.0,
                round(mb / seconds, 3) if seconds else 0.0, len(runs),
            ))
        # dlt: one instance, up to dlt_sample_rows rows (its rate is flat in the table size).
        instance = sources.instances[0]
        for backend in ("sqlalchemy", "pyarrow"):
            runs, sample = [], 0
            for _ in range(config.repeats):
                sample, seconds = dlt_probe(sources, instance, table, backend,
                                            config.dlt_sample_rows, config.dlt_chunk_size)
                runs.append(seconds)
            seconds = statistics.median(runs)
            sample_mb = mb * sample / rows if rows else 0.0
            result.extraction.append(ExtractionRow(
                table.name, f"dlt_{backend}", sample, round(sample_mb, 3), round(seconds, 4),
                round(sample / seconds, 1) if seconds else 0.0,
                round(sample_mb / seconds, 3) if seconds else 0.0, len(runs),
                note=f"instance {instance}, first {sample:,} rows",
            ))
        by = {r.method: r for r in result.extraction if r.table == table.name}
        log(f"  {table.name}: {rows:,} rows, {mb:.1f} MB; rows/s copy "
            f"{by['copy'].rows_per_second:,.0f}, ours {by['tenant_warehouse'].rows_per_second:,.0f},"
            f" dlt sqlalchemy {by['dlt_sqlalchemy'].rows_per_second:,.0f},"
            f" dlt pyarrow {by['dlt_pyarrow'].rows_per_second:,.0f}")


def _loads(
    result: BenchResult, settings: Settings, env: dict[str, str], sources: Any,
    config: BenchConfig, log: Callable[[str], None],
) -> None:
    from tenant_warehouse.bench_loads import LOAD_TABLE, run_loads
    from tenant_warehouse.bench_peers import PEERS

    log(f"== end-to-end loads of {LOAD_TABLE} at SF{_fmt_scale(config.scale)}, side by side ==")
    # ingestr's venv outlives the run (installing it takes a minute); the rest is work.
    tools = result.results_dir.parent / "_tools"
    result.loads, result.load_peers_missing, result.load_instance = run_loads(
        sources, env, result.results_dir / "work", tools, config.repeats, config.seed,
        config.peers or PEERS, log, settings.pii_salt(),
    )


def quiet_seconds() -> float:
    """How far the simulated clock moves on between measurements: past the longest re-read
    (lag) window of the ingestion, so activity measured before is not read again."""
    from ingestion.config import load_config
    from tenant_warehouse.bench_source import TOUCH_WINDOW_SECONDS

    return max(t.lag_seconds for t in load_config().tables.values()) + TOUCH_WINDOW_SECONDS


def _freshness(
    result: BenchResult, settings: Settings, env: dict[str, str], sources: Any,
    config: BenchConfig, log: Callable[[str], None],
) -> None:
    from tenant_warehouse.bench_measure import freshness

    log(f"== freshness at SF{_fmt_scale(config.scale)}: {config.freshness_commits} commits, "
        f"watch every {config.watch_interval:g} s ==")
    probes, stats = freshness(
        settings, env, sources, config.warehouse, config.freshness_commits,
        config.watch_interval, config.commit_every, config.freshness_timeout, log,
        select=list(config.select),
    )
    result.freshness = [p.latency for p in probes]
    result.watch_cycle_seconds = stats.cycle_seconds
    result.watch_failures = stats.failures
    result.watch_warmup_seconds = stats.warmup_seconds
    result.watch_phases = stats.phases
    result.node_seconds.extend(
        {"scale": config.scale, "kind": "watch", "delta": None, "repeat": index, "node": node,
         "seconds": seconds}
        for index, times in enumerate(stats.node_seconds) for node, seconds in times.items()
    )


# --- results -----------------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def cycle_medians(result: BenchResult) -> list[dict[str, Any]]:
    """One row per (size, kind, delta): medians over the repeats."""
    groups: dict[tuple[float, str, float | None], list[CycleRow]] = {}
    for row in result.cycles:
        groups.setdefault((row.scale, row.kind, row.delta), []).append(row)
    out = []
    for (scale, kind, delta), rows in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1] != "full", item[0][2] or 0)
    ):
        full = _median([r.cycle_seconds for r in result.cycles
                        if r.scale == scale and r.kind == "full"])
        cycle = _median([r.cycle_seconds for r in rows]) or 0.0
        out.append({
            "scale": scale, "kind": kind, "delta": delta,
            "rows_touched": int(_median([r.rows_touched for r in rows]) or 0),
            "rows_loaded": int(_median([r.rows_loaded for r in rows]) or 0),
            "ingest_seconds": round(_median([r.ingest_seconds for r in rows]) or 0.0, 2),
            "dbt_seconds": round(_median([r.dbt_seconds for r in rows]) or 0.0, 2),
            "cycle_seconds": round(cycle, 2),
            "share_of_full": round(cycle / full, 4) if full else None,
            "peak_rss_mb": max(r.peak_rss_mb for r in rows),
            "repeats": len(rows), "all_ok": all(r.ok for r in rows),
        })
    return out


def evaluate_goals(result: BenchResult) -> list[dict[str, Any]]:
    goals: list[dict[str, Any]] = []

    def goal(name: str, target: str, measured: float | None, met: bool | None, detail: str) -> None:
        goals.append({"goal": name, "target": target,
                      "measured": None if measured is None else round(measured, 4),
                      "met": met, "detail": detail})

    if result.loads:
        _load_goal(result, goal)
    medians = cycle_medians(result)
    sizes = sorted({m["scale"] for m in medians})
    if sizes:
        big = sizes[-1]
        one = [m for m in medians if m["scale"] == big and m["kind"] == "incremental"
               and math.isclose(m["delta"] or 0, 0.01)]
        tier = [m for m in medians if m["scale"] == big and m["kind"] == "periodic"
                and math.isclose(m["delta"] or 0, 0.01)]
        idle = [m for m in medians if m["scale"] == big and m["kind"] == "no-change"]
        if idle:
            seconds = idle[0]["cycle_seconds"]
            goal(f"cycle with no change (SF{_fmt_scale(big)})", f"<= {GOAL_NO_CHANGE_CYCLE:g} s",
                 seconds, seconds <= GOAL_NO_CHANGE_CYCLE,
                 f"ingest {idle[0]['ingest_seconds']:.2f} s + dbt {idle[0]['dbt_seconds']:.2f} s")
        if one and one[0]["share_of_full"] is not None:
            share = one[0]["share_of_full"]
            goal(f"incremental 1% cycle / full refresh (SF{_fmt_scale(big)})",
                 f"<= {GOAL_INCREMENTAL_SHARE:.0%}", share, share <= GOAL_INCREMENTAL_SHARE,
                 f"{one[0]['cycle_seconds']:.1f} s vs full "
                 f"{one[0]['cycle_seconds'] / share:.1f} s (the minute cycle: fresh tier)"
                 + (f"; the periodic tier's catch-up after it {tier[0]['cycle_seconds']:.1f} s "
                    f"({tier[0]['share_of_full']:.0%})" if tier and tier[0]["share_of_full"]
                    else ""))
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        base = [m for m in medians if m["scale"] == small and m["kind"] == "incremental"
                and math.isclose(m["delta"] or 0, 0.01)]
        fixed = 0.01 * small / big
        same_rows = [m for m in medians if m["scale"] == big and m["kind"] == "incremental"
                     and math.isclose(m["delta"] or 0, fixed, rel_tol=1e-6)]
        if base and same_rows and base[0]["cycle_seconds"]:
            growth = same_rows[0]["cycle_seconds"] / base[0]["cycle_seconds"]
            per_doubling = growth ** (1 / math.log2(big / small)) - 1
            goal("cycle growth per doubling of the table, fixed delta",
                 f"<= {GOAL_DOUBLING_GROWTH:.0%}", per_doubling,
                 per_doubling <= GOAL_DOUBLING_GROWTH,
                 f"SF{_fmt_scale(small)} 1% ({base[0]['rows_touched']:,} rows) "
                 f"{base[0]['cycle_seconds']:.1f} s -> SF{_fmt_scale(big)} same rows "
                 f"({same_rows[0]['rows_touched']:,}) {same_rows[0]['cycle_seconds']:.1f} s")
    latencies = [v for v in result.freshness if v is not None]
    if result.freshness:
        p95 = percentile(latencies, 0.95) if len(latencies) == len(result.freshness) else None
        goal("freshness p95 (watch mode)", f"< {GOAL_FRESHNESS_P95:g} s", p95,
             None if p95 is None else p95 < GOAL_FRESHNESS_P95,
             f"{len(latencies)}/{len(result.freshness)} commits visible; p50 "
             f"{_num(percentile(latencies, 0.5))} s")
    rss: dict[float, float] = {}
    watch_rss = 0.0  # the in-process cycles: the whole watch-like process, dbt included
    for row in result.cycles:
        if row.kind != "full":
            watch_rss = max(watch_rss, row.peak_rss_mb)
            continue
        rss[row.scale] = max(rss.get(row.scale, 0.0), row.peak_rss_mb)
    for load in result.loads:  # `warehouse ingest` of the loads part, at --scale
        if load.peer == "tenant_warehouse":
            scale = result.config.scale
            rss[scale] = max(rss.get(scale, 0.0), load.peak_rss_mb)
    if rss:
        worst = max(rss.values())
        goal("ingestion peak RSS (any scale)", "<= 1 GiB", worst, worst * (1 << 20) <= GOAL_PEAK_RSS,
             ", ".join(f"SF{_fmt_scale(s)} {v:.0f} MiB" for s, v in sorted(rss.items()))
             + (f" (ingestion processes); the watch-like process during its cycles' ingestion, "
                f"dbt's parsed project included: {watch_rss:.0f} MiB" if watch_rss else ""))
    return goals


def _load_goal(result: BenchResult, goal: Callable[..., None]) -> None:
    """tenant_warehouse's full load >= 55% of COPY's rows/s, ahead of every other peer, and
    correct (full and incremental): not met while any of these fails."""
    from tenant_warehouse.bench_loads import load_medians

    by = {m["peer"]: m for m in load_medians(result.loads)}
    ours, copy = by.get("tenant_warehouse"), by.get("copy")
    if not ours or not copy:
        return
    share = ours["full_share_of_copy"]
    others = {p: m for p, m in by.items() if p not in ("copy", "tenant_warehouse", "reader_only")}
    ahead = [p for p, m in others.items()
             if (m["full_rows_per_second"] or 0) >= (ours["full_rows_per_second"] or 0)]
    met = (share is not None and share >= GOAL_LOAD_COPY_SHARE and not ahead
           and ours["all_correct"])
    detail = (f"{ours['full_rows_per_second'] or 0:,.0f} vs COPY "
              f"{copy['full_rows_per_second'] or 0:,.0f} rows/s; ")
    detail += (f"behind {', '.join(ahead)}" if ahead else "ahead of every peer run") + "; "
    detail += "correct" if ours["all_correct"] else f"WRONG: {ours['errors'][:160]}"
    reader = by.get("reader_only")
    if reader and reader["full_share_of_copy"] is not None:
        detail += f" (reader alone, in-process: {reader['full_share_of_copy']:.0%} of COPY)"
    goal("end-to-end full load vs COPY (largest table)",
         f">= {GOAL_LOAD_COPY_SHARE:.0%}, ahead of every peer, correct", share, met, detail)


def _write_outputs(result: BenchResult) -> None:
    folder = result.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / "cycles.csv", [asdict(r) for r in result.cycles])
    _write_csv(folder / "cycle_medians.csv", cycle_medians(result))
    _write_csv(folder / "extraction.csv", [asdict(r) for r in result.extraction])
    if result.loads or result.load_peers_missing:
        from tenant_warehouse.bench_loads import load_medians

        _write_csv(folder / "loads.csv", [asdict(r) for r in result.loads] + [
            {"peer": p, "kind": "not run", "detail": why}
            for p, why in result.load_peers_missing.items()])
        _write_csv(folder / "load_medians.csv", load_medians(result.loads))
    if result.watch_phases:
        _write_csv(folder / "watch_cycles.csv", result.watch_phases)
    _write_csv(folder / "freshness.csv", [
        {"commit": i + 1, "latency_seconds": None if v is None else round(v, 3)}
        for i, v in enumerate(result.freshness)
    ])
    rss: dict[float, dict[str, float]] = {}
    for row in result.cycles:
        slot = rss.setdefault(row.scale, {"full": 0.0, "incremental": 0.0})
        kind = "full" if row.kind == "full" else "incremental"  # a no-change cycle too
        slot[kind] = max(slot[kind], row.peak_rss_mb)
    _write_csv(folder / "memory.csv", [
        {"scale": s, "messages": result.source_rows.get(s, {}).get("messages"),
         "peak_rss_mb_full_refresh": v["full"], "peak_rss_mb_incremental": v["incremental"]}
        for s, v in sorted(rss.items())
    ])
    _write_csv(folder / "goals.csv", result.goals or evaluate_goals(result))
    _write_csv(folder / "dbt_nodes.csv", result.node_seconds)
    plot_cycles(result, folder / "cycle_time_vs_delta.png")
    (folder / "report.md").write_text(render_markdown(result), encoding="utf-8")


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_cycles(result: BenchResult, path: Path) -> bool:
    """Cycle time against delta (log x), one line per size, its full refresh dashed."""
    medians = [m for m in cycle_medians(result)]
    if not medians:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for index, size in enumerate(sorted({m["scale"] for m in medians})):
        colour = f"C{index}"
        points = sorted((m["delta"] * 100, m["cycle_seconds"]) for m in medians
                        if m["scale"] == size and m["kind"] == "incremental")
        if points:
            axis.plot([p[0] for p in points], [p[1] for p in points], "o-", color=colour,
                      label=f"SF{_fmt_scale(size)} minute cycle (ingest + fresh tier build)")
        caught_up = sorted((m["delta"] * 100, m["cycle_seconds"]) for m in medians
                           if m["scale"] == size and m["kind"] == "periodic")
        if caught_up:
            axis.plot([p[0] for p in caught_up], [p[1] for p in caught_up], "s:", color=colour,
                      label=f"SF{_fmt_scale(size)} periodic tier's catch-up after it")
        full = [m["cycle_seconds"] for m in medians if m["scale"] == size and m["kind"] == "full"]
        if full:
            axis.axhline(full[0], color=colour, linestyle="--", linewidth=1,
                         label=f"SF{_fmt_scale(size)} full refresh")
    axis.set_xscale("log")
    axis.set_xlabel("rows touched by the activity (% of every platform table)")
    axis.set_ylabel("cycle time (s, median)")
    axis.set_title("Incremental cycle time vs delta size")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def render_markdown(result: BenchResult) -> str:
    cfg = result.config
    lines = [
        f"# Benchmark SF{_fmt_scale(cfg.scale)} ({result.started_at})", "",
        f"Command: `{command_line(cfg)}`  ",
        f"Machine: {result.machine['summary']}  ",
        f"Run time: {result.total_seconds / 60:.1f} min; repeats: {cfg.repeats} (medians; "
        f"cycles {cfg.repeats_of_cycles}); "
        f"warehouse: {cfg.warehouse}; sizes: "
        + ", ".join(f"SF{_fmt_scale(s)}" for s in cfg.sizes)
        + f" ({'real generator' if cfg.generator == 'full' else 'generated, then grown by copies'})",
        "",
    ]
    if result.source_rows:
        lines += ["## Source rows (3 instances)", "", "| size | " + " | ".join(
            next(iter(result.source_rows.values()))) + " |",
            "|---" * (1 + len(next(iter(result.source_rows.values())))) + "|"]
        for size, counts in sorted(result.source_rows.items()):
            lines.append(f"| SF{_fmt_scale(size)} | " + " | ".join(f"{v:,}" for v in counts.values())
                         + " |")
        lines.append("")
    lines += ["## Goals", "", "| goal | target | measured | met | detail |", "|---|---|---|---|---|"]
    for g in result.goals:
        met = {True: "yes", False: "**no**", None: "n/a"}[g["met"]]
        lines.append(f"| {g['goal']} | {g['target']} | {_num(g['measured'])} | {met} | {g['detail']} |")
    from tenant_warehouse.bench_loads import load_lines

    lines += ["", *load_lines(result.loads, result.load_peers_missing, result.load_instance,
                              _fmt_scale(cfg.scale)),
              *extraction_lines(result), "", *cycle_lines(result), "", *node_lines(result)]
    latencies = [v for v in result.freshness if v is not None]
    if result.freshness:
        lines += [
            "## Freshness (commit in the source -> visible in marts.fct_messages)", "",
            f"{len(result.freshness)} commits, {len(latencies)} visible; p50 "
            f"{_num(percentile(latencies, 0.5))} s, p95 {_num(percentile(latencies, 0.95))} s, "
            f"max {_num(max(latencies) if latencies else None)} s; watch loop every "
            f"{cfg.watch_interval:g} s, {len(result.watch_cycle_seconds)} cycles, median cycle "
            f"{_num(_median(result.watch_cycle_seconds))} s, {len(result.watch_failures)} failed; "
            f"warm-up before the first commit ({_num(result.watch_warmup_seconds)} s: one cycle, "
            "two from an empty warehouse; the simulated clock moved past the lag window and "
            "0.01% of every table was touched before each, so no cycle reads the deltas "
            "measured before again).",
            "",
            *watch_lines(result),
        ]
    return "\n".join(lines) + "\n"


WATCH_PHASE_LABELS = {
    "ingest": "ingest (dlt, in-process)", "change_detection": "change detection (build plan)",
    "dbt_startup": "dbt start-up and teardown", "dbt_nodes": "dbt node time (first start to last end)",
    "alerts": "alerts", "cycle_seconds": "whole cycle",
}


def watch_lines(result: BenchResult, top: int = 10) -> list[str]:
    """Each freshness cycle split into its phases (median, p95), the machine's load beside them,
    and the slowest dbt nodes of the watch cycles."""
    from tenant_warehouse.cycle_build import periodic_interval

    phases = result.watch_phases
    if not phases:
        return []
    loads = [p["load_1min"] for p in phases if p.get("load_1min") is not None]
    tiered = sum(1 for p in phases if p.get("periodic_tier"))
    lines = [
        f"{tiered} of {len(phases)} watch cycles built the periodic tier (due every "
        f"{periodic_interval().total_seconds() / 60:g} min; the others built the fresh tier "
        "only).", "",
        f"Machine load during the freshness run ({os.cpu_count()} cores): 1-minute load average "
        f"min {_num(min(loads) if loads else None)}, median {_num(_median(loads))}, max "
        f"{_num(max(loads) if loads else None)} (sampled at the end of each cycle).", "",
        "| watch cycle phase | median s | p95 s | max s |", "|---|---:|---:|---:|",
    ]
    for key, label in WATCH_PHASE_LABELS.items():
        values = [p[key] for p in phases if p.get(key) is not None]
        lines.append(f"| {label} | {_num(_median(values))} | {_num(percentile(values, 0.95))} | "
                     f"{_num(max(values) if values else None)} |")
    times: dict[str, list[float]] = {}
    for row in result.node_seconds:
        if row["kind"] == "watch":
            times.setdefault(row["node"], []).append(row["seconds"])
    ranked = sorted(((n, statistics.median(v), len(v)) for n, v in times.items()),
                    key=lambda item: -item[1])[:top]
    if ranked:
        lines += ["", "Slowest dbt nodes of the watch cycles (median over the cycles that built "
                  "them):", "", "| node | median s | cycles |", "|---|---:|---:|"]
        lines += [f"| {node} | {seconds:.2f} | {count} |" for node, seconds, count in ranked]
    return [*lines, ""]


def slowest_nodes(
    result: BenchResult, top: int = 15, kind: str = "incremental"
) -> tuple[float, float, list[tuple]]:
    """The dbt nodes that cost most in the 1% cycle (`kind` incremental: the minute cycle;
    periodic: the periodic tier's catch-up after it) at the largest size (median over repeats),
    beside their time in the full refresh: where a cycle is not yet proportional to its delta."""
    rows = result.node_seconds
    if not rows:
        return 0.0, 0.0, []
    size = max(r["scale"] for r in rows)
    deltas = {r["delta"] for r in rows if r["scale"] == size and r["kind"] == "incremental"}
    if not deltas:
        return size, 0.0, []
    delta = min(deltas, key=lambda d: abs(math.log(d / 0.01)))

    def medians(kind: str, want: float | None) -> dict[str, float]:
        times: dict[str, list[float]] = {}
        for r in rows:
            if r["scale"] == size and r["kind"] == kind and r["delta"] == want:
                times.setdefault(r["node"], []).append(r["seconds"])
        return {node: statistics.median(v) for node, v in times.items()}

    cycle, full = medians(kind, delta), medians("full", None)
    ranked = sorted(cycle.items(), key=lambda item: -item[1])[:top]
    return size, delta, [(node, seconds, full.get(node)) for node, seconds in ranked]


def node_lines(result: BenchResult) -> list[str]:
    lines: list[str] = []
    for kind, title in (("incremental", ""),
                        ("periodic", "periodic tier's catch-up after the ")):
        size, delta, ranked = slowest_nodes(result, kind=kind)
        if not ranked:
            continue
        count = len({r["node"] for r in result.node_seconds if r["scale"] == size
                     and r["kind"] == kind and r["delta"] == delta})
        lines += [f"## Slowest dbt nodes: {title}{delta:.3%} cycle at SF{_fmt_scale(size)} "
                  f"(medians; {count} nodes built)", "",
                  "| node | cycle s | full refresh s |", "|---|---:|---:|"]
        lines += [f"| {node} | {seconds:.2f} | {_num(full)} |" for node, seconds, full in ranked]
        lines.append("")
    return lines


def extraction_lines(result: BenchResult) -> list[str]:
    if not result.extraction:
        return []
    out = ["## Extraction, readers alone in this process (full read of every instance; dlt: "
           "first rows of one instance; nothing written: not the end-to-end figure)", "",
           "| table | rows | MB (CSV) | COPY rows/s | ours rows/s | ours MB/s | ours/COPY | "
           "dlt sqlalchemy rows/s | ours/dlt sqlalchemy | dlt pyarrow rows/s | ours/dlt pyarrow |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by = {(r.table, r.method): r for r in result.extraction}
    for table in dict.fromkeys(r.table for r in result.extraction):
        copy, ours = by[(table, "copy")], by[(table, "tenant_warehouse")]
        sa, pa_ = by.get((table, "dlt_sqlalchemy")), by.get((table, "dlt_pyarrow"))
        out.append(
            f"| {table} | {copy.rows:,} | {copy.csv_mb:,.1f} | {copy.rows_per_second:,.0f} | "
            f"{ours.rows_per_second:,.0f} | {ours.mb_per_second:,.1f} | "
            f"{_ratio(ours.rows_per_second, copy.rows_per_second, pct=True)} | "
            f"{sa.rows_per_second if sa else 0:,.0f} | "
            f"{_ratio(ours.rows_per_second, sa.rows_per_second if sa else 0)} | "
            f"{pa_.rows_per_second if pa_ else 0:,.0f} | "
            f"{_ratio(ours.rows_per_second, pa_.rows_per_second if pa_ else 0)} |"
        )
    return out


def cycle_lines(result: BenchResult) -> list[str]:
    medians = cycle_medians(result)
    if not medians:
        return []
    out = ["## Cycles (ingest + dbt build; medians)", "",
           "| size | kind | delta | rows touched | rows loaded | ingest s | dbt s | cycle s | "
           "share of full | ingest peak RSS MiB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in medians:
        delta = "-" if m["delta"] is None else f"{m['delta']:.3%}"
        share = "-" if m["share_of_full"] is None else f"{m['share_of_full']:.1%}"
        flag = "" if m["all_ok"] else " (failures)"
        out.append(
            f"| SF{_fmt_scale(m['scale'])} | {m['kind']}{flag} | {delta} | {m['rows_touched']:,} | "
            f"{m['rows_loaded']:,} | {m['ingest_seconds']:.1f} | {m['dbt_seconds']:.1f} | "
            f"{m['cycle_seconds']:.1f} | {share} | {m['peak_rss_mb']:.0f} |"
        )
    return out


def print_result(result: BenchResult, console: Any = None) -> None:
    text = render_markdown(result)
    if console is None:
        print(text)
        return
    from rich.markdown import Markdown

    console.print(Markdown(text))
    console.print(f"results written to [bold]{result.results_dir}[/bold]")


def machine_description() -> dict[str, str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / (1 << 20):.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    with suppress(OSError):
        load = "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    summary = (f"{os.cpu_count()} cores ({cpu}), {memory}, {platform.system()} "
               f"{platform.release()}, Python {platform.python_version()}; at start: {load}")
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "summary": summary}


def command_line(cfg: BenchConfig) -> str:
    parts = ["warehouse bench", f"--scale {_fmt_scale(cfg.scale)}"]
    if cfg.small_scale is not None:
        parts.append(f"--small-scale {_fmt_scale(cfg.small_scale)}")
    if cfg.repeats != 3:
        parts.append(f"--repeats {cfg.repeats}")
    if cfg.cycle_repeats is not None:
        parts.append(f"--cycle-repeats {cfg.cycle_repeats}")
    if cfg.select:
        parts.append("--select " + " ".join(cfg.select))
    if cfg.warehouse != "duckdb":
        parts.append(f"--warehouse {cfg.warehouse}")
    if cfg.generator != "amplify":
        parts.append(f"--generator {cfg.generator}")
    if tuple(cfg.deltas) != DEFAULT_DELTAS:
        parts.append("--deltas " + ",".join(f"{d:g}" for d in cfg.deltas))
    if cfg.freshness_commits != 20:
        parts.append(f"--freshness-commits {cfg.freshness_commits}")
    if tuple(cfg.parts) != PARTS:
        parts.append("--parts " + ",".join(cfg.parts))
    if cfg.peers:
        parts.append("--peers " + ",".join(cfg.peers))
    return " ".join(parts)


def _sum_counts(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for per_table in counts.values():
        for table, n in per_table.items():
            total[table] = total.get(table, 0) + n
    return total


def _fmt_scale(value: float) -> str:
    return f"{value:g}"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def _ratio(a: float, b: float, pct: bool = False) -> str:
    if not b:
        return "-"
    return f"{a / b:.0%}" if pct else f"{a / b:.1f}x"


# --- command line ------------------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    """The `warehouse bench` options (tenant_warehouse/cli.py adds the subcommand)."""
    parser.add_argument("--scale", type=float, default=1.0,
                        help="largest size (1.0 is about 1M messages; SF10 about 10M)")
    parser.add_argument("--small-scale", type=float, default=None,
                        help="the other size for incremental cycles (default: 1 when --scale > 2, "
                             "else scale/2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (median)")
    parser.add_argument("--cycle-repeats", type=int, default=None,
                        help="runs of each pipeline cycle (default: --repeats); cycles are the "
                             "slow part")
    parser.add_argument("--select", nargs="+", default=None,
                        help="dbt selection for every cycle (default: the whole project)")
    parser.add_argument("--deltas", default=",".join(f"{d:g}" for d in DEFAULT_DELTAS),
                        help="fractions of rows touched before incremental cycles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--warehouse", choices=("duckdb", "postgres"),
                        default=os.environ.get("TW_WAREHOUSE", "duckdb"))
    parser.add_argument("--instances", default=None,
                        help="comma-separated (default: every database instance of the config)")
    parser.add_argument("--generator", choices=("amplify", "full"), default="amplify",
                        help="amplify: generate the small size, grow it by copies (fast); "
                             "full: the real generator at every size")
    parser.add_argument("--results", type=Path, default=None,
                        help="results folder (default: benchmarks/results in the checkout)")
    parser.add_argument("--dlt-sample-rows", type=int, default=200_000,
                        help="rows read per table with dlt's backends (their rate is flat)")
    parser.add_argument("--freshness-commits", type=int, default=20)
    parser.add_argument("--watch-interval", type=float, default=5.0)
    parser.add_argument("--commit-every", type=float, default=3.0,
                        help="mean seconds between freshness commits")
    parser.add_argument("--parts", default=",".join(PARTS), type=parse_parts,
                        help="what to measure, comma-separated (default: all of "
                        f"{', '.join(PARTS)}); memory comes with the cycles")
    parser.add_argument("--peers", default=None, type=parse_peers,
                        help="the loads part's peers, comma-separated (default: all of "
                        "copy, tenant_warehouse, connectorx_duckdb, dlt_connectorx, dlt_pyarrow, "
                        "ingestr)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the source databases and the warehouse after the run")
    parser.add_argument("--source-prefix", default="twbench", type=_identifier,
                        help="name prefix of the source databases (<prefix>_<instance>): two "
                        "benchmarks on one server need different ones (default: twbench)")


def _configured_instances() -> tuple[str, ...]:
    from ingestion.config import load_config

    return load_config().instances_of_kind("database")


def config_from_args(args: Any) -> BenchConfig:
    return BenchConfig(
        scale=args.scale, small_scale=args.small_scale, repeats=max(1, args.repeats),
        cycle_repeats=None if args.cycle_repeats is None else max(1, args.cycle_repeats),
        select=tuple(args.select or ()),
        deltas=tuple(float(d) for d in str(args.deltas).split(",") if d.strip()),
        seed=args.seed, warehouse=args.warehouse,
        instances=(tuple(i.strip() for i in args.instances.split(",") if i.strip())
                   if args.instances else _configured_instances()),
        results_dir=args.results, generator=args.generator,
        dlt_sample_rows=args.dlt_sample_rows, freshness_commits=args.freshness_commits,
        watch_interval=args.watch_interval, commit_every=args.commit_every, keep=args.keep,
        parts=tuple(args.parts), peers=tuple(args.peers or ()),
        source_prefix=args.source_prefix,
    )


def _identifier(value: str) -> str:
    if not value.replace("_", "").isalnum() or not value[:1].isalpha() or value.lower() != value:
        raise argparse.ArgumentTypeError(
            f"--source-prefix must be lower-case letters, digits and _, starting with a letter, "
            f"not {value!r}")
    return value


def parse_peers(value: str) -> tuple[str, ...]:
    from tenant_warehouse.bench_peers import PEERS

    peers = tuple(p.strip() for p in str(value).split(",") if p.strip())
    unknown = [p for p in peers if p not in PEERS]
    if unknown or not peers:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a comma-separated subset of {', '.join(PEERS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    return peers


def parse_parts(value: str) -> tuple[str, ...]:
    """`--parts` as given, each checked: a misspelt part would otherwise measure nothing."""
    parts = tuple(p.strip() for p in str(value).split(",") if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a comma-separated subset of {', '.join(PARTS)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return parts


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child-ingest"]:
        from tenant_warehouse.bench_measure import child_ingest_main

        return child_ingest_main(argv[1] if len(argv) > 1 else "duckdb")
    parser = argparse.ArgumentParser(prog="python -m tenant_warehouse.bench")
    add_arguments(parser)
    result = run_bench(config_from_args(parser.parse_args(argv)))
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
