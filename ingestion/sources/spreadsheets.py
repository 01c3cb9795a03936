"""Spreadsheets as a source: one table per CSV file or XLSX sheet in an instance's folder.

A file is a full snapshot of its table for that instance:
- it is read only when its content changed: the sha256 of the file (and of the table's
  configuration, so a changed column list re-reads it) is kept in the resource's dlt state,
  committed with the load; an unchanged file costs one hash and loads nothing;
- when read, it replaces every raw row of (instance, table): dlt's delete-insert with
  `instance_id` as merge key, so rows removed from the file are deleted from raw;
- a row with a value that cannot be read as its column's type is quarantined whole (never
  partially loaded) in raw._tw_quarantine with file, sheet, row number, column, value and reason,
  and counted in the run record; so is a row repeating an earlier row's primary key (the first
  one is loaded). Blank rows are skipped: they are layout, not data.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import zoneinfo
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from ingestion.config import ColumnConfig, InstanceConfig, TableConfig
from ingestion.errors import BadValue
from ingestion.extract import RunContext
from ingestion.privacy import hash_value
from ingestion.schema import INSTANCE_COLUMN, dlt_columns, source_schema
from ingestion.shape import deletions, to_raw
from ingestion.sources.config import SheetTable, SpreadsheetOptions
from ingestion.sources.quarantine import QuarantinedCell, QuarantineSet
from ingestion.sources.sheet_values import (
    BadCell,
    CellParser,
    SheetUnreadable,
    cell_parser,
    iter_rows,
    normalise_header,
)

MERGE = {"disposition": "merge", "strategy": "delete-insert"}
# Key of the marker row that empties (instance, table) when a file has no loadable row left;
# it is a hard delete, so it never lands.
_EMPTY_MARKER_KEY = -(2**63)
_HASH_BLOCK = 1 << 20


def folder_of(instance: InstanceConfig, options: SpreadsheetOptions, config_path: Path) -> Path:
    """TW_SOURCE_<ID>_PATH, else the configured path (relative to the config file's folder)."""
    override = os.environ.get(f"TW_SOURCE_{instance.name.upper()}_PATH")
    path = Path(override or options.path).expanduser()
    return path if path.is_absolute() else (config_path.parent / path).resolve()


def spreadsheet_resource(
    ctx: RunContext,
    instance: InstanceConfig,
    table: TableConfig,
    sheet: SheetTable,
    folder: Path,
) -> Any:
    def rows() -> Iterator[pa.Table]:
        yield from extract_sheet(ctx, instance, table, sheet, folder, dlt.current.resource_state())

    columns = dlt_columns(table)
    columns[0] = {**columns[0], "merge_key": True, "primary_key": table.has_key}
    return dlt.resource(
        rows,
        name=f"{instance.name}__{table.name}",
        table_name=table.name,
        primary_key=(INSTANCE_COLUMN, table.primary_key) if table.has_key else (),
        merge_key=INSTANCE_COLUMN,
        write_disposition=MERGE,
        columns=columns,
    )


def content_hash(path: Path, table: TableConfig, sheet: SheetTable) -> str:
    digest = hashlib.sha256()
    # The configuration that shapes the rows is part of the hash: a new column or type re-reads.
    shape = [sheet.sheet, sheet.header_row, sheet.delimiter, sheet.encoding, table.primary_key,
             [(c.name, c.type, c.policy) for c in table.columns], table.source_time_zone]
    digest.update(json.dumps(shape, default=str).encode("utf-8"))
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def extract_sheet(
    ctx: RunContext,
    instance: InstanceConfig,
    table: TableConfig,
    sheet: SheetTable,
    folder: Path,
    state: MutableMapping[str, Any],
) -> Iterator[pa.Table]:
    """Yield the file's rows as raw batches when its content changed; never raises for a
    problem of the file (it is recorded against the instance and table)."""
    name = instance.name
    record = ctx.record(name, table.name)
    path = folder / sheet.file
    where = f"instance {name}, table {table.name}: file {path}" + (
        f", sheet {sheet.sheet!r}" if sheet.sheet else ""
    )
    if not folder.is_dir():
        record.fail(
            f"instance {name}, table {table.name}: folder {folder} does not exist (path: in "
            f"tables.yml or TW_SOURCE_{name.upper()}_PATH)"
        )
        return
    if not path.is_file():
        record.fail(f"{where}: file not found")
        return
    try:
        digest = content_hash(path, table, sheet)
    except OSError as exc:
        record.fail(f"{where}: cannot read the file: {exc.strerror or exc}")
        return
    # A backfill (`warehouse backfill`) reads the file again whatever its hash.
    if ctx.since is None and digest == state.get("content_hash") and (
        state.get("loaded_rows") == 0 or raw_has_rows(ctx, table, name)
    ):
        # Unchanged since its last load, and raw still holds it (a raw table dropped or
        # restored empty is filled again from the same file): nothing to read.
        record.succeed()
        ctx.notify(name, table.name, "done", 0)
        return
    zone = zoneinfo.ZoneInfo(table.time_zone)
    found = QuarantineSet(name, table.name)
    schema = source_schema(table)
    buffer: dict[str, list[Any]] = {f.name: [] for f in schema}
    kept_keys: set[int] = set()
    loaded = 0
    # Raw batches are handed to dlt only once the whole file was read: a file that fails half
    # way must not replace the instance's rows with half of them. Memory is the file's rows as
    # arrow (a sheet holds at most ~1M rows), not Python objects.
    batches: list[pa.Table] = []
    try:
        present = raw_keys(ctx, table, name)
        rows = _data_rows(path, sheet, table, record)
        first_rows: dict[int, int] = {}
        for number, values in rows:
            record.rows_extracted += 1
            bad = _bad_cells(values, table, zone, found, sheet, number, ctx.salt)
            if not bad and table.has_key:
                key = values[table.primary_key]
                if key in first_rows:
                    bad = True
                    found.cells.append(
                        _cell(sheet, number, table.column(table.primary_key), values[table.primary_key],
                              f"duplicate primary key (first at row {first_rows[key]}); the first "
                              "row is loaded", ctx.salt)
                    )
                else:
                    first_rows[key] = number
            if bad:
                continue
            for field in schema:
                buffer[field.name].append(values[field.name])
            if table.has_key:
                kept_keys.add(values[table.primary_key])
            if len(buffer[schema.names[0]]) >= table.chunk_rows:
                loaded += len(buffer[schema.names[0]])
                batches.append(to_raw(pa.table(buffer, schema=schema), table, name, ctx.salt,
                                      ctx.extracted_at))
                buffer = {f.name: [] for f in schema}
                ctx.notify(name, table.name, "extract", record.rows_extracted)
        if buffer[schema.names[0]]:
            loaded += len(buffer[schema.names[0]])
            batches.append(to_raw(pa.table(buffer, schema=schema), table, name, ctx.salt,
                                  ctx.extracted_at))
    except (SheetUnreadable, _HeaderError) as exc:
        record.fail(f"{where}: {exc}")
        return
    except Exception as exc:  # a damaged file openpyxl cannot parse, the warehouse: this table only
        record.fail(f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())}")
        return
    yield from batches
    if loaded == 0:
        # Nothing to insert: a hard-delete marker still carries the merge key, so the
        # instance's old rows are deleted.
        yield deletions(pa.array([_EMPTY_MARKER_KEY], pa.int64()), table, name, ctx.extracted_at)

    record.rows_loaded = loaded
    if present is not None:
        record.rows_deleted = len(present - kept_keys) if table.has_key else len(present)
    ctx.quarantine.append(found)
    state["content_hash"] = digest
    state["loaded_rows"] = loaded
    record.bad_values.extend(
        BadValue(name, table.name, f"row {c.row_number}", c.column_name, c.reason)
        for c in found.cells
    )
    record.succeed()
    if found.cells:
        rows_out = len({c.row_number for c in found.cells})
        listed = "; ".join(
            f"{c.file_name}{f' sheet {c.sheet_name}' if c.sheet_name else ''} row "
            f"{c.row_number} column {c.column_name}: {c.reason}"
            for c in found.cells[:20]
        )
        more = f" (+{len(found.cells) - 20} more)" if len(found.cells) > 20 else ""
        # Said as it is (quarantined, not loaded), with the file's schema notices kept.
        record.error_message = "; ".join(
            [f"schema change: {notice}" for notice in record.notices]
            + [f"{rows_out} row(s) quarantined in raw._tw_quarantine, not loaded: {listed}{more}"]
        )
    ctx.notify(name, table.name, "done", record.rows_extracted)


class _HeaderError(Exception):
    pass


def _data_rows(
    path: Path, sheet: SheetTable, table: TableConfig, record: Any
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, {column: cell}) of every non-blank row below the header row."""
    wanted = [c.name for c in table.source_columns]
    positions: dict[str, int] | None = None
    for number, cells in iter_rows(path, sheet.sheet, sheet.delimiter, sheet.encoding):
        if number < sheet.header_row:
            continue
        if positions is None:
            headers = [normalise_header(c) for c in cells]
            seen = [h for h in headers if h]
            duplicates = sorted({h for h in seen if seen.count(h) > 1})
            if duplicates:
                raise _HeaderError(f"header row {number}: column(s) {', '.join(duplicates)} "
                                   "appear more than once")
            missing = [w for w in wanted if w not in headers]
            if missing:
                raise _HeaderError(
                    f"header row {number}: configured column(s) {', '.join(missing)} not found "
                    f"(header: {', '.join(seen) or 'empty'})"
                )
            positions = {w: headers.index(w) for w in wanted}
            extra = [h for h in seen if h not in {c.name for c in table.columns}]
            if extra:
                record.notices.append(
                    f"column(s) in the file but not in tables.yml, not ingested: {', '.join(extra)}"
                )
            continue
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        yield number, {w: (cells[i] if i < len(cells) else None) for w, i in positions.items()}
    if positions is None:
        raise _HeaderError(f"no header row (expected at row {sheet.header_row})")


def _bad_cells(
    values: dict[str, Any],
    table: TableConfig,
    zone: zoneinfo.ZoneInfo,
    found: QuarantineSet,
    sheet: SheetTable,
    number: int,
    salt: str,
) -> bool:
    """Parse the row in place; record every bad cell. True when the row has one."""
    bad = False
    for column, parse in _parsers(table):
        cell = values[column.name]
        try:
            values[column.name] = parse(cell, zone)
            if values[column.name] is None and column.name == table.primary_key:
                raise BadCell("the primary key is empty")
        except BadCell as exc:
            found.cells.append(_cell(sheet, number, column, cell, str(exc), salt))
            bad = True
    return bad


@functools.lru_cache(maxsize=256)
def _parsers(table: TableConfig) -> tuple[tuple[ColumnConfig, CellParser], ...]:
    return tuple((c, cell_parser(c)) for c in table.source_columns)


def _cell(
    sheet: SheetTable, number: int, column: ColumnConfig, value: Any, reason: str, salt: str
) -> QuarantinedCell:
    text = None if value is None else (value.isoformat() if isinstance(value, dt.date)
                                       else str(value))
    if text is not None and column.policy == "hash":
        text = hash_value(text, salt)  # personal data never lands readable, not even here
    elif column.policy == "drop":
        text = None
    return QuarantinedCell(sheet.file, sheet.sheet, number, column.name, text, reason)


def raw_has_rows(ctx: RunContext, table: TableConfig, instance: str) -> bool:
    """Whether raw holds any row of the instance's table (one indexed probe, not a count)."""
    try:
        with ctx.destination._client() as client:  # the run's open connection
            sql = (
                f"SELECT 1 FROM {client.make_qualified_table_name(table.name)} "
                f"WHERE {INSTANCE_COLUMN} = %s LIMIT 1"
            )
            with client.execute_query(sql, instance) as cursor:
                return cursor.fetchone() is not None
    except DatabaseUndefinedRelation:
        return False


def raw_keys(ctx: RunContext, table: TableConfig, instance: str) -> set[Any] | None:
    """Primary keys (or, without a key, row positions) raw holds for the instance; None when
    the raw table does not exist yet."""
    column = table.primary_key if table.has_key else "1"
    try:
        with ctx.destination._client() as client:  # the run's open connection
            sql = (
                f"SELECT {column} FROM {client.make_qualified_table_name(table.name)} "
                f"WHERE {INSTANCE_COLUMN} = %s"
            )
            with client.execute_query(sql, instance) as cursor:
                rows = cursor.fetchall()
    except DatabaseUndefinedRelation:
        return None
    if table.has_key:
        return {row[0] for row in rows}
    return set(range(len(rows)))
