"""The benchmark's `loads` part: one table loaded end to end by tenant_warehouse and its peers,
side by side, each a separate process timed from spawn to exit, each output checked.

Peers (each a command line, run the same way):
- `copy`: `psql -c "\\copy (SELECT <columns>) TO '/dev/null'"`, COPY TO STDOUT: the limit of
  reading the table from this server (nothing is written);
- `tenant_warehouse`: `warehouse ingest --tables <t> --instances <i>`;
- `dlt_connectorx`, `dlt_pyarrow`: dlt's `sql_table` (bench_peer_dlt.py), incremental on
  `updated_at`, merged on the primary key;
- `connectorx_duckdb`: the minimal connectorx -> DuckDB script (bench_peer_connectorx.py);
- `ingestr`: ingestr 0.14.155 (dlt-based), installed on demand in a venv of its own, telemetry
  off (it hangs offline at exit otherwise).
Every peer writing a warehouse loads a fresh DuckDB file for the full load, then the same file
again after 1% of the table's rows were touched (the incremental). Its output is checked
against the source: row count, distinct keys, and a checksum of the values (`fingerprint`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INGESTR_VERSION = "0.14.155"
PEERS = ("copy", "tenant_warehouse", "connectorx_duckdb", "dlt_connectorx", "dlt_pyarrow",
         "ingestr")
LABELS = {
    "copy": "COPY TO STDOUT (psql, the limit)",
    "tenant_warehouse": "tenant_warehouse (`warehouse ingest`)",
    "connectorx_duckdb": "minimal connectorx -> DuckDB script",
    "dlt_connectorx": "dlt sql_table, connectorx backend",
    "dlt_pyarrow": "dlt sql_table, pyarrow backend",
    "ingestr": f"ingestr {INGESTR_VERSION} (dlt-based)",
    "reader_only": "tenant_warehouse reader only (in-process, nothing written)",
}
PEER_TIMEOUT = 3600.0
HERE = Path(__file__).resolve().parent


# --- what the source holds, and what a peer loaded ---------------------------------------------


def fingerprint_sql(table: Any, dialect: str, where: str = "") -> str:
    """count(*), distinct keys, and one checksum per column kind, written so PostgreSQL and
    DuckDB compute the same integers: sums of integers, (key mod 997) x length for text,
    epoch microseconds for timestamps. Hashed columns (different by design) count non-nulls."""
    key = f'"{table.primary_key}"'
    parts = ["count(*)", f"count(distinct {key})"]
    for column in table.source_columns:
        name = f'"{column.name}"'
        if column.policy == "hash":
            parts.append(f"count({name})")
        elif column.type in ("bigint", "integer", "int"):
            parts.append(f"coalesce(sum({name}), 0)")
        elif column.type.startswith("timestamp") or column.type == "date":
            us = (f"(extract(epoch from {name}) * 1000000)::bigint" if dialect == "postgres"
                  else f"epoch_us({name})")
            parts.append(f"coalesce(sum({us}), 0)")
        else:
            parts.append(f"coalesce(sum(({key} % 997) * length(cast({name} as text))), 0)")
    return f"select {', '.join(parts)} from {{relation}} {where}"


def fingerprint_names(table: Any) -> list[str]:
    return ["rows", "distinct keys", *(c.name for c in table.source_columns)]


def source_fingerprint(sources: Any, instance: str, table: Any) -> tuple[int, ...]:
    sql = fingerprint_sql(table, "postgres").format(relation=f'"{table.name}"')
    with sources.connect(instance) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    conn.close()
    return tuple(int(v) for v in row)


def source_changed_rows(sources: Any, instance: str, table: Any, since: Any) -> int:
    with sources.connect(instance) as conn, conn.cursor() as cur:
        cur.execute(f'select count(*) from "{table.name}" where "{table.cursor}" > %s', (since,))
        rows = int(cur.fetchone()[0])
    conn.close()
    return rows


def source_newest(sources: Any, instance: str, table: Any) -> Any:
    with sources.connect(instance) as conn, conn.cursor() as cur:
        cur.execute(f'select max("{table.cursor}") from "{table.name}"')
        newest = cur.fetchone()[0]
    conn.close()
    return newest


def duckdb_fingerprint(path: Path, table: Any, schema: str = "raw") -> tuple[int, ...]:
    import duckdb

    sql = fingerprint_sql(table, "duckdb").format(relation=f'"{schema}"."{table.name}"')
    con = duckdb.connect(str(path), read_only=True)
    try:
        return tuple(int(v) for v in con.execute(sql).fetchone())
    finally:
        con.close()


def compare(table: Any, expected: tuple[int, ...], loaded: tuple[int, ...]) -> str:
    """'' when equal, else which parts differ (one line)."""
    names = fingerprint_names(table)
    wrong = [f"{n}: {loaded[i]:,} loaded vs {expected[i]:,} in the source"
             for i, n in enumerate(names) if loaded[i] != expected[i]]
    return "; ".join(wrong)


# --- the peers ---------------------------------------------------------------------------------


@dataclass
class LoadTarget:
    """What every peer loads: one table of one source instance."""

    sources: Any
    instance: str
    table: Any
    env: dict[str, str]  # the bench's environment (TW_SOURCE_URL_TEMPLATE, telemetry off, ...)

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.table.source_columns]

    def url(self, driver: str = "postgresql") -> str:
        return self.sources.server.url(self.sources.database(self.instance), driver=driver)


@dataclass
class Peer:
    name: str
    build: Callable[[Path, str, Any], list[str]]
    """(its folder, 'full' | 'incremental', cursor before the touch) -> command line"""
    writes: bool = True
    env: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return LABELS[self.name]


def make_peers(
    target: LoadTarget, wanted: tuple[str, ...], tools_dir: Path, log: Callable[[str], None]
) -> tuple[list[Peer], dict[str, str]]:
    """The peers that can run here, and why each other one cannot."""
    table, columns = target.table, target.columns
    python = sys.executable
    peers: list[Peer] = []
    missing: dict[str, str] = {}
    for name in wanted:
        if name == "copy":
            psql = shutil.which("psql")
            if not psql:
                missing[name] = "psql is not installed"
                continue
            cols = ", ".join(f'"{c}"' for c in columns)

            def copy_command(_: Path, kind: str, since: Any, psql: str = psql,
                             cols: str = cols) -> list[str]:
                where = f""" where "{table.cursor}" > '{since.isoformat()}'""" if kind == \
                    "incremental" else ""
                return [psql, "-X", "-d", target.url(),
                        "-c", f"\\copy (select {cols} from \"{table.name}\"{where}) to '/dev/null'"
                        " with (format csv)"]

            peers.append(Peer(name, copy_command, writes=False))
        elif name == "tenant_warehouse":
            script = Path(python).with_name("warehouse")
            command = [str(script)] if script.exists() else [python, "-m", "tenant_warehouse.cli"]
            peers.append(Peer(name, lambda folder, kind, since, command=command: [
                *command, "ingest", "--warehouse", "duckdb", "--instances", target.instance,
                "--tables", table.name,
            ]))
        elif name in ("dlt_connectorx", "dlt_pyarrow"):
            backend = name.split("_", 1)[1]
            if backend == "connectorx" and not _importable("connectorx"):
                missing[name] = "connectorx is not installed (pip install -e '.[dev]')"
                continue
            peers.append(Peer(name, lambda folder, kind, since, backend=backend: [
                python, str(HERE / "bench_peer_dlt.py"), "--url", target.url("postgresql+psycopg2"),
                "--table", table.name, "--columns", ",".join(columns),
                "--primary-key", table.primary_key, "--cursor", table.cursor,
                "--backend", backend, "--duckdb", str(folder / "warehouse.duckdb"),
                "--pipelines-dir", str(folder / "pipelines"),
            ]))
        elif name == "connectorx_duckdb":
            if not _importable("connectorx"):
                missing[name] = "connectorx is not installed (pip install -e '.[dev]')"
                continue
            peers.append(Peer(name, lambda folder, kind, since: [
                python, str(HERE / "bench_peer_connectorx.py"), "--url", target.url(),
                "--table", table.name, "--columns", ",".join(columns),
                "--primary-key", table.primary_key, "--cursor", table.cursor,
                "--duckdb", str(folder / "warehouse.duckdb"),
            ]))
        elif name == "ingestr":
            ingestr, reason = install_ingestr(tools_dir, log)
            if ingestr is None:
                missing[name] = reason
                continue
            excluded = [c.name for c in table.columns if c.policy == "drop"]
            peers.append(Peer(name, lambda folder, kind, since, ingestr=ingestr, excluded=excluded: [
                str(ingestr), "ingest", "--source-uri", target.url(),
                "--source-table", f"public.{table.name}",
                "--dest-uri", f"duckdb:///{folder / 'warehouse.duckdb'}",
                "--dest-table", f"raw.{table.name}", "--incremental-strategy", "merge",
                "--incremental-key", table.cursor, "--primary-key", table.primary_key,
                *(["--sql-exclude-columns", ",".join(excluded)] if excluded else []),
                "--pipelines-dir", str(folder / "pipelines"), "--progress", "log", "--yes",
            ], env={"INGESTR_DISABLE_TELEMETRY": "true"}))
        else:
            missing[name] = "unknown peer"
    return peers, missing


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def install_ingestr(tools_dir: Path, log: Callable[[str], None]) -> tuple[Path | None, str]:
    """ingestr in a venv of its own (its dlt and SQLAlchemy pins differ from ours), installed
    from the registry once and kept under the results folder for later runs."""
    venv = tools_dir / f"ingestr-{INGESTR_VERSION}"
    binary = venv / "bin" / "ingestr"
    if binary.exists():
        return binary, ""
    log(f"  installing ingestr {INGESTR_VERSION} into {venv} (once)")
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        steps = [[str(uv), "venv", "-q", "--python", sys.executable, str(venv)],
                 [str(uv), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                  f"ingestr=={INGESTR_VERSION}"]]
    else:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                  f"ingestr=={INGESTR_VERSION}"]]
    env = {**os.environ, "UV_SYSTEM_CERTS": "1"}
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            return None, f"ingestr {INGESTR_VERSION} did not install: {exc}"
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"ingestr {INGESTR_VERSION} did not install: {tail[0][:300]}"
    return (binary, "") if binary.exists() else (None, "ingestr installed no `ingestr` command")


# --- one timed run -----------------------------------------------------------------------------


@dataclass
class PeerRun:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    output_tail: str


def spawn(command: list[str], env: dict[str, str], log_file: Path,
          timeout: float = PEER_TIMEOUT) -> PeerRun:
    """Run `command`, timed from spawn to exit; stdout and stderr to `log_file`. Peak RSS: the
    process's VmHWM, read every 20 ms while it runs (not wait4's ru_maxrss: a child forked from
    this process starts with this process's high-water mark; nor children it spawns)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        deadline = started + timeout
        status_file = Path(f"/proc/{process.pid}/status")
        peak, polls = 0, 0
        while True:
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, _ = os.wait4(process.pid, 0)
                break
            if polls % 4 == 0:
                peak = max(peak, _vm_hwm(status_file))
            polls += 1
            time.sleep(0.005)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = log_file.read_text(encoding="utf-8", errors="replace")[-2000:]
    return PeerRun(seconds, peak, process.returncode, tail)


def _vm_hwm(status_file: Path) -> int:
    try:
        for line in status_file.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0  # exited between wait4 and the read, or not Linux
    return 0


def copy_rows(output: str) -> int | None:
    """The row count of psql's `COPY <n>` tag."""
    for line in output.splitlines()[::-1]:
        if line.startswith("COPY "):
            return int(line.split()[1])
    return None
