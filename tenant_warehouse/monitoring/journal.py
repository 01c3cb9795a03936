"""The command journal: every warehouse-writing command, recorded outside the warehouse.

A small SQLite file (`$TW_HOME/journal.sqlite`) that a command writes when it starts, at each
step and when it ends. It does not need the warehouse, so it records what the warehouse cannot:

- a command killed mid-way (`kill -9`, OOM, power): its entry stays `running`; the next command
  to take the warehouse lock finds it (nobody else can be running it) and marks it
  `interrupted`, naming the step it was in;
- a cycle that cannot reach the warehouse (locked by another process, server down): its
  failure waits here (`recorded` false) until an alert evaluation can write it in as a
  `run_failed` alert (`monitoring.alerts.evaluate_and_send`);
- what status and report show while a build holds the DuckDB file: the command in progress,
  since when, and the open alerts as of the end of the last evaluation (`snapshot`).

`warehouse_write(settings, command)` wraps a command: it takes the one warehouse lock
(`ingestion.lock.WAREHOUSE_LOCK_FILE`, re-entrant within a process, refused with
IngestionLocked -> exit 75 when another command holds it) and journals the command.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ingestion.errors import IngestionLocked
from ingestion.lock import WAREHOUSE_LOCK_FILE, RunLock, is_locked
from tenant_warehouse.settings import Settings

JOURNAL_FILE = "journal.sqlite"
P = ParamSpec("P")
R = TypeVar("R")
FAILED_STATES = ("failed", "interrupted")
SCHEMA = """
create table if not exists commands (
    entry_id integer primary key autoincrement,
    command text not null,
    pid integer not null,
    started_at text not null,
    ended_at text,
    status text not null,           -- running, ok, failed, interrupted, refused
    step text,                      -- the step it is in (or was in when it stopped)
    message text,
    recorded integer not null default 0,  -- written into the warehouse (as an alert)
    alerted integer not null default 0    -- sent directly, the warehouse being unreachable
);
create table if not exists snapshot (
    name text primary key,
    taken_at text not null,
    body text not null
);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Entry:
    entry_id: int
    command: str
    pid: int
    started_at: str
    ended_at: str | None
    status: str
    step: str | None
    message: str | None
    recorded: bool
    alerted: bool

    @property
    def started(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.started_at)

    def describe(self) -> str:
        """One line: `warehouse run interrupted during step build (started 12:04 UTC, pid 42)`."""
        when = f"started {self.started:%Y-%m-%d %H:%M} UTC, pid {self.pid}"
        step = f" during step {self.step}" if self.step else ""
        cause = f": {self.message}" if self.message else ""
        return f"warehouse {self.command} {self.status}{step} ({when}){cause}"


class Journal:
    def __init__(self, settings: Settings) -> None:
        self.path = settings.home / JOURNAL_FILE

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        new = not self.path.exists()
        connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        connection.row_factory = sqlite3.Row
        if new:
            os.chmod(self.path, 0o600)
        connection.executescript(SCHEMA)
        return connection

    def _entries(self, where: str, params: tuple[Any, ...] = (), limit: int = 50) -> list[Entry]:
        if not self.exists:
            return []
        with closing(self._connect()) as connection:
            rows = connection.execute(
                f"select * from commands {where} order by entry_id desc limit {int(limit)}", params
            ).fetchall()
        return [_entry(row) for row in rows]

    # --- writes (under the warehouse lock) ---------------------------------------------------

    def begin(self, command: str) -> int:
        with closing(self._connect()) as connection:
            cursor = connection.execute(
                "insert into commands (command, pid, started_at, status) values (?, ?, ?, ?)",
                (command, os.getpid(), _now(), "running"),
            )
            return int(cursor.lastrowid or 0)

    def step(self, entry_id: int, step: str) -> None:
        with closing(self._connect()) as connection:
            connection.execute("update commands set step = ? where entry_id = ?", (step, entry_id))

    def finish(
        self, entry_id: int, status: str, message: str | None = None, recorded: bool = False,
        alerted: bool = False,
    ) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                "update commands set status = ?, ended_at = ?, message = ?, recorded = ?,"
                " alerted = ? where entry_id = ?",
                (status, _now(), message, int(recorded or status == "ok"), int(alerted), entry_id),
            )

    def close_interrupted(self) -> list[Entry]:
        """Entries still `running`: called by the lock holder, so their process is gone."""
        found = [e for e in self._entries("where status = 'running'") if e.pid != os.getpid()]
        if found:
            with closing(self._connect()) as connection:
                for entry in found:
                    connection.execute(
                        "update commands set status = 'interrupted', ended_at = ?, message = ?"
                        " where entry_id = ?",
                        (_now(), "the process was killed or crashed (no end recorded); the next "
                         "run recovers what it left", entry.entry_id),
                    )
        return [
            Entry(**{**e.__dict__, "status": "interrupted"}) for e in found
        ]

    def unrecorded_failures(self) -> list[Entry]:
        return self._entries("where status in ('failed', 'interrupted') and recorded = 0")

    def mark_recorded(self, entry_ids: list[int]) -> None:
        if not entry_ids:
            return
        with closing(self._connect()) as connection:
            connection.executemany(
                "update commands set recorded = 1 where entry_id = ?", [(i,) for i in entry_ids]
            )

    def save_snapshot(self, name: str, body: Any) -> None:
        with closing(self._connect()) as connection:
            connection.execute(
                "insert or replace into snapshot (name, taken_at, body) values (?, ?, ?)",
                (name, _now(), json.dumps(body, default=str)),
            )

    # --- reads (never wait for the warehouse) ------------------------------------------------

    def latest(self, limit: int = 5) -> list[Entry]:
        return self._entries("", limit=limit)

    def in_progress(self, settings: Settings) -> Entry | None:
        """The command holding the warehouse lock now, if it is journaled."""
        if not is_locked(settings.home / WAREHOUSE_LOCK_FILE):
            return None
        running = self._entries("where status = 'running'", limit=1)
        return running[0] if running else None

    def abandoned(self, settings: Settings) -> list[Entry]:
        """Entries still `running` while nobody holds the warehouse lock: their process was
        killed (the next command marks them interrupted; status shows them so already)."""
        if is_locked(settings.home / WAREHOUSE_LOCK_FILE):
            return []
        return [Entry(**{**e.__dict__, "status": "interrupted"})
                for e in self._entries("where status = 'running'")]

    def last_finished(self) -> Entry | None:
        finished = self._entries("where status != 'running'", limit=1)
        return finished[0] if finished else None

    def last_cycle(self) -> Entry | None:
        """The latest finished cycle (`warehouse run`): what status reports as the pipeline's
        last outcome; an interrupted or failed one stays red until a later cycle is ok."""
        cycles = self._entries("where status != 'running' and command = 'run'", limit=1)
        return cycles[0] if cycles else None

    def snapshot(self, name: str) -> tuple[str, Any] | None:
        if not self.exists:
            return None
        with closing(self._connect()) as connection:
            row = connection.execute(
                "select taken_at, body from snapshot where name = ?", (name,)
            ).fetchone()
        return (row["taken_at"], json.loads(row["body"])) if row else None


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        entry_id=row["entry_id"], command=row["command"], pid=row["pid"],
        started_at=row["started_at"], ended_at=row["ended_at"], status=row["status"],
        step=row["step"], message=row["message"], recorded=bool(row["recorded"]),
        alerted=bool(row["alerted"]),
    )


@dataclass
class WriteCommand:
    """The journaled command a `warehouse_write` block runs; the block sets `ok` and adds
    `errors` (crashed steps); `recorded` says they reached the warehouse's alert log."""

    journal: Journal | None
    entry_id: int | None
    command: str
    ok: bool = True
    errors: list[str] = field(default_factory=list)
    recorded: bool = False
    alerted: bool = False
    interrupted: list[Entry] = field(default_factory=list)

    def step(self, name: str) -> None:
        if self.journal is not None and self.entry_id is not None:
            self.journal.step(self.entry_id, name)


_ACTIVE: list[WriteCommand] = []


@contextmanager
def warehouse_write(settings: Settings, command: str) -> Iterator[WriteCommand]:
    """Hold the one warehouse lock and journal the command. Nested blocks (a demo's ingest and
    build) share the outer block's lock and entry. Raises IngestionLocked when another command
    holds the lock."""
    if _ACTIVE:
        yield _ACTIVE[-1]
        return
    lock = RunLock(
        settings.home / WAREHOUSE_LOCK_FILE, what="command that writes the warehouse",
        holder=f"warehouse {command}", reentrant=True,
    )
    lock.acquire()
    try:
        journal = Journal(settings)
        interrupted = journal.close_interrupted()
        entry_id = journal.begin(command)
        current = WriteCommand(journal, entry_id, command, interrupted=interrupted)
        _ACTIVE.append(current)
        try:
            yield current
        except KeyboardInterrupt:
            journal.finish(entry_id, "interrupted", "stopped by Ctrl-C", current.recorded)
            raise
        except IngestionLocked as exc:
            # Refused (a direct ingestion run holds its own lock): nothing was done, no alert.
            journal.finish(entry_id, "refused", str(exc)[:2000], recorded=True)
            raise
        except BaseException as exc:
            message = "; ".join([*current.errors, f"{type(exc).__name__}: {exc}"])
            journal.finish(entry_id, "failed", message[:2000], current.recorded, current.alerted)
            raise
        else:
            status = "ok" if current.ok else "failed"
            message = "; ".join(current.errors)[:2000] or None
            # A failure without crashed steps is in the warehouse's run log already.
            recorded = current.recorded or not current.errors
            journal.finish(entry_id, status, message, recorded, current.alerted)
        finally:
            _ACTIVE.pop()
    finally:
        lock.release()


def current_command() -> WriteCommand | None:
    return _ACTIVE[-1] if _ACTIVE else None


def journal_path(home: Path) -> Path:
    return home / JOURNAL_FILE


def exclusive(command: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator for an operation whose first argument is the Settings: run it under
    `warehouse_write` (its result's truth, or `.ok`, is the command's outcome)."""

    def wrap(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def locked(*args: P.args, **kwargs: P.kwargs) -> R:
            settings = args[0]
            assert isinstance(settings, Settings)
            with warehouse_write(settings, command) as write:
                result = function(*args, **kwargs)
                write.ok = write.ok and bool(getattr(result, "ok", result))
                return result

        return locked

    return wrap
