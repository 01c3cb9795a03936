"""One ingestion run in a child process that announces where it is, for crash injection.

    python -m tests.faults.crash_driver [--instances uk,fr] [--tables orders] [--reconcile yes|no]

The run is `ingestion.pipeline.run_ingestion`, unchanged. This test-only driver wraps a few dlt
and ingestion entry points to print one marker line per stage boundary on stdout
(`@@ <stage> <n>`, flushed), so the parent (tests/faults/crash.py) can SIGKILL it at a random
moment after a chosen boundary. With TW_FAULT_PAUSE_AT=<stage>:<n> the driver stops dead at the
n-th occurrence of that marker (prints `@@ paused ...` and sleeps) so the parent kills it exactly
there; with TW_FAULT_HOLD_AT=<stage>:<n> and TW_FAULT_RELEASE=<file> it waits there until the
file exists, then goes on. Nothing here is imported by the product.

Stages, in the order a run meets them:
  lock                  the run lock is held
  prepare               dlt syncs state with the destination and loads a pending package
  extract:start         pipeline.extract of the platform source begins
  extract:batch         a resource yielded one batch of raw rows
  extract:table         a resource finished (its watermark is set in dlt's resource state)
  state:save            dlt writes the pipeline state (watermarks) to the local state file
  extract:end           the extracted package is committed to disk
  normalize:start
  normalize:commit      the normalized package was renamed into place (dlt deletes the extracted
                        one next: "do not kill this process")
  normalize:end
  load:start
  load:job_start        a load job (one table's file, the pipeline state, ...) is started
  load:job_done         a load job's result is committed to the package
  load:package          the package is marked loaded (the state in the warehouse is final)
  load:end
  done                  run_ingestion returned (a JSON report line follows)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

MARK = "@@"
_counts: Counter[str] = Counter()
_pause = os.environ.get("TW_FAULT_PAUSE_AT", "")
# TW_FAULT_HOLD_AT=<stage>:<n> with TW_FAULT_RELEASE=<file>: wait at that marker until the file
# exists (at most 5 minutes), then go on: a run that holds its lock while the test acts.
_hold = os.environ.get("TW_FAULT_HOLD_AT", "")
_release = os.environ.get("TW_FAULT_RELEASE", "")


def mark(stage: str) -> None:
    _counts[stage] += 1
    sys.stdout.write(f"{MARK} {stage} {_counts[stage]}\n")
    sys.stdout.flush()
    if _pause and _pause == f"{stage}:{_counts[stage]}":
        sys.stdout.write(f"{MARK} paused {stage} {_counts[stage]}\n")
        sys.stdout.flush()
        while True:  # the parent SIGKILLs us here
            time.sleep(60)
    if _hold and _hold == f"{stage}:{_counts[stage]}":
        sys.stdout.write(f"{MARK} holding {stage} {_counts[stage]}\n")
        sys.stdout.flush()
        deadline = time.monotonic() + 300
        while not os.path.exists(_release) and time.monotonic() < deadline:
            time.sleep(0.05)


def _around(owner: Any, name: str, before: str | None, after: str | None) -> None:
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            mark(before)
        result = original(*args, **kwargs)
        if after:
            mark(after)
        return result

    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)


def install_markers() -> None:
    from dlt.common.storages.load_package import PackageStorage
    from dlt.common.storages.load_storage import LoadStorage
    from dlt.load.load import Load
    from dlt.pipeline.pipeline import Pipeline

    import ingestion.lock
    import ingestion.pipeline
    import ingestion.platform_source

    _around(ingestion.lock.RunLock, "acquire", None, "lock")
    _around(ingestion.pipeline, "_prepare", "prepare", None)
    _around(Pipeline, "extract", "extract:start", "extract:end")
    _around(Pipeline, "normalize", "normalize:start", "normalize:end")
    _around(LoadStorage, "commit_new_load_package", None, "normalize:commit")
    _around(Pipeline, "load", "load:start", "load:end")
    _around(Pipeline, "_save_state", None, "state:save")
    _around(PackageStorage, "start_job", "load:job_start", None)
    _around(PackageStorage, "complete_job", None, "load:job_done")
    _around(Load, "complete_package", None, "load:package")

    original: Callable[..., Iterator[Any]] = ingestion.platform_source.extract_table

    def extract_table(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for batch in original(*args, **kwargs):
            mark("extract:batch")
            yield batch
        mark("extract:table")

    ingestion.platform_source.extract_table = extract_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--destination", default="duckdb")
    parser.add_argument("--instances")
    parser.add_argument("--tables")
    parser.add_argument("--reconcile", choices=("yes", "no", "schedule"), default="schedule")
    args = parser.parse_args(argv)

    install_markers()
    from ingestion.errors import IngestionLocked
    from ingestion.pipeline import run_ingestion
    from tenant_warehouse.settings import Settings

    reconcile = {"yes": True, "no": False, "schedule": None}[args.reconcile]
    try:
        report = run_ingestion(
            Settings.from_env(),
            destination=args.destination,
            instances=args.instances.split(",") if args.instances else None,
            tables=args.tables.split(",") if args.tables else None,
            reconcile=reconcile,
        )
    except IngestionLocked as exc:
        mark("done")
        print(json.dumps({"ok": False, "locked": str(exc)}), flush=True)
        return 3
    mark("done")
    print(json.dumps({"ok": report.ok, "summary": report.summary(), "errors": report.failures}),
          flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
