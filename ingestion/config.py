"""Load and validate ingestion/tables.yml into frozen dataclasses.

Every mistake raises ConfigError whose message starts with the file and the dotted key that is
wrong (for example `tables.users.columns.email.policy`), then says why, so an operator can fix
the file without reading this module.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).with_name("tables.yml")

COLUMN_TYPES = ("bigint", "double", "boolean", "text", "timestamp", "date")
POLICIES = ("keep", "hash", "drop")
WRITE_DISPOSITIONS = ("merge",)
# Identifiers are interpolated into SQL (quoted), so only plain lower-case names are accepted.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Names the ingestion layer adds to every raw row; a source column may not take them.
RESERVED_COLUMNS = ("instance_id", "_tw_extracted_at", "_tw_deleted", "_dlt_load_id", "_dlt_id")

_TOP_KEYS = {"version", "instances", "exclude", "defaults", "tables"}
_DEFAULT_KEYS = {"cursor", "write_disposition", "lag_seconds", "chunk_rows", "reconcile_every"}
_TABLE_KEYS = _DEFAULT_KEYS | {"primary_key", "soft_delete", "columns"}
_COLUMN_KEYS = {"type", "policy"}
_BUILTIN_DEFAULTS: dict[str, Any] = {
    "cursor": "updated_at",
    "write_disposition": "merge",
    "lag_seconds": 3600,
    "chunk_rows": 100_000,
    "reconcile_every": 0,
}


class ConfigError(ValueError):
    """tables.yml (or a selection of instances/tables) is invalid; the message names the key."""


@dataclass(frozen=True)
class ColumnConfig:
    name: str
    type: str
    policy: str = "keep"

    @property
    def output_name(self) -> str:
        """Name in the warehouse: hashed columns are renamed so nobody mistakes them for values."""
        return f"{self.name}_hash" if self.policy == "hash" else self.name

    @property
    def output_type(self) -> str:
        return "text" if self.policy == "hash" else self.type


@dataclass(frozen=True)
class TableConfig:
    name: str
    primary_key: str
    cursor: str
    columns: tuple[ColumnConfig, ...]
    lag_seconds: int = 3600
    chunk_rows: int = 100_000
    reconcile_every: int = 0
    soft_delete: str | None = None
    write_disposition: str = "merge"

    @property
    def source_columns(self) -> tuple[ColumnConfig, ...]:
        """Columns selected from the source: dropped ones are never read."""
        return tuple(c for c in self.columns if c.policy != "drop")

    def column(self, name: str) -> ColumnConfig:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


@dataclass(frozen=True)
class IngestionConfig:
    instances: tuple[str, ...]
    tables: Mapping[str, TableConfig]
    exclude: tuple[str, ...] = ()
    path: Path = field(default=DEFAULT_PATH)

    def is_excluded(self, table: str) -> bool:
        return any(fnmatch.fnmatchcase(table, pattern) for pattern in self.exclude)

    def select_instances(self, wanted: Iterable[str] | None) -> list[str]:
        if wanted is None:
            return list(self.instances)
        chosen = _unique(wanted)
        for instance in chosen:
            if instance not in self.instances:
                raise ConfigError(
                    f"{self.path}: instances: unknown instance {instance!r} "
                    f"(configured: {', '.join(self.instances)})"
                )
        return chosen

    def select_tables(self, wanted: Iterable[str] | None) -> list[TableConfig]:
        if wanted is None:
            return list(self.tables.values())
        chosen = _unique(wanted)
        for table in chosen:
            if self.is_excluded(table):
                raise ConfigError(
                    f"{self.path}: exclude: table {table!r} is excluded from ingestion "
                    "(excluded tables never leave the source)"
                )
            if table not in self.tables:
                raise ConfigError(
                    f"{self.path}: tables: unknown table {table!r} "
                    f"(configured: {', '.join(self.tables)})"
                )
        return [self.tables[name] for name in chosen]


def load_config(path: str | Path | None = None) -> IngestionConfig:
    """Read and validate tables.yml (the packaged one unless `path` is given)."""
    source = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the ingestion config: {exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    return parse_config(document, source)


def parse_config(document: Any, path: Path = DEFAULT_PATH) -> IngestionConfig:
    """Validate an already parsed document (tests build documents in memory)."""
    where = _Where(path)
    doc = where.mapping(document, "", _TOP_KEYS)
    version = doc.get("version", 1)
    if version != 1:
        raise where.error("version", f"unsupported version {version!r} (expected 1)")

    instances = _parse_instances(doc.get("instances"), where)
    exclude = tuple(where.string_list(doc.get("exclude") or [], "exclude"))
    defaults = dict(_BUILTIN_DEFAULTS)
    defaults.update(where.mapping(doc.get("defaults") or {}, "defaults", _DEFAULT_KEYS))

    raw_tables = where.mapping(doc.get("tables"), "tables", None)
    if not raw_tables:
        raise where.error("tables", "no tables configured")
    tables: dict[str, TableConfig] = {}
    for name, spec in raw_tables.items():
        key = f"tables.{name}"
        where.identifier(name, key)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude):
            raise where.error(
                key, "table is excluded by the `exclude` list; excluded tables never leave "
                "the source, so it cannot be configured for ingestion"
            )
        tables[name] = _parse_table(name, spec, defaults, where)
    return IngestionConfig(instances=instances, tables=tables, exclude=exclude, path=path)


def _parse_instances(value: Any, where: _Where) -> tuple[str, ...]:
    if value is None:
        raise where.error("instances", "missing: list the instance ids, e.g. [uk, au, fr]")
    instances = where.string_list(value, "instances")
    if not instances:
        raise where.error("instances", "at least one instance is required")
    for index, instance in enumerate(instances):
        where.identifier(instance, f"instances[{index}]")
    if len(set(instances)) != len(instances):
        raise where.error("instances", "instance ids must be unique")
    return tuple(instances)


def _parse_table(name: str, spec: Any, defaults: Mapping[str, Any], where: _Where) -> TableConfig:
    key = f"tables.{name}"
    table = where.mapping(spec, key, _TABLE_KEYS)
    settings = {**defaults, **{k: v for k, v in table.items() if k in _DEFAULT_KEYS}}

    raw_columns = where.mapping(table.get("columns"), f"{key}.columns", None)
    if not raw_columns:
        raise where.error(f"{key}.columns", "missing: list the columns to ingest with their types")
    columns = tuple(
        _parse_column(column, value, f"{key}.columns.{column}", where)
        for column, value in raw_columns.items()
    )
    by_name = {c.name: c for c in columns}
    outputs = [c.output_name for c in columns if c.policy != "drop"]
    for output in outputs:
        if outputs.count(output) > 1:
            raise where.error(f"{key}.columns", f"two columns land as {output!r}")

    primary_key = table.get("primary_key")
    if primary_key is None:
        raise where.error(f"{key}.primary_key", "missing primary key")
    if not isinstance(primary_key, str):
        raise where.error(
            f"{key}.primary_key", "must be one column name (raw keys are instance_id + it)"
        )
    _require_column(by_name, primary_key, ("bigint",), f"{key}.primary_key", where)

    cursor = settings["cursor"]
    if not isinstance(cursor, str):
        raise where.error(f"{key}.cursor", "must be a column name")
    _require_column(by_name, cursor, ("timestamp",), f"{key}.cursor", where)

    soft_delete = table.get("soft_delete")
    if soft_delete is not None:
        if not isinstance(soft_delete, str):
            raise where.error(f"{key}.soft_delete", "must be a column name")
        _require_column(by_name, soft_delete, ("timestamp", "boolean"), f"{key}.soft_delete", where)

    disposition = settings["write_disposition"]
    if disposition not in WRITE_DISPOSITIONS:
        raise where.error(
            f"{key}.write_disposition",
            f"unsupported {disposition!r} (expected one of {', '.join(WRITE_DISPOSITIONS)})",
        )
    return TableConfig(
        name=name,
        primary_key=primary_key,
        cursor=cursor,
        columns=columns,
        lag_seconds=where.non_negative_int(settings["lag_seconds"], f"{key}.lag_seconds"),
        chunk_rows=where.positive_int(settings["chunk_rows"], f"{key}.chunk_rows"),
        reconcile_every=where.non_negative_int(
            settings["reconcile_every"], f"{key}.reconcile_every"
        ),
        soft_delete=soft_delete,
        write_disposition=disposition,
    )


def _parse_column(name: Any, value: Any, key: str, where: _Where) -> ColumnConfig:
    where.identifier(name, key)
    if name in RESERVED_COLUMNS:
        raise where.error(key, f"{name!r} is reserved for the columns ingestion adds")
    if isinstance(value, str):
        spec: dict[str, Any] = {"type": value}
    else:
        spec = where.mapping(value, key, _COLUMN_KEYS)
    column_type = spec.get("type")
    if column_type not in COLUMN_TYPES:
        raise where.error(
            f"{key}.type", f"unknown type {column_type!r} (expected one of {', '.join(COLUMN_TYPES)})"
        )
    policy = spec.get("policy", "keep")
    if policy not in POLICIES:
        raise where.error(
            f"{key}.policy", f"unknown policy {policy!r} (expected one of {', '.join(POLICIES)})"
        )
    if policy == "hash" and column_type != "text":
        raise where.error(f"{key}.policy", "only text columns can be hashed")
    return ColumnConfig(name=name, type=column_type, policy=policy)


def _require_column(
    columns: Mapping[str, ColumnConfig],
    name: str,
    types: Sequence[str],
    key: str,
    where: _Where,
) -> None:
    column = columns.get(name)
    if column is None:
        raise where.error(key, f"column {name!r} is not among the table's columns")
    if column.type not in types:
        raise where.error(key, f"column {name!r} must be of type {' or '.join(types)}")
    if column.policy != "keep":
        raise where.error(key, f"column {name!r} cannot be hashed or dropped")


def _unique(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(values))


class _Where:
    """Builds ConfigErrors that start with the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, cause: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key or '<top level>'}: {cause}")

    def mapping(self, value: Any, key: str, allowed: set[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                raise self.error(
                    key, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
                )
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of names")
        return list(value)

    def identifier(self, value: Any, key: str) -> None:
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            raise self.error(key, f"{value!r} is not a plain lower-case identifier")

    def non_negative_int(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(key, f"expected a whole number >= 0, got {value!r}")
        return value

    def positive_int(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f"expected a whole number >= 1, got {value!r}")
        return value
