"""One interface over the two source engines, chosen by URL.

`sqlite:///path` (the embedded default, WAL mode) or `postgresql+psycopg2://user@host:port/db`.
SQL is written once with `?` placeholders; timestamps travel as UTC text in the contract's form
('YYYY-MM-DD HH:MM:SS.ffffff'), which SQLite stores as is and PostgreSQL reads as timestamptz
because every session runs with TimeZone=UTC. Bulk loads use executemany on SQLite and COPY on
PostgreSQL. Ids are explicit where the generator allocates them; `set_sequence` keeps the
database's own allocator ahead of them so later inserts without an id still work.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from psycopg2 import errors as pg_errors
from psycopg2 import sql as pg_sql
from psycopg2.extras import execute_batch
from sqlalchemy.engine import make_url

from reference_platform.schema import TABLES, Dialect, create_index_sql, schema_sql

Row = Sequence[Any]
TableRows = tuple[Sequence[str], Sequence[Row]]


def _decode_lenient(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class Session:
    """A transaction on one connection. Commit or roll back explicitly, or use `with`.

    Statements use `?` placeholders (rewritten to %s for psycopg2), so a literal `?` must not
    appear in SQL text: pass it as a parameter.
    """

    def __init__(self, database: Database, connection: Any, read_only: bool = False) -> None:
        self.database = database
        self.dialect: Dialect = database.dialect
        self._connection = connection
        self._cursor = connection.cursor()
        self.closed = False
        if self.dialect == "sqlite":
            # A writer takes the lock now (IMMEDIATE) so it never fails half-way on upgrade; a
            # reader must not, or it would wait behind a held late commit.
            self._cursor.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    def _sql(self, statement: str) -> str:
        if self.dialect == "postgresql":
            return statement.replace("%", "%%").replace("?", "%s")
        return statement

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(self._sql(statement), tuple(params))
        return self._cursor.rowcount

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.dialect == "postgresql":
            execute_batch(self._cursor, self._sql(statement), rows, page_size=500)
        else:
            self._cursor.executemany(statement, rows)

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            self._cursor.execute(self._sql(statement), tuple(params))
            return list(self._cursor.fetchall())
        except sqlite3.OperationalError as exc:
            if "Could not decode to UTF-8" not in str(exc):
                raise
        # Text that is not valid UTF-8 (a fault the platform is tested with, written by another
        # tool): read it as ingestion does, undecodable bytes as U+FFFD. Only then, so normal
        # reads keep sqlite3's fast C decoding.
        self._connection.text_factory = _decode_lenient
        try:
            self._cursor.execute(self._sql(statement), tuple(params))
            return list(self._cursor.fetchall())
        finally:
            self._connection.text_factory = str

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(statement, params)
        return rows[0][0] if rows else None

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> int:
        """Bulk insert; returns the number of rows."""
        if not rows:
            return 0
        cols = ", ".join(columns)
        if self.dialect == "sqlite":
            marks = ", ".join("?" * len(columns))
            self._cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        else:
            data = io.StringIO(copy_text(rows))
            self._cursor.copy_expert(f"COPY {table} ({cols}) FROM STDIN", data)
        return len(rows)

    def sequence_value(self, table: str) -> int:
        """The last id the database's allocator handed out (0 when none)."""
        if self.dialect == "sqlite":
            value = self.scalar("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
            return int(value or 0)
        sequence = self.scalar("SELECT pg_get_serial_sequence(?, 'id')", (table,))
        last_value, is_called = self.query(f"SELECT last_value, is_called FROM {sequence}")[0]
        return int(last_value) if is_called else int(last_value) - 1

    def set_sequence(self, table: str, value: int) -> None:
        """Make the allocator continue after `value` (never moves it backwards)."""
        if value <= self.sequence_value(table):
            return
        if self.dialect == "sqlite":
            if self.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (value, table)) == 0:
                self.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value))
        else:
            self.execute("SELECT setval(pg_get_serial_sequence(?, 'id'), ?, true)", (table, value))

    def commit(self) -> None:
        if self.closed:
            return
        try:
            if self.dialect == "sqlite":
                self._cursor.execute("COMMIT")
            else:
                self._connection.commit()
        finally:
            self._close()

    def rollback(self) -> None:
        if self.closed:
            return
        try:
            if self.dialect == "sqlite":
                self._cursor.execute("ROLLBACK")
            else:
                self._connection.rollback()
        finally:
            self._close()

    def _close(self) -> None:
        self.closed = True
        with suppress(Exception):
            self._connection.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


NULL_MARK = "\\N"
_SPECIAL = ("\\", "\t", "\n", "\r")


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def _text_column(column: tuple[Any, ...]) -> list[str] | tuple[str, ...]:
    """One column in COPY text format. Work is per column and mostly in C: a column is only
    escaped value by value when its joined text shows a character that needs it."""
    has_null = None in column
    present = [v for v in column if v is not None] if has_null else column
    try:
        needs_escape = any(c in "\x00".join(present) for c in _SPECIAL)
    except TypeError:  # not a text column: numbers never need escaping
        values = [NULL_MARK if v is None else str(v) for v in column]
        return values
    if needs_escape:
        return [NULL_MARK if v is None else _escape(v) for v in column]
    return [NULL_MARK if v is None else v for v in column] if has_null else column


def copy_text(rows: Sequence[Row]) -> str:
    """Rows as PostgreSQL COPY text (tab-separated, \\N for NULL), built column-wise."""
    columns = [_text_column(column) for column in zip(*rows, strict=True)]
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


class Database:
    """An instance's application database (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise ValueError(f"{url!r}: a file path is required (sqlite:///path/to/file)")
            self.dialect: Dialect = "sqlite"
            self.path = Path(parsed.database)
        elif backend == "postgresql":
            # Any postgresql URL works here (psycopg2 is used directly); SQLAlchemy users such as
            # dlt need postgresql+psycopg2:// since 2.1 maps the bare scheme to psycopg 3.
            self.dialect = "postgresql"
            self._pg = {
                "host": parsed.host or "127.0.0.1",
                "port": parsed.port or 5432,
                "user": parsed.username,
                "password": parsed.password,
                "dbname": parsed.database,
            }
            if not parsed.database:
                raise ValueError(f"{url!r}: a database name is required")
        else:
            raise ValueError(f"{url!r}: unsupported source (use sqlite:/// or postgresql+psycopg2://)")

    @property
    def name(self) -> str:
        return str(self.path) if self.dialect == "sqlite" else str(self._pg["dbname"])

    # -- connections -------------------------------------------------------------------------

    def connect(self) -> Any:
        if self.dialect == "sqlite":
            if not self.path.exists():
                raise FileNotFoundError(f"source database {self.path} does not exist "
                                        "(generate it first)")
            # mode=rw: never create an empty file by accident.
            connection = sqlite3.connect(f"file:{quote(str(self.path))}?mode=rw", uri=True,
                                         isolation_level=None, timeout=60)
            connection.execute("PRAGMA synchronous = NORMAL")
            return connection
        return self._pg_connect(str(self._pg["dbname"]))

    def _pg_connect(self, dbname: str) -> Any:
        params = {**self._pg, "dbname": dbname}
        return psycopg2.connect(**params, options="-c TimeZone=UTC", connect_timeout=10)

    def begin(self, read_only: bool = False) -> Session:
        """Open a transaction the caller commits (also used to hold a late commit open)."""
        return Session(self, self.connect(), read_only=read_only)

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[Session]:
        session = self.begin(read_only=read_only)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read in its own short transaction (never blocked by a held writer)."""
        with self.transaction(read_only=True) as session:
            return session.query(statement, params)

    def hold_late_commit(self, rows: Mapping[str, TableRows]) -> Session:
        """Insert rows in a transaction left open; the returned handle's `.commit()` ends it.

        Readers do not see the rows until then. On SQLite the open transaction holds the write
        lock, so only readers (ingestion) may run while it is held.
        """
        session = self.begin()
        try:
            for table, (columns, data) in rows.items():
                session.insert(table, columns, data)
        except BaseException:
            session.rollback()
            raise
        return session

    # -- lifecycle ---------------------------------------------------------------------------

    def exists(self) -> bool:
        if self.dialect == "sqlite":
            return self.path.exists()
        try:
            self._pg_connect(str(self._pg["dbname"])).close()
        except psycopg2.OperationalError as exc:
            if "does not exist" in str(exc):
                return False
            raise
        return True

    def ensure_database(self) -> None:
        """Create the database (PostgreSQL) or its folder and WAL file (SQLite) if missing."""
        if self.dialect == "sqlite":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path)
            try:
                connection.execute("PRAGMA journal_mode = WAL")
            finally:
                connection.close()
            return
        if self.exists():
            return
        connection = self._pg_connect("postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor, suppress(pg_errors.DuplicateDatabase):
                name = pg_sql.Identifier(str(self._pg["dbname"]))
                cursor.execute(pg_sql.SQL("CREATE DATABASE {}").format(name))
        finally:
            connection.close()

    def drop_database(self) -> None:
        """Remove the whole database (SQLite files, or DROP DATABASE ... WITH (FORCE))."""
        if self.dialect == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        connection = self._pg_connect("postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                name = pg_sql.Identifier(str(self._pg["dbname"]))
                cursor.execute(pg_sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        finally:
            connection.close()

    def existing_tables(self) -> set[str]:
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        return {r[0] for r in rows}

    def create_schema(self, indexes: bool = True) -> None:
        with self.transaction() as session:
            for statement in schema_sql(self.dialect, indexes=indexes):
                session.execute(statement)

    def create_indexes(self) -> None:
        with self.transaction() as session:
            for table in TABLES.values():
                for statement in create_index_sql(table):
                    session.execute(statement)
        if self.dialect == "postgresql":
            # Fresh statistics, so the first simulator tick does not plan against empty tables.
            connection = self.connect()
            connection.autocommit = True
            try:
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            finally:
                connection.close()

    def drop_tables(self) -> None:
        with self.transaction() as session:
            for name in TABLES:
                session.execute(f"DROP TABLE IF EXISTS {name}")
            if self.dialect == "sqlite":
                with suppress(sqlite3.OperationalError):
                    session.execute("DELETE FROM sqlite_sequence")
