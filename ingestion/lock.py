"""Advisory locks per TW_HOME.

- `ingestion.lock`: one ingestion run at a time (two would share dlt's pipeline directory and
  state, and both would advance the same watermarks).
- `warehouse.lock` (WAREHOUSE_LOCK_FILE): one command that writes the warehouse at a time
  (`warehouse run`, `build`, `ingest`, `rerun`, `backfill`, `demo`), so a manual build during a
  cycle is refused with the same clear message as a second cycle. It is re-entrant within a
  process: `demo` ingests and builds under the one lock it took.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ingestion.errors import IngestionLocked

WAREHOUSE_LOCK_FILE = "warehouse.lock"


class RunLock:
    """An advisory lock file (flock): released by the kernel if the process dies, so a crashed
    run never leaves a stale lock behind."""

    # Re-entrant locks held by this process: resolved path -> [handle, depth].
    _held: dict[Path, list[Any]] = {}  # noqa: RUF012 - process-wide by design

    def __init__(
        self, path: Path, what: str = "ingestion run", holder: str = "", reentrant: bool = False
    ) -> None:
        self.path = path
        self.what = what
        self.holder = holder  # written into the file: what a refused command is told
        self.reentrant = reentrant
        self._handle: IO[str] | None = None
        self._nested = False

    def acquire(self) -> None:
        key = self.path.resolve()
        if self.reentrant and key in RunLock._held:
            RunLock._held[key][1] += 1
            self._nested = True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            handle.close()
            raise IngestionLocked(
                f"another {self.what} is in progress ({holder}); lock file {self.path}. "
                "Wait for it to finish; the lock is released as soon as that process exits."
            ) from None
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        prefix = f"{self.holder}, " if self.holder else ""
        handle.write(f"{prefix}pid {os.getpid()}, started {started}")
        handle.flush()
        with contextlib.suppress(OSError):  # another user's file: the lock still works
            os.chmod(self.path, 0o600)
        self._handle = handle
        if self.reentrant:
            RunLock._held[key] = [handle, 1]

    def release(self) -> None:
        key = self.path.resolve()
        if self._nested:
            RunLock._held[key][1] -= 1
            self._nested = False
            return
        if self.reentrant:
            RunLock._held.pop(key, None)
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def is_locked(path: Path) -> str | None:
    """Who holds the lock file (its text), or None when nobody does. Never blocks."""
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "unknown process"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    except OSError:
        return None
