"""Worker process for bigquery_check: parse once, compile the full-refresh and incremental variants.

Run as `python -m tenant_warehouse.bigquery_compile PROJECT_DIR WORK_DIR` with the offline BigQuery
environment. One process and one parse for both variants, because importing dbt and parsing the
project are most of the cost (a few seconds each); a parsed manifest still honours --vars at
compile time, which is all force_incremental needs. A separate process (not dbtRunner inside the
caller) keeps dbt's global state out of the `warehouse` command.

Writes WORK_DIR/target_<variant>/manifest.json and WORK_DIR/compile_status.json:
{"full-refresh": {"ok": bool, "errors": [str]}, "incremental": {...} | null}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # dbt takes seconds to import: only the worker process pays for it
    from dbt.cli.main import dbtRunnerResult

FULL, INCREMENTAL = "full-refresh", "incremental"
OFFLINE_FLAGS = ["--target", "bigquery", "--no-populate-cache", "--no-introspect"]
# dbt compile runs on-run-start hooks; the project's monitoring hooks create tables with
# run_query, which needs a warehouse. They are switched off by this var (dbt_project.yml).
OFFLINE_VARS = {"tw_monitoring_hooks": False}


def _vars(forced: bool) -> str:
    return json.dumps({**OFFLINE_VARS, "force_incremental": forced})


def _errors(result: dbtRunnerResult) -> list[str]:
    errors = []
    if result.exception is not None:
        errors.append(str(result.exception))
    for node_result in getattr(result.result, "results", None) or []:
        if str(node_result.status) in {"error", "fail", "runtime error"}:
            node = node_result.node
            errors.append(f"{node.original_file_path}: {node_result.message}")
    return errors


def _compile(
    manifest: Any, project_dir: Path, target: Path, forced: bool, select: list[str]
) -> dict[str, Any]:
    args = [
        "compile", *OFFLINE_FLAGS, "--project-dir", str(project_dir), "--target-path", str(target),
        "--vars", _vars(forced), "--threads", "1",
    ]  # fmt: skip
    if select:
        args += ["--select", *select]
    from dbt.cli.main import dbtRunner

    result = dbtRunner(manifest=manifest).invoke(args)
    return {"ok": result.success, "errors": _errors(result)}


def main(argv: list[str]) -> int:
    from dbt.cli.main import dbtRunner

    project_dir, work_dir = Path(argv[0]), Path(argv[1])
    target_full = work_dir / f"target_{FULL}"
    status: dict[str, Any] = {FULL: None, INCREMENTAL: None}
    parsed = dbtRunner().invoke([
        "parse", *OFFLINE_FLAGS[:2], "--project-dir", str(project_dir),
        "--target-path", str(target_full), "--vars", _vars(False),
    ])  # fmt: skip
    if not parsed.success:
        status[FULL] = {"ok": False, "errors": _errors(parsed) or ["dbt parse failed"]}
    else:
        manifest = parsed.result
        status[FULL] = _compile(manifest, project_dir, target_full, False, [])
        has_incremental = any(
            node.resource_type == "model" and node.config.materialized == "incremental"
            for node in manifest.nodes.values()
        )
        if status[FULL]["ok"] and has_incremental:
            status[INCREMENTAL] = _compile(
                manifest, project_dir, work_dir / f"target_{INCREMENTAL}", True,
                ["config.materialized:incremental"],
            )  # fmt: skip
    (work_dir / "compile_status.json").write_text(json.dumps(status, indent=2))
    return 0 if all(s is None or s["ok"] for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
