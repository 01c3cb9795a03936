"""Validation of the keys of the `spreadsheets` and `rest_api` instance kinds in tables.yml.

Registered in ingestion/config.py's INSTANCE_VALIDATORS; each validator receives the instance's
mapping (without `kind` and `source_time_zone`) and returns frozen options, raising a ConfigError
that names the file and the dotted key, like every other config mistake:

    instances:
      sheets:
        kind: spreadsheets
        path: business_sheets          # folder; relative to tables.yml's folder
        tables:
          budgets: {file: budgets.xlsx, sheet: "2026"}
          targets: {file: targets.csv}
      crm:
        kind: rest_api
        base_url: https://crm.example.org/api/v1/   # TW_SOURCE_CRM_URL overrides
        auth: bearer                                # token from TW_SOURCE_CRM_TOKEN
        paginator: {type: offset, limit: 100, offset_param: start, limit_param: limit}
        tables:
          deals:
            path: deals
            data_selector: data
            incremental: {param: updated_since, cursor: update_time}
            deleted_flag: deleted
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

# No import of ingestion.config at module level: it imports this module to register the
# validators, so either can be imported first.

SPREADSHEET_SUFFIXES = (".csv", ".xlsx")
AUTH_KINDS = ("none", "bearer", "api_key")
PAGINATOR_TYPES = {
    # dlt's paginator type -> the keys it takes (dlt.sources.helpers.rest_client.paginators)
    "offset": {"limit", "offset", "offset_param", "limit_param", "total_path", "maximum_offset",
               "stop_after_empty_page", "has_more_path"},
    "page_number": {"base_page", "page", "page_param", "total_path", "maximum_page",
                    "stop_after_empty_page", "has_more_path"},
    "cursor": {"cursor_path", "cursor_param", "stop_after_empty_page", "has_more_path"},
    "json_link": {"next_url_path"},
    "header_link": {"links_next_key"},
    "single_page": set(),
}
_SPREADSHEET_KEYS = {"path", "tables"}
_SHEET_TABLE_KEYS = {"file", "sheet", "header_row", "delimiter", "encoding"}
_REST_KEYS = {"base_url", "auth", "api_key_name", "paginator", "tables", "headers"}
_ENDPOINT_KEYS = {"path", "params", "data_selector", "paginator", "incremental", "deleted_flag",
                  "fields"}
_INCREMENTAL_KEYS = {"param", "cursor", "initial_value", "format"}
_INCREMENTAL_FORMATS = ("iso8601", "unix", "date_time")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-\[\]]*$")


@dataclass(frozen=True)
class SheetTable:
    """Where one table's rows are: a CSV file, or one sheet of an XLSX workbook."""

    file: str
    sheet: str | None = None
    header_row: int = 1
    delimiter: str = ","
    encoding: str = "utf-8-sig"


@dataclass(frozen=True)
class SpreadsheetOptions:
    path: str
    tables: Mapping[str, SheetTable]


@dataclass(frozen=True)
class Incremental:
    param: str
    """Query parameter sent with the last cursor seen (e.g. updated_since)."""
    cursor: str
    """Field of each item holding its change time (e.g. update_time)."""
    initial_value: str | None = None
    """Oldest change to ask for on a first run (ISO 8601); None: the whole listing."""
    format: str = "iso8601"
    """How the parameter is written: iso8601 (2026-12-01T10:00:00Z), date_time
    (2026-12-01 10:00:00, Pipedrive's form) or unix (seconds)."""


@dataclass(frozen=True)
class Endpoint:
    path: str
    data_selector: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    paginator: Mapping[str, Any] | None = None
    incremental: Incremental | None = None
    deleted_flag: str | None = None
    """Item field that is true for an item the API reports as deleted: its row is deleted."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Column -> dotted path in the item (`org_id.value`, `email.0.value`); default: the
    column's own name."""


@dataclass(frozen=True)
class RestApiOptions:
    base_url: str | None
    auth: str
    api_key_name: str
    paginator: Mapping[str, Any] | None
    headers: Mapping[str, str]
    tables: Mapping[str, Endpoint]


def validate_spreadsheets(
    name: str, spec: dict[str, Any], key: str, where: Any
) -> dict[str, Any]:
    spec = where.mapping(spec, key, _SPREADSHEET_KEYS)
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip():
        raise where.error(f"{key}.path", "missing: the folder holding the CSV/XLSX files")
    tables_spec = where.mapping(spec.get("tables"), f"{key}.tables", None)
    if not tables_spec:
        raise where.error(f"{key}.tables", "no tables: map each table to its file (and sheet)")
    tables: dict[str, SheetTable] = {}
    for table, value in tables_spec.items():
        tkey = f"{key}.tables.{table}"
        where.identifier(table, tkey)
        entry = where.mapping(value, tkey, _SHEET_TABLE_KEYS)
        file = entry.get("file")
        if not isinstance(file, str) or not file:
            raise where.error(f"{tkey}.file", "missing: the file name inside the folder")
        pure = PurePath(file)
        if pure.is_absolute() or ".." in pure.parts:
            raise where.error(f"{tkey}.file", f"{file!r} must be a name inside {path!r}")
        suffix = pure.suffix.lower()
        if suffix not in SPREADSHEET_SUFFIXES:
            raise where.error(
                f"{tkey}.file", f"{file!r}: unsupported file type (expected .csv or .xlsx)"
            )
        sheet = entry.get("sheet")
        if suffix == ".csv" and sheet is not None:
            raise where.error(f"{tkey}.sheet", "a CSV file has no sheets; remove the key")
        if sheet is not None and not isinstance(sheet, str | int):
            raise where.error(f"{tkey}.sheet", "expected the sheet's name")
        header_row = where.positive_int(entry.get("header_row", 1), f"{tkey}.header_row")
        delimiter = entry.get("delimiter", ",")
        if suffix != ".csv" and "delimiter" in entry:
            raise where.error(f"{tkey}.delimiter", "only a CSV file has a delimiter")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise where.error(f"{tkey}.delimiter", f"expected one character, got {delimiter!r}")
        encoding = entry.get("encoding", "utf-8-sig")
        try:
            "".encode(encoding)
        except (LookupError, TypeError):
            raise where.error(f"{tkey}.encoding", f"unknown encoding {encoding!r}") from None
        tables[table] = SheetTable(
            file=file,
            sheet=None if sheet is None else str(sheet),
            header_row=header_row,
            delimiter=delimiter,
            encoding=encoding,
        )
    return {"options": SpreadsheetOptions(path=path, tables=tables)}


def validate_rest_api(name: str, spec: dict[str, Any], key: str, where: Any) -> dict[str, Any]:
    spec = where.mapping(spec, key, _REST_KEYS)
    base_url = spec.get("base_url")
    if base_url is not None and (
        not isinstance(base_url, str) or not re.match(r"^https?://[^\s]+$", base_url)
    ):
        raise where.error(f"{key}.base_url", f"expected an http(s) URL, got {base_url!r}")
    auth = spec.get("auth", "none")
    if auth not in AUTH_KINDS:
        raise where.error(
            f"{key}.auth", f"unknown auth {auth!r} (expected one of {', '.join(AUTH_KINDS)}; "
            f"the secret comes from TW_SOURCE_{name.upper()}_TOKEN, never from this file)"
        )
    api_key_name = spec.get("api_key_name", "api_token")
    if not isinstance(api_key_name, str) or not _PARAM_NAME.match(api_key_name):
        raise where.error(f"{key}.api_key_name", f"not a query parameter name: {api_key_name!r}")
    headers = where.mapping(spec.get("headers") or {}, f"{key}.headers", None)
    for header, value in headers.items():
        if not isinstance(value, str):
            raise where.error(f"{key}.headers.{header}", "expected text")
        if header.lower() in ("authorization", "x-api-key", "api-key", "api_token"):
            raise where.error(
                f"{key}.headers.{header}", "secrets never go in tables.yml: use auth and "
                f"TW_SOURCE_{name.upper()}_TOKEN"
            )
    paginator = _paginator(spec.get("paginator"), f"{key}.paginator", where)
    tables_spec = where.mapping(spec.get("tables"), f"{key}.tables", None)
    if not tables_spec:
        raise where.error(f"{key}.tables", "no tables: map each table to its endpoint")
    tables: dict[str, Endpoint] = {}
    for table, value in tables_spec.items():
        tkey = f"{key}.tables.{table}"
        where.identifier(table, tkey)
        entry = where.mapping(value, tkey, _ENDPOINT_KEYS)
        path = entry.get("path")
        if not isinstance(path, str) or not path or path.startswith(("http://", "https://")):
            raise where.error(f"{tkey}.path", "missing: the endpoint's path under base_url")
        selector = entry.get("data_selector")
        if selector is not None and not isinstance(selector, str):
            raise where.error(f"{tkey}.data_selector", "expected a JSON path such as data")
        params = where.mapping(entry.get("params") or {}, f"{tkey}.params", None)
        for param, pvalue in params.items():
            if not isinstance(pvalue, str | int | float | bool):
                raise where.error(f"{tkey}.params.{param}", "expected a plain value")
        incremental = _incremental(entry.get("incremental"), f"{tkey}.incremental", where)
        deleted_flag = entry.get("deleted_flag")
        if deleted_flag is not None and not isinstance(deleted_flag, str):
            raise where.error(f"{tkey}.deleted_flag", "expected the item field's name")
        fields = where.mapping(entry.get("fields") or {}, f"{tkey}.fields", None)
        for column, item_path in fields.items():
            if not isinstance(item_path, str) or not item_path:
                raise where.error(f"{tkey}.fields.{column}", "expected a dotted path such as org_id.value")
        tables[table] = Endpoint(
            path=path,
            fields=dict(fields),
            data_selector=selector,
            params=dict(params),
            paginator=_paginator(entry.get("paginator"), f"{tkey}.paginator", where),
            incremental=incremental,
            deleted_flag=deleted_flag,
        )
    options = RestApiOptions(
        base_url=base_url,
        auth=auth,
        api_key_name=api_key_name,
        paginator=paginator,
        headers=dict(headers),
        tables=tables,
    )
    return {"options": options}


def _paginator(value: Any, key: str, where: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    spec = where.mapping(value, key, None)
    kind = spec.get("type")
    if kind not in PAGINATOR_TYPES:
        raise where.error(
            f"{key}.type", f"unknown paginator {kind!r} (expected one of "
            f"{', '.join(PAGINATOR_TYPES)})"
        )
    unknown = sorted(str(k) for k in spec if k != "type" and k not in PAGINATOR_TYPES[kind])
    if unknown:
        raise where.error(
            key, f"unknown key(s) {', '.join(unknown)} for paginator {kind} (allowed: "
            f"{', '.join(sorted(PAGINATOR_TYPES[kind])) or 'none'})"
        )
    if kind == "offset" and "limit" not in spec:
        raise where.error(f"{key}.limit", "missing: items per page")
    return dict(spec)


def _incremental(value: Any, key: str, where: Any) -> Incremental | None:
    if value is None:
        return None
    spec = where.mapping(value, key, _INCREMENTAL_KEYS)
    for required in ("param", "cursor"):
        if not isinstance(spec.get(required), str) or not spec[required]:
            raise where.error(f"{key}.{required}", "missing")
    fmt = spec.get("format", "iso8601")
    if fmt not in _INCREMENTAL_FORMATS:
        raise where.error(
            f"{key}.format", f"unknown format {fmt!r} (expected one of "
            f"{', '.join(_INCREMENTAL_FORMATS)})"
        )
    initial = spec.get("initial_value")
    if initial is not None:
        try:
            dt.datetime.fromisoformat(str(initial))
        except ValueError:
            raise where.error(
                f"{key}.initial_value", f"expected an ISO 8601 timestamp, got {initial!r}"
            ) from None
        initial = str(initial)
    return Incremental(param=spec["param"], cursor=spec["cursor"], initial_value=initial,
                       format=fmt)


def options_of(instance: Any) -> Any:
    """The validated options object of an InstanceConfig of kind spreadsheets / rest_api."""
    from ingestion.config import ConfigError

    options = getattr(instance, "options", None) or {}
    value = options.get("options")
    if value is None:
        raise ConfigError(f"instance {instance.name}: kind {instance.kind} has no validated options")
    return value


def declared_tables(instance: Any) -> tuple[str, ...]:
    """Tables a spreadsheets / rest_api instance serves (the keys of its `tables`)."""
    if getattr(instance, "kind", "database") == "database":
        return ()
    return tuple(options_of(instance).tables)


def register(validators: dict[str, Any]) -> None:
    validators["spreadsheets"] = validate_spreadsheets
    validators["rest_api"] = validate_rest_api


def claim_tables(
    tables: dict[str, Any],
    instance_configs: Mapping[str, Any],
    raw_tables: Mapping[str, Any],
    where: Any,
) -> dict[str, Any]:
    """Give each table declared under a spreadsheets / rest_api instance to that instance.

    Such a table is held by the instances that declare it and, only if its own `instances:`
    lists them, by database instances too (it is not read from every database by default)."""
    from dataclasses import replace

    claimed: dict[str, list[str]] = {}
    for name, instance in instance_configs.items():
        for table in declared_tables(instance):
            if table not in tables:
                raise where.error(
                    f"instances.{name}.tables.{table}",
                    f"no table {table!r} under `tables:` (declare its columns and types there)",
                )
            claimed.setdefault(table, []).append(name)
    for name, instance in instance_configs.items():
        if getattr(instance, "kind", "") != "rest_api":
            continue
        for table in declared_tables(instance):
            spec = tables[table]
            if spec.primary_key is None or spec.cursor is None:
                raise where.error(
                    f"tables.{table}", f"served by the REST API instance {name}: needs a primary "
                    "key and a cursor (the item's change time), not none"
                )
            unknown = sorted(set(options_of(instance).tables[table].fields) - {c.name for c in spec.columns})
            if unknown:
                raise where.error(
                    f"instances.{name}.tables.{table}.fields",
                    f"not columns of table {table}: {', '.join(unknown)}",
                )
    result = dict(tables)
    for table, holders in claimed.items():
        explicit = "instances" in (raw_tables.get(table) or {})
        databases = tables[table].instances if explicit else ()
        result[table] = replace(tables[table], instances=tuple(databases) + tuple(holders))
    return result
