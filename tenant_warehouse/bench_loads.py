"""`warehouse bench --parts loads`: end-to-end loads of the largest table, side by side.

Each repeat: every peer's full load into a fresh DuckDB file; then 1% of the table's rows are
touched in the source; then every peer's incremental load into its file. A run is correct when
its output matches the source (bench_peers.fingerprint); COPY is checked by its row count.
rows/s = source rows (full) or changed rows (incremental) / seconds from spawn to exit. The
reader-only figure (tenant_warehouse's reader in this process, nothing written) is kept beside
it, labelled, as the ceiling of what the loader's write side may cost.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenant_warehouse.bench_peers import LABELS, PEERS

LOAD_TABLE = "messages"
INCREMENTAL_FRACTION = 0.01


@dataclass
class LoadRow:
    peer: str
    kind: str  # full | incremental
    repeat: int
    rows: int  # rows the source holds (full) or changed since the full load (incremental)
    seconds: float  # spawn to exit
    rows_per_second: float
    peak_rss_mb: float
    ok: bool
    detail: str = ""


def run_loads(
    sources: Any, env: dict[str, str], work: Path, tools_dir: Path, repeats: int, seed: int,
    peers_wanted: tuple[str, ...], log: Callable[[str], None], salt: str,
) -> tuple[list[LoadRow], dict[str, str], str]:
    """Returns the runs, the peers that could not run (why), and the instance measured."""
    from ingestion.config import load_config
    from tenant_warehouse.bench_measure import tw_probe
    from tenant_warehouse.bench_peers import (
        LoadTarget,
        compare,
        copy_rows,
        duckdb_fingerprint,
        make_peers,
        source_changed_rows,
        source_fingerprint,
        source_newest,
        spawn,
    )
    from tenant_warehouse.bench_source import table_counts, touch

    table = load_config().tables[LOAD_TABLE]
    counts = table_counts(sources)
    instance = max(sources.instances, key=lambda i: counts[i][LOAD_TABLE])
    target = LoadTarget(sources, instance, table, env)
    all_peers, missing = make_peers(target, peers_wanted, tools_dir, log)
    for name, why in missing.items():
        log(f"  {name}: not run ({why})")
    rows: list[LoadRow] = []

    def record(peer: Any, kind: str, repeat: int, folder: Path, expected: tuple[int, ...],
               changed: int, since: Any) -> None:
        run = spawn(peer.build(folder, kind, since), {**_peer_env(env, folder), **(peer.env or {})},
                    folder / f"{kind}.log")
        n = expected[0] if kind == "full" else changed
        detail = ""
        if run.returncode != 0:
            detail = f"exit {run.returncode}: " + " ".join(run.output_tail.split())[-400:]
        elif not peer.writes:
            got = copy_rows(run.output_tail)
            detail = "" if got == n else f"COPY returned {got} rows, the source has {n:,}"
        else:
            try:
                detail = compare(table, expected,
                                 duckdb_fingerprint(folder / "warehouse.duckdb", table))
            except Exception as exc:  # a peer that loaded nothing where it should have
                detail = f"output not readable: {type(exc).__name__}: {exc}"[:400]
        row = LoadRow(peer.name, kind, repeat, n, round(run.seconds, 3),
                      round(n / run.seconds, 1) if run.seconds else 0.0,
                      round(run.peak_rss_bytes / (1 << 20), 1), not detail, detail)
        rows.append(row)
        log(f"  {kind} {repeat + 1}/{repeats} {peer.name}: {run.seconds:.2f} s, {n:,} rows, "
            f"{row.rows_per_second:,.0f} rows/s, RSS {row.peak_rss_mb:.0f} MiB, "
            + ("correct" if row.ok else f"WRONG ({detail})"))

    for repeat in range(repeats):
        # Each repeat starts with the next peer, so no peer always runs first (or last).
        shift = repeat % len(all_peers) if all_peers else 0
        peers = all_peers[shift:] + all_peers[:shift]
        folders = {p.name: work / "loads" / f"{p.name}-{repeat}" for p in peers}
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        expected = source_fingerprint(sources, instance, table)
        for peer in peers:
            record(peer, "full", repeat, folders[peer.name], expected, 0, None)
        since = source_newest(sources, instance, table)
        touch(sources, INCREMENTAL_FRACTION, seed=seed * 7000 + repeat, tables=(LOAD_TABLE,),
              instances=(instance,))
        changed = source_changed_rows(sources, instance, table, since)
        expected = source_fingerprint(sources, instance, table)
        for peer in peers:
            record(peer, "incremental", repeat, folders[peer.name], expected, changed, since)
        if peers:
            shutil.rmtree(work / "loads", ignore_errors=True)
    for repeat in range(repeats):
        n, seconds = tw_probe(sources, instance, table, salt)
        rows.append(LoadRow("reader_only", "full", repeat, n, round(seconds, 3),
                            round(n / seconds, 1) if seconds else 0.0, 0.0, True,
                            "in-process; no process start, nothing written"))
    return rows, missing, instance


def _peer_env(env: dict[str, str], folder: Path) -> dict[str, str]:
    """A home, dlt folder and DuckDB file of the peer's own (tenant_warehouse reads these)."""
    return {**env, "TW_HOME": str(folder / "home"), "DLT_DATA_DIR": str(folder / "dlt"),
            "TW_DUCKDB_PATH": str(folder / "warehouse.duckdb")}


def load_medians(rows: list[LoadRow]) -> list[dict[str, Any]]:
    """One row per peer: medians of its full and incremental loads, and their share of COPY's
    rows/s (COPY's own medians)."""
    def median_of(peer: str, kind: str, attr: str) -> float | None:
        values = [getattr(r, attr) for r in rows if r.peer == peer and r.kind == kind]
        return statistics.median(values) if values else None

    copy_full = median_of("copy", "full", "rows_per_second")
    copy_incr = median_of("copy", "incremental", "rows_per_second")
    out = []
    for peer in [p for p in (*PEERS, "reader_only") if any(r.peer == p for r in rows)]:
        full_rps = median_of(peer, "full", "rows_per_second")
        incr_rps = median_of(peer, "incremental", "rows_per_second")
        mine = [r for r in rows if r.peer == peer]
        out.append({
            "peer": peer, "label": LABELS[peer],
            "full_rows": int(median_of(peer, "full", "rows") or 0),
            "full_seconds": median_of(peer, "full", "seconds"),
            "full_rows_per_second": full_rps,
            "full_share_of_copy": round(full_rps / copy_full, 4) if full_rps and copy_full else None,
            "incremental_rows": int(median_of(peer, "incremental", "rows") or 0),
            "incremental_seconds": median_of(peer, "incremental", "seconds"),
            "incremental_rows_per_second": incr_rps,
            "incremental_share_of_copy": (round(incr_rps / copy_incr, 4)
                                          if incr_rps and copy_incr else None),
            "peak_rss_mb": max(r.peak_rss_mb for r in mine),
            "runs": len(mine), "all_correct": all(r.ok for r in mine),
            "errors": "; ".join(dict.fromkeys(r.detail for r in mine if not r.ok))[:600],
        })
    return out


def load_lines(rows: list[LoadRow], missing: dict[str, str], instance: str, scale: str) -> list[str]:
    if not rows and not missing:
        return []

    def num(value: float | None, digits: str = ",.0f") -> str:
        return "-" if value is None else format(value, digits)

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    medians = load_medians(rows)
    full_rows = next((m["full_rows"] for m in medians if m["peer"] == "copy"), None)
    incr_rows = next((m["incremental_rows"] for m in medians if m["incremental_rows"]), None)
    out = [
        f"## End-to-end loads: `{LOAD_TABLE}` of instance {instance} at SF{scale} "
        f"(process start to rows committed in a fresh DuckDB file; medians)", "",
        f"Full load: {num(full_rows)} rows; incremental: {num(incr_rows)} rows changed after "
        f"{INCREMENTAL_FRACTION:.0%} of the table was touched. Correct = row count, distinct keys "
        "and a checksum of every column equal to the source's (COPY: its row count).", "",
        "| peer | full s | full rows/s | % of COPY | 1% incremental s | incr. rows/s | "
        "% of COPY | peak RSS MiB | correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in medians:
        correct = "yes" if m["all_correct"] else f"**no**: {m['errors'][:200]}"
        if m["peer"] == "reader_only":
            correct = "n/a (nothing written)"
        out.append(
            f"| {m['label']} | {num(m['full_seconds'], '.2f')} | {num(m['full_rows_per_second'])} "
            f"| {pct(m['full_share_of_copy'])} | {num(m['incremental_seconds'], '.2f')} | "
            f"{num(m['incremental_rows_per_second'])} | {pct(m['incremental_share_of_copy'])} | "
            f"{num(m['peak_rss_mb'] or None)} | {correct} |"
        )
    for name, why in missing.items():
        out.append(f"| {LABELS.get(name, name)} | not run: {why} | | | | | | | |")
    return [*out, ""]
