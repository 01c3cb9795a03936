"""One ingestion run at a time per TW_HOME: two runs would share dlt's pipeline directory and
state, and both would advance the same watermarks."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from ingestion.errors import IngestionLocked


class RunLock:
    """An advisory lock file (flock): released by the kernel if the process dies, so a crashed
    run never leaves a stale lock behind."""

    def __init__(self, path: Path, what: str = "ingestion run") -> None:
        self.path = path
        self.what = what
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
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
        handle.write(f"pid {os.getpid()}, started {started}")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
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
