"""The benchmark's measurements: extraction probes, ingestion in a child process, pipeline
cycles and the freshness watch loop. Timings only; tenant_warehouse/bench.py orchestrates."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenant_warehouse.bench_source import SourceSet, commit_probe, touch
from tenant_warehouse.dbt_runner import run_dbt, warm_dbt
from tenant_warehouse.settings import Settings

# --- extraction probes (each returns rows, seconds, bytes) -------------------------------------


class _CountingSink:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def copy_probe(sources: SourceSet, instance: str, table: Any) -> tuple[int, float, int]:
    """`COPY (SELECT <the same columns>) TO STDOUT (FORMAT csv)` into a sink that only counts:
    the practical limit of reading the table from this server."""
    columns = ", ".join(f'"{c.name}"' for c in table.source_columns)
    conn = sources.connect(instance)
    try:
        sink = _CountingSink()
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.copy_expert(f'COPY (SELECT {columns} FROM "{table.name}") TO STDOUT (FORMAT csv)', sink)
            seconds = time.perf_counter() - started
            rows = cur.rowcount
    finally:
        conn.close()
    return int(rows), seconds, sink.bytes


def tw_probe(sources: SourceSet, instance: str, table: Any, salt: str) -> tuple[int, float]:
    """tenant_warehouse's extraction path for a full read: the source reader's batches turned
    into raw rows (personal data hashed, ingestion columns), as a dlt resource yields them."""
    from ingestion.readers import open_reader
    from ingestion.shape import to_raw

    rows = 0
    extracted_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with open_reader(instance, sources.url(instance)) as reader:
        reader.check_table(table)
        for batch in reader.read_changes(table, None):
            rows += to_raw(batch, table, instance, salt, extracted_at).num_rows
    return rows, time.perf_counter() - started


def dlt_probe(
    sources: SourceSet, instance: str, table: Any, backend: str, max_rows: int, chunk_size: int
) -> tuple[int, float]:
    """dlt's sql_database `sql_table` resource with `backend`, iterated outside a pipeline, up
    to about max_rows rows (whole chunks): its extraction cost, like tw_probe's."""
    from dlt.sources.sql_database import sql_table

    chunks = max(1, -(-max_rows // chunk_size))
    resource = sql_table(
        credentials=sources.url(instance), table=table.name, backend=backend,
        chunk_size=chunk_size, included_columns=[c.name for c in table.source_columns],
    ).add_limit(chunks)
    rows = 0
    started = time.perf_counter()
    for item in resource:
        if isinstance(item, list):
            rows += len(item)
        elif hasattr(item, "num_rows"):
            rows += item.num_rows
        else:
            rows += 1
    return rows, time.perf_counter() - started


# --- ingestion in a child process (for its peak RSS) -------------------------------------------


@dataclass
class IngestResult:
    ok: bool
    seconds: float  # run_ingestion inside the child (imports excluded)
    wall_seconds: float  # the child process, start to exit
    rows_extracted: int
    rows_loaded: int
    peak_rss_bytes: int
    error: str = ""


def ingest_child(env: dict[str, str], warehouse: str) -> IngestResult:
    """Run one ingestion in a child process; peak RSS from wait4 (the child's own high-water
    mark), cross-checked with the VmHWM the child reports."""
    command = [sys.executable, "-m", "tenant_warehouse.bench", "--child-ingest", warehouse]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    # communicate() has reaped the child; its rusage is in RUSAGE_CHILDREN only as a maximum over
    # all children, so the child reports its own VmHWM (Linux), with ru_maxrss as the fallback.
    payload: dict[str, Any] = {}
    for line in out.decode("utf-8", "replace").splitlines()[::-1]:
        if line.startswith("{"):
            try:
                payload = json.loads(line)
                break
            except ValueError:
                continue
    if process.returncode != 0 or not payload:
        tail = (err.decode("utf-8", "replace") or out.decode("utf-8", "replace"))[-1500:]
        return IngestResult(False, wall, wall, 0, 0, 0, f"exit {process.returncode}: {tail}")
    return IngestResult(
        bool(payload["ok"]), float(payload["seconds"]), wall, int(payload["rows_extracted"]),
        int(payload["rows_loaded"]), int(payload["peak_rss_bytes"]),
        "; ".join(payload.get("failures", []))[:500],
    )


def child_ingest_main(warehouse: str) -> int:
    """Entry of the child: one run_ingestion, then a JSON line with its numbers."""
    import resource

    from ingestion.pipeline import run_ingestion

    settings = Settings.from_env()
    started = time.perf_counter()
    report = run_ingestion(settings, destination=warehouse)
    seconds = time.perf_counter() - started
    peak = _vm_hwm_bytes() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "ok": report.ok, "seconds": seconds, "rows_extracted": report.rows_extracted,
        "rows_loaded": report.rows_loaded, "peak_rss_bytes": peak,
        "failures": report.failures[:5],
    }))
    return 0


def _reset_hwm() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0: `5` to clear_refs), so the
    next read is the peak of what runs in between; False where it cannot be reset."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _vm_hwm_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# --- one pipeline cycle ------------------------------------------------------------------------


@dataclass
class CycleResult:
    ingest: IngestResult
    dbt_seconds: float
    dbt_ok: bool
    dbt_output_tail: str = ""
    node_seconds: dict[str, float] = field(default_factory=dict)
    """execution time of every dbt node of the cycle's build (run_results.json)"""

    @property
    def seconds(self) -> float:
        return self.ingest.seconds + self.dbt_seconds

    @property
    def ok(self) -> bool:
        return self.ingest.ok and self.dbt_ok


def cycle(
    settings: Settings, env: dict[str, str], warehouse: str, dbt_args: list[str] | None = None
) -> CycleResult:
    """Ingestion (child process), then `dbt_args`, or, when None, the build `warehouse run`
    makes (cycle_build.py: what the changed raw tables feed; its probe of raw is timed too)."""
    ingested = ingest_child(env, warehouse)
    results = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    results.unlink(missing_ok=True)
    started = time.perf_counter()
    ok, tail = build_like_a_cycle(settings, env, warehouse, dbt_args)
    return CycleResult(ingested, time.perf_counter() - started, ok, tail, node_times(results))


def warm_cycle(
    settings: Settings, env: dict[str, str], warehouse: str,
    phases: dict[str, float] | None = None, dbt_args: list[str] | None = None,
) -> CycleResult:
    """A cycle as the warm watch loop runs it (call inside dbt_runner.warm_dbt()): ingestion in
    this process (imports paid before), then the cycle's build plan and, if anything changed, its
    dbt build in this process with the parsed project kept: what a watch cycle costs (the
    benchmark's incremental, periodic and no-change cycles). `dbt_args` replaces the planned
    build (the benchmark's --select). Peak RSS: this whole process's during the ingestion (its
    VmHWM reset right before), dbt's parsed project and the benchmark's own memory included."""
    from ingestion.pipeline import run_ingestion

    os.environ.update(env)
    reset = _reset_hwm()
    started = time.perf_counter()
    report = run_ingestion(settings, destination=warehouse)
    seconds = time.perf_counter() - started
    peak = (_vm_hwm_bytes() or 0) if reset else 0
    if phases is not None:
        phases["ingest"] = seconds
        phases["dlt_skipped"] = float(report.unchanged)
    ingested = IngestResult(report.ok, seconds, seconds, report.rows_extracted,
                            report.rows_loaded, peak, "; ".join(report.failures[:5])[:500])
    results = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    results.unlink(missing_ok=True)
    built = time.perf_counter()
    ok, tail = build_like_a_cycle(settings, env, warehouse, dbt_args, phases)
    return CycleResult(ingested, time.perf_counter() - built, ok, tail, node_times(results))


def node_times(run_results: Path) -> dict[str, float]:
    """Seconds per dbt node (`model.tenant_warehouse.fct_orders` -> `model fct_orders`)."""
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    times = {}
    for node in results:
        kind, _, *rest = node["unique_id"].split(".")
        times[f"{kind} {rest[0] if rest else ''}"] = round(float(node["execution_time"]), 3)
    return times


def build_like_a_cycle(
    settings: Settings, env: dict[str, str], warehouse: str, dbt_args: list[str] | None = None,
    phases: dict[str, float] | None = None,
) -> tuple[bool, str]:
    """The cycle's build; `phases` (when given) gets the seconds of change detection (the
    plan), dbt's start-up and teardown, and dbt's node time (first node start to last node end,
    from run_results.json)."""
    from ingestion.config import load_config
    from tenant_warehouse.cycle_build import plan_build, record_build

    started = time.perf_counter()
    plan = plan_build(settings, warehouse, load_config().tables, full=dbt_args is not None)
    planned = time.perf_counter()
    if phases is not None:
        phases.update(change_detection=planned - started, dbt_startup=0.0, dbt_nodes=0.0,
                      periodic_tier=float(not plan.skip and plan.periodic))
    if dbt_args is None and plan.skip:
        return True, ""
    results = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    results.unlink(missing_ok=True)
    result = run_dbt(settings, dbt_args or plan.args or ["build"], target=warehouse, extra_env=env)
    if phases is not None:
        wall = time.perf_counter() - planned
        span = node_span(results)
        phases.update(dbt_startup=max(0.0, wall - span), dbt_nodes=span)
    record_build(settings, plan, result.ok)
    return result.ok, "" if result.ok else result.output[-3000:]


def node_span(run_results: Path) -> float:
    """Seconds from the first dbt node's start to the last one's end (0 when none ran)."""
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return 0.0
    starts, ends = [], []
    for node in results:
        for step in node.get("timing") or []:
            if step.get("started_at") and step.get("completed_at"):
                starts.append(dt.datetime.fromisoformat(step["started_at"].replace("Z", "+00:00")))
                ends.append(dt.datetime.fromisoformat(step["completed_at"].replace("Z", "+00:00")))
    return (max(ends) - min(starts)).total_seconds() if starts else 0.0


def load_average() -> tuple[float, float, float]:
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
        return float(one), float(five), float(fifteen)
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)


# --- freshness: a watch loop, and commits in the source while it runs -------------------------


@dataclass
class Probe:
    instance: str
    message_id: int
    committed: float  # time.monotonic() after the commit returned
    visible: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.visible is None else self.visible - self.committed


WARM_UP_FRACTION = 0.0001
WATCH_PHASES = ("cycle", "ingest", "change_detection", "dbt_startup", "dbt_nodes", "periodic_tier",
                "alerts")


@dataclass
class WatchStats:
    cycles: int = 0
    cycle_seconds: list[float] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    """per cycle: seconds of ingest, change detection, dbt start-up, dbt nodes, alerts; the
    1-minute load average at its end"""
    node_seconds: list[dict[str, float]] = field(default_factory=list)  # per cycle, per node
    failures: list[str] = field(default_factory=list)
    warmup_seconds: float | None = None


def freshness(
    settings: Settings,
    env: dict[str, str],
    sources: SourceSet,
    warehouse: str,
    commits: int,
    interval: float,
    commit_every: float,
    timeout: float,
    log: Callable[[str], None] = print,
    select: list[str] | None = None,
) -> tuple[list[Probe], WatchStats]:
    """Run the watch loop (ingest, then the build `warehouse run` makes: what the raw tables
    that changed feed; every `interval` s) while another thread commits `commits` messages at random
    spacing around `commit_every` s; a probe is visible when the cycle whose dbt build made it
    queryable in marts.fct_messages has finished."""
    from ingestion.pipeline import run_ingestion

    os.environ.update(env)
    probes: list[Probe] = []
    lock = threading.Lock()
    stats = WatchStats()
    done_committing = threading.Event()
    rng = random.Random(7)

    def committer() -> None:
        try:
            for _ in range(commits):
                time.sleep(commit_every * rng.uniform(0.5, 1.5))
                instance = rng.choice(sources.instances)
                message_id = commit_probe(sources, instance)
                with lock:
                    probes.append(Probe(instance, message_id, time.monotonic()))
        finally:
            done_committing.set()

    thread = threading.Thread(target=committer, name="bench-committer", daemon=True)
    # Warm-up, before the first commit: watch mode runs steadily on a live platform, which is
    # what this measures. Each table's re-read window starts `lag` before the newest row loaded
    # from it, so it moves past earlier activity only once a newer row is loaded: a little
    # activity in every table (0.01% of rows) before each warm-up cycle. From an empty
    # warehouse (`--parts freshness` alone) two cycles: the first incremental cycle after the
    # full build also pays DuckDB's rewrite of the row groups its first scattered updates
    # touch, once (~+45 s at SF10).
    from tenant_warehouse.cycle_build import STATE_FILE

    warm_up_cycles = 1 if (settings.home / STATE_FILE).exists() else 2
    # As `warehouse run --watch`: dbt in this process, the project parsed once (warm_dbt).
    with warm_dbt():
        started = time.monotonic()
        for number in range(1, warm_up_cycles + 1):
            cycle_started = time.monotonic()
            touch(sources, WARM_UP_FRACTION, seed=rng.randrange(1 << 30))
            run_ingestion(settings, destination=warehouse)
            build_like_a_cycle(
                settings, env, warehouse, ["build", "--select", *select] if select else None
            )
            log(f"  warm-up cycle {number}: {time.monotonic() - cycle_started:.1f} s")
        stats.warmup_seconds = time.monotonic() - started
        deadline = time.monotonic() + timeout
        thread.start()
        from tenant_warehouse.operations import send_alerts

        run_results = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
        while time.monotonic() < deadline:
            started = time.monotonic()
            phases: dict[str, Any] = dict.fromkeys(WATCH_PHASES)
            phases["cycle"] = stats.cycles + 1
            try:
                run_ingestion(settings, destination=warehouse)
                phases["ingest"] = time.monotonic() - started
                built, tail = build_like_a_cycle(
                    settings, env, warehouse, ["build", "--select", *select] if select else None,
                    phases=phases,
                )
                if phases.get("dbt_nodes"):
                    stats.node_seconds.append(node_times(run_results))
                if not built:
                    stats.failures.append(tail[-1500:])
                alerts_started = time.monotonic()
                send_alerts(settings, warehouse, [])  # as `warehouse run --watch` ends its cycle
                phases["alerts"] = time.monotonic() - alerts_started
                finished = time.monotonic()
                _mark_visible(settings, warehouse, probes, lock, finished)
            except Exception as exc:  # the loop survives a failed cycle, as `warehouse run --watch`
                stats.failures.append(f"{type(exc).__name__}: {exc}")
            stats.cycles += 1
            stats.cycle_seconds.append(time.monotonic() - started)
            phases["cycle_seconds"] = stats.cycle_seconds[-1]
            phases["load_1min"] = load_average()[0]
            stats.phases.append({k: round(v, 3) if isinstance(v, float) else v
                                 for k, v in phases.items()})
            with lock:
                waiting = [p for p in probes if p.visible is None]
            if done_committing.is_set() and not waiting:
                break
            log(f"  watch cycle {stats.cycles}: {stats.cycle_seconds[-1]:.1f} s, "
                f"{len(probes)} committed, {len(waiting)} not visible yet")
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    thread.join(timeout=5)
    return probes, stats


def _mark_visible(
    settings: Settings, warehouse: str, probes: list[Probe], lock: threading.Lock, at: float
) -> None:
    from tenant_warehouse.warehouse_sql import connect, query

    with lock:
        waiting = [p for p in probes if p.visible is None and p.committed <= at]
    if not waiting:
        return
    ids = ", ".join(str(p.message_id) for p in waiting)
    with connect(settings, warehouse) as connection:
        rows = query(
            connection,
            f"select instance_id, message_id from marts.fct_messages where message_id in ({ids})",
        )
    seen = {(str(i), int(m)) for i, m in rows}
    with lock:
        for probe in waiting:
            if (probe.instance, probe.message_id) in seen:
                probe.visible = at
