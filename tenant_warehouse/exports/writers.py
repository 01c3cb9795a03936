"""One writer per format. Each takes a tenant's relations one at a time as a stream of Arrow
record batches and never holds more than a batch (plus the format library's own buffer).

- csv:     one `<relation>.csv` per relation (header always written, also for 0 rows).
- parquet: one `<relation>.parquet` per relation, a row group per batch, zstd.
- xlsx:    one workbook, a sheet per relation (split into `name (2)`, ... beyond Excel's
           1,048,576 rows) plus a `definitions` sheet; openpyxl's write-only mode streams rows
           to disk.
- duckdb:  one database file, a table per relation plus `_definitions` (the tenant's own SQL
           endpoint, `duckdb tenant.duckdb`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

XLSX_MAX_ROWS = 1_048_576  # Excel's sheet limit, header included
XLSX_SHEET_NAME_LENGTH = 31


@dataclass(frozen=True)
class RelationInfo:
    name: str
    description: str
    schema: pa.Schema
    rows: int = 0


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    relations: tuple[str, ...]
    rows: int


class FormatWriter(Protocol):
    def plan(self, relations: Sequence[str]) -> None: ...
    def begin(self, relation: RelationInfo) -> None: ...
    def write(self, batch: pa.RecordBatch) -> None: ...
    def end(self) -> None: ...
    def finish(self, relations: Sequence[RelationInfo], notes: dict[str, str]) -> list[WrittenFile]: ...


def open_writer(fmt: str, directory: Path, tenant_slug: str) -> FormatWriter:
    writers = {"csv": CsvWriter, "parquet": ParquetWriter, "xlsx": XlsxWriter, "duckdb": DuckdbWriter}
    return writers[fmt](directory, tenant_slug)


class _PerRelationFiles:
    """Shared bookkeeping of the one-file-per-relation formats."""

    suffix = ""

    def __init__(self, directory: Path, tenant_slug: str) -> None:
        self.directory = directory
        self.files: list[WrittenFile] = []
        self.current: RelationInfo | None = None
        self.rows = 0

    def plan(self, relations: Sequence[str]) -> None:
        pass

    def path_for(self, relation: RelationInfo) -> Path:
        return self.directory / f"{relation.name}{self.suffix}"

    def finish(self, relations: Sequence[RelationInfo], notes: dict[str, str]) -> list[WrittenFile]:
        return self.files


def _naive_utc_schema(schema: pa.Schema) -> pa.Schema:
    """Timestamps with a time zone as plain UTC timestamps: `2026-05-31 22:30:00.000000`, which
    spreadsheets and accounting imports parse (they reject a trailing `Z`), and 15x faster to
    format than pyarrow's zoned output. Every timestamp of the warehouse is UTC (manifest)."""
    fields = [
        field.with_type(pa.timestamp(field.type.unit))
        if pa.types.is_timestamp(field.type) and field.type.tz else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


class CsvWriter(_PerRelationFiles):
    suffix = ".csv"

    def begin(self, relation: RelationInfo) -> None:
        import pyarrow.csv as pacsv

        self.current, self.rows = relation, 0
        self.schema = _naive_utc_schema(relation.schema)
        self.sink = pacsv.CSVWriter(str(self.path_for(relation)), self.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.schema != self.schema:
            batch = batch.cast(self.schema)  # zoned -> naive keeps the UTC instant
        self.sink.write_batch(batch)
        self.rows += batch.num_rows

    def end(self) -> None:
        assert self.current is not None
        self.sink.close()
        self.files.append(WrittenFile(self.path_for(self.current), (self.current.name,), self.rows))


class ParquetWriter(_PerRelationFiles):
    suffix = ".parquet"

    def begin(self, relation: RelationInfo) -> None:
        import pyarrow.parquet as pq

        self.current, self.rows = relation, 0
        metadata = {b"description": relation.description.encode("utf-8")}
        self.sink = pq.ParquetWriter(
            str(self.path_for(relation)), relation.schema.with_metadata(metadata),
            compression="zstd",
        )

    def write(self, batch: pa.RecordBatch) -> None:
        self.sink.write_batch(batch)
        self.rows += batch.num_rows

    def end(self) -> None:
        assert self.current is not None
        self.sink.close()
        self.files.append(WrittenFile(self.path_for(self.current), (self.current.name,), self.rows))


# --- xlsx --------------------------------------------------------------------------------------

# Characters XML 1.0 forbids; openpyxl refuses them. Replaced by U+FFFD (counted in the notes).
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def sheet_names(relations: Sequence[str]) -> dict[str, str]:
    """A unique Excel sheet name (<= 31 characters, no []:*?/\\) per relation name."""
    names: dict[str, str] = {}
    used = {"definitions"}
    for relation in relations:
        base = re.sub(r"[\[\]:*?/\\]", "_", relation)[:XLSX_SHEET_NAME_LENGTH]
        name, counter = base, 1
        while name.lower() in used:
            counter += 1
            tail = f"~{counter}"
            name = base[: XLSX_SHEET_NAME_LENGTH - len(tail)] + tail
        used.add(name.lower())
        names[relation] = name
    return names


def _excel_value(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones: every timestamp of the warehouse is UTC (header says so).
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, str) and _ILLEGAL_XML.search(value):
        return _ILLEGAL_XML.sub("\ufffd", value)
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def _excel_header(schema: pa.Schema) -> list[str]:
    return [
        f"{field.name} (UTC)" if pa.types.is_timestamp(field.type) and field.type.tz else field.name
        for field in schema
    ]


class XlsxWriter:
    def __init__(self, directory: Path, tenant_slug: str) -> None:
        from openpyxl import Workbook

        self.path = directory / f"{tenant_slug}.xlsx"
        self.workbook = Workbook(write_only=True)
        self.sheets_of: dict[str, list[str]] = {}
        self.planned: dict[str, str] = {}
        self.rows = 0

    def plan(self, relations: Sequence[str]) -> None:
        self.planned = sheet_names(relations)

    def _new_sheet(self) -> None:
        assert self.current is not None
        base = self.planned.get(self.current.name) or sheet_names([self.current.name])[self.current.name]
        part = len(self.sheets_of[self.current.name]) + 1
        title = base if part == 1 else f"{base[: XLSX_SHEET_NAME_LENGTH - 4]} ({part})"
        self.sheet = self.workbook.create_sheet(title)
        self.sheet.append(_excel_header(self.current.schema))
        self.sheet_rows = 1
        self.sheets_of[self.current.name].append(title)

    def begin(self, relation: RelationInfo) -> None:
        self.current = relation
        self.sheets_of[relation.name] = []
        self._new_sheet()

    def write(self, batch: pa.RecordBatch) -> None:
        for row in zip(*(_excel_column(f, c) for f, c in zip(batch.schema, batch.columns, strict=True)), strict=True):
            if self.sheet_rows >= XLSX_MAX_ROWS:
                self._new_sheet()  # a relation longer than a sheet goes on in `name (2)`
            self.sheet.append(row)
            self.sheet_rows += 1
            self.rows += 1

    def end(self) -> None:
        pass

    def finish(self, relations: Sequence[RelationInfo], notes: dict[str, str]) -> list[WrittenFile]:
        sheet = self.workbook.create_sheet("definitions", 0)
        for key, value in notes.items():
            sheet.append([key, value])
        sheet.append([])
        sheet.append(["table", "sheets", "rows", "description", "columns"])
        for relation in relations:
            columns = ", ".join(f"{field.name} {field.type}" for field in relation.schema)
            sheet.append([
                relation.name, ", ".join(self.sheets_of.get(relation.name, [])), relation.rows,
                relation.description, columns,
            ])  # fmt: skip
        self.workbook.save(str(self.path))
        return [WrittenFile(self.path, tuple(r.name for r in relations), self.rows)]


def _excel_column(field: pa.Field, column: pa.Array) -> list[Any]:
    """A column as Python values openpyxl writes, converted with Arrow where it can (a Python
    call per value is most of the cost of a workbook)."""
    import pyarrow.compute as pc

    if pa.types.is_timestamp(field.type) and field.type.tz:
        # Excel has no time zones: every timestamp of the warehouse is UTC (header says so).
        return column.cast(pa.timestamp(field.type.unit)).to_pylist()
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        if column.null_count < len(column) and pc.any(
            pc.match_substring_regex(column, _ILLEGAL_XML.pattern)
        ).as_py():
            column = pc.replace_substring_regex(column, _ILLEGAL_XML.pattern, "\ufffd")
        return column.to_pylist()
    if pa.types.is_nested(field.type):
        return [_excel_value(value) for value in column.to_pylist()]
    return column.to_pylist()


# --- duckdb ------------------------------------------------------------------------------------


class DuckdbWriter:
    def __init__(self, directory: Path, tenant_slug: str) -> None:
        import duckdb

        self.path = directory / f"{tenant_slug}.duckdb"
        self.connection = duckdb.connect(str(self.path))
        # Bounded memory: DuckDB spills to disk beyond this instead of growing.
        self.connection.execute("set memory_limit = '256MB'")
        self.connection.execute("set preserve_insertion_order = false")
        self.rows = 0

    def plan(self, relations: Sequence[str]) -> None:
        pass

    def begin(self, relation: RelationInfo) -> None:
        self.current = relation
        table = _quote(relation.name)
        empty = pa.Table.from_batches([], schema=relation.schema)
        self.connection.register("incoming", empty)
        self.connection.execute(f"create table {table} as select * from incoming")
        self.connection.unregister("incoming")
        comment = "'" + relation.description.replace("'", "''") + "'"
        self.connection.execute(f"comment on table {table} is {comment}")

    def write(self, batch: pa.RecordBatch) -> None:
        self.connection.register("incoming", pa.Table.from_batches([batch]))
        self.connection.execute(f"insert into {_quote(self.current.name)} select * from incoming")
        self.connection.unregister("incoming")
        self.rows += batch.num_rows

    def end(self) -> None:
        pass

    def finish(self, relations: Sequence[RelationInfo], notes: dict[str, str]) -> list[WrittenFile]:
        con = self.connection
        con.execute(
            "create table _definitions (table_name varchar, row_count bigint, description varchar)"
        )
        con.executemany(
            "insert into _definitions values (?, ?, ?)",
            [(r.name, r.rows, r.description) for r in relations],
        )
        con.execute("create table _export (key varchar, value varchar)")
        con.executemany("insert into _export values (?, ?)", list(notes.items()))
        con.execute("checkpoint")
        con.close()
        return [WrittenFile(self.path, tuple(r.name for r in relations), self.rows)]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
