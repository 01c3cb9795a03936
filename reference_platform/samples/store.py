"""An instance database held in memory for one generator run, written back as one diff.

The sample platforms are small (tests and demos), so each run of a generator loads every row of
its tables, changes them the way the application would, and writes back only what changed:
deletes children first, inserts parents first (COPY), then updates. Ids come from the tables'
own sequences, read once and moved forward at the end, so ids are never reused and the same
seed gives the same ids. The generator's clock and step number live in `sim_state`, a table the
ingestion configs exclude.

Connections are reference_platform's `Database` (psycopg2, session time zone UTC): a naive
`timestamp` column is written and read back exactly as given, whatever zone it means.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from reference_platform.database import Database, Session
from reference_platform.timeutil import zone

Row = dict[str, Any]


def copy_value(value: Any) -> Any:
    """A Python value as the text COPY and UPDATE parameters take: a dict is a jsonb document
    (keys sorted, so output is byte-stable), a list or tuple a PostgreSQL array (plain words or
    numbers only), bytes a bytea; psycopg2 reads jsonb back as dicts and bytea as memoryview."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list | tuple):
        return "{" + ",".join(f'"{item}"' for item in value) + "}"
    if isinstance(value, bytes | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | Decimal | int):
        return str(value)
    return value


def stored_naive(instant: datetime, stored_zone: str, whole_seconds: bool = False) -> datetime:
    """The wall-clock value an application writing `stored_zone` times puts in a naive column.

    Ecto's `utc_datetime` and `timestamp(0)` keep whole seconds: the sub-second part is dropped
    here (PostgreSQL would round it, moving an event into the next second or day).
    """
    local = instant.astimezone(zone(stored_zone)).replace(tzinfo=None)
    return local.replace(microsecond=0) if whole_seconds else local


def unambiguous(instant: datetime, stored_zone: str) -> datetime:
    """Move an instant out of a DST fold or gap of `stored_zone` (a later hour).

    An application that writes local wall-clock times loses which of two equal local times it
    meant; the generator never writes one, so every stored value names exactly one instant and
    the oracle and the warehouse cannot disagree on a row only because of that.
    """
    tz = zone(stored_zone)
    while True:
        local = instant.astimezone(tz).replace(tzinfo=None)
        first = local.replace(tzinfo=tz, fold=0).utcoffset()
        second = local.replace(tzinfo=tz, fold=1).utcoffset()
        if first == second:
            return instant
        instant += timedelta(hours=1)


def create_schema(database: Database, schema_file: Path) -> None:
    """Create the database if missing and run the platform's DDL in one transaction."""
    database.ensure_database()
    with database.transaction() as session:
        session.execute(schema_file.read_text(encoding="utf-8"))


def read_state(database: Database) -> dict[str, str]:
    return dict(database.query("SELECT key, value FROM sim_state"))


def write_state(session: Session, values: Mapping[str, object]) -> None:
    for key, value in values.items():
        session.execute(
            "INSERT INTO sim_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )


def parse_clock(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: dict[int, Row] = field(default_factory=dict)
    inserted: set[int] = field(default_factory=set)
    updated: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    next_id: int = 1
    first_new_id: int = 1


class Store:
    """Every row of `tables` (in foreign-key order: parents first), keyed by id."""

    def __init__(self, database: Database, tables: Mapping[str, Sequence[str]]) -> None:
        self.database = database
        self.tables = {name: Table(name, tuple(columns)) for name, columns in tables.items()}

    def load(self) -> Store:
        with self.database.transaction(read_only=True) as session:
            for table in self.tables.values():
                columns = ", ".join(table.columns)
                for values in session.query(f"SELECT {columns} FROM {table.name} ORDER BY id"):
                    row = dict(zip(table.columns, values, strict=True))
                    table.rows[row["id"]] = row
                last = session.sequence_value(table.name)
                table.next_id = table.first_new_id = max(last, max(table.rows, default=0)) + 1
        return self

    def rows(self, table: str) -> Iterable[Row]:
        return self.tables[table].rows.values()

    def get(self, table: str, row_id: int) -> Row:
        return self.tables[table].rows[row_id]

    def insert(self, table: str, values: Row) -> Row:
        spec = self.tables[table]
        row = {column: None for column in spec.columns}
        row.update(values)
        row["id"] = spec.next_id
        spec.next_id += 1
        spec.rows[row["id"]] = row
        spec.inserted.add(row["id"])
        return row

    def update(self, table: str, row: Row, **values: Any) -> Row:
        row.update(values)
        spec = self.tables[table]
        if row["id"] not in spec.inserted:
            spec.updated.add(row["id"])
        return row

    def delete(self, table: str, row: Row) -> None:
        spec = self.tables[table]
        row_id = row["id"]
        del spec.rows[row_id]
        if row_id in spec.inserted:
            spec.inserted.discard(row_id)  # never written: nothing to delete
        else:
            spec.updated.discard(row_id)
            spec.deleted.add(row_id)

    def forget(self, table: str, row: Row) -> None:
        """Drop a row the database deletes by itself (ON DELETE CASCADE): nothing is written."""
        spec = self.tables[table]
        row_id = row["id"]
        del spec.rows[row_id]
        spec.updated.discard(row_id)
        spec.inserted.discard(row_id)

    def flush(self, session: Session) -> dict[str, tuple[int, int, int]]:
        """Write the diff; returns (inserted, updated, deleted) per table."""
        for table in reversed(list(self.tables.values())):
            ids = sorted(table.deleted)
            for start in range(0, len(ids), 1000):
                chunk = ",".join(str(i) for i in ids[start : start + 1000])
                session.execute(f"DELETE FROM {table.name} WHERE id IN ({chunk})")
        for table in self.tables.values():
            rows = [table.rows[i] for i in sorted(table.inserted)]
            session.insert(
                table.name,
                table.columns,
                [tuple(copy_value(row[c]) for c in table.columns) for row in rows],
            )
            if table.next_id > table.first_new_id:
                session.set_sequence(table.name, table.next_id - 1)
        for table in self.tables.values():
            columns = [c for c in table.columns if c != "id"]
            assignments = ", ".join(f"{c} = ?" for c in columns)
            session.executemany(
                f"UPDATE {table.name} SET {assignments} WHERE id = ?",
                [
                    [copy_value(table.rows[i][c]) for c in columns] + [i]
                    for i in sorted(table.updated)
                ],
            )
        return {
            name: (len(t.inserted), len(t.updated), len(t.deleted))
            for name, t in self.tables.items()
        }
