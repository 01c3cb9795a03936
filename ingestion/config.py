"""Load and validate an ingestion config (tables.yml) into frozen dataclasses.

Every mistake raises ConfigError whose message starts with the file and the dotted key that is
wrong (for example `tables.users.columns.email.policy`), then says why, so an operator can fix
the file without reading this module.
"""

from __future__ import annotations

import fnmatch
import os
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

# The reference platform profile's config; `warehouse --platform NAME` uses platforms/NAME/.
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "platforms" / "reference" / "tables.yml"
# Environment variable naming the config file (`warehouse --config PATH` sets it too).
CONFIG_ENV = "TW_CONFIG"

# `decimal(P,S)` is a type family of its own, written with its precision and scale.
COLUMN_TYPES = ("bigint", "double", "boolean", "text", "timestamp", "date", "json", "bytes")
DECIMAL_TYPE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
MAX_DECIMAL_PRECISION = 38  # DuckDB, PostgreSQL numeric(P,S) in raw and BigQuery BIGNUMERIC
POLICIES = ("keep", "hash", "drop")
WRITE_DISPOSITIONS = ("merge",)
INSTANCE_KINDS = ("database", "spreadsheets", "rest_api")
# `cursor: none` / `primary_key: none` (YAML `none` is the string "none"; `null` means the same).
NONE = "none"
# Identifiers are interpolated into SQL (quoted), so only plain lower-case names are accepted.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Names the ingestion layer adds to every raw row; a source column may not take them.
RESERVED_COLUMNS = (
    "instance_id", "_tw_extracted_at", "_tw_deleted", "_tw_row_hash", "_dlt_load_id", "_dlt_id",
)

_TOP_KEYS = {"version", "instances", "exclude", "defaults", "tables"}
_DEFAULT_KEYS = {"cursor", "write_disposition", "lag_seconds", "chunk_rows", "reconcile_every"}
_TABLE_KEYS = _DEFAULT_KEYS | {
    "primary_key", "soft_delete", "columns", "source_time_zone", "instances",
}
_COLUMN_KEYS = {"type", "policy"}
_INSTANCE_KEYS = {"kind", "source_time_zone"}
_BUILTIN_DEFAULTS: dict[str, Any] = {
    "cursor": "updated_at",
    "write_disposition": "merge",
    "lag_seconds": 3600,
    "chunk_rows": 100_000,
}
# reconcile_every when neither the table nor `defaults` gives it: every run for a table whose
# deletes are hard (no soft_delete column), else only when forced.
RECONCILE_HARD_DELETES = 1
RECONCILE_SOFT_DELETES = 0


class ConfigError(ValueError):
    """tables.yml (or a selection of instances/tables) is invalid; the message names the key."""


# HOOK for the other instance kinds (spreadsheets, rest_api): kind -> validator of the kind's own
# keys. It receives the instance id, the instance's mapping without `kind`/`source_time_zone`,
# the dotted key (`instances.<id>`) and a _Where to raise errors with; it returns the validated
# options, kept in InstanceConfig.options. A kind without a validator accepts no other key.
InstanceValidator = Callable[[str, dict[str, Any], str, "_Where"], Mapping[str, Any]]
INSTANCE_VALIDATORS: dict[str, InstanceValidator] = {}


@dataclass(frozen=True)
class InstanceConfig:
    """One platform instance: an application database (kind `database`) or another source."""

    name: str
    kind: str = "database"
    source_time_zone: str = "UTC"
    """Zone of the source's timestamps without time zone (naive), an IANA name."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific keys, validated by INSTANCE_VALIDATORS[kind]."""


@dataclass(frozen=True)
class ColumnConfig:
    name: str
    type: str
    """One of COLUMN_TYPES, or `decimal(P,S)` (normalised, no spaces)."""
    policy: str = "keep"

    @property
    def output_name(self) -> str:
        """Name in the warehouse: hashed columns are renamed so nobody mistakes them for values."""
        return f"{self.name}_hash" if self.policy == "hash" else self.name

    @property
    def output_type(self) -> str:
        return "text" if self.policy == "hash" else self.type

    @property
    def family(self) -> str:
        """The type without precision and scale: `decimal` for `decimal(P,S)`."""
        return "decimal" if self.type.startswith("decimal(") else self.type

    @property
    def decimal(self) -> tuple[int, int]:
        """(precision, scale) of a decimal column."""
        match = DECIMAL_TYPE.match(self.type)
        if match is None:
            raise ValueError(f"column {self.name} is not a decimal")
        return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class TableConfig:
    name: str
    primary_key: str | None
    """None (`primary_key: none`): no key; the table is replaced whole, per instance, each run."""
    cursor: str | None
    """None (`cursor: none`): read whole each run, the difference applied by primary key."""
    columns: tuple[ColumnConfig, ...]
    lag_seconds: int = 3600
    chunk_rows: int = 100_000
    reconcile_every: int = 0
    soft_delete: str | None = None
    write_disposition: str = "merge"
    source_time_zone: str | None = None
    """Zone of naive source timestamps; None = the instance's (IngestionConfig.for_instance
    resolves it)."""
    instances: tuple[str, ...] = ()
    """Instances that hold the table (default: every instance of kind database)."""

    @property
    def has_key(self) -> bool:
        return self.primary_key is not None

    @property
    def is_incremental(self) -> bool:
        """Read by cursor window (the default), as opposed to read whole every run."""
        return self.cursor is not None and self.primary_key is not None

    @property
    def compares_rows(self) -> bool:
        """`cursor: none` with a key: changes found by comparing row hashes with raw."""
        return self.cursor is None and self.primary_key is not None

    @property
    def replaces_whole(self) -> bool:
        """`primary_key: none`: the instance's rows are replaced whole."""
        return self.primary_key is None

    @property
    def time_zone(self) -> str:
        return self.source_time_zone or "UTC"

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
    instance_configs: Mapping[str, InstanceConfig] = field(default_factory=dict)

    def instance(self, name: str) -> InstanceConfig:
        return self.instance_configs.get(name) or InstanceConfig(name)

    def instances_of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(i for i in self.instances if self.instance(i).kind == kind)

    def for_instance(self, table: TableConfig, instance: str) -> TableConfig:
        """The table as read from one instance: its source time zone resolved (the table's,
        else the instance's)."""
        zone = table.source_time_zone or self.instance(instance).source_time_zone
        return replace(table, source_time_zone=zone)

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


def config_path(path: str | Path | None = None) -> Path:
    """The config file in use: `path`, else $TW_CONFIG, else DEFAULT_PATH (reference profile)."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_PATH


def load_config(path: str | Path | None = None) -> IngestionConfig:
    """Read and validate the ingestion config: `path`, else $TW_CONFIG, else the reference
    profile's tables.yml."""
    source = config_path(path)
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

    instance_configs = _parse_instances(doc.get("instances"), where)
    instances = tuple(instance_configs)
    database_instances = tuple(i for i, c in instance_configs.items() if c.kind == "database")
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
        tables[name] = _parse_table(name, spec, defaults, database_instances, where)
    # Tables a spreadsheets / rest_api instance declares are held by it (ingestion/sources).
    tables = claim_tables(tables, instance_configs, raw_tables, where)
    return IngestionConfig(
        instances=instances, tables=tables, exclude=exclude, path=path,
        instance_configs=instance_configs,
    )


def _parse_instances(value: Any, where: _Where) -> dict[str, InstanceConfig]:
    """`instances: [uk, au]` (databases in UTC) or a mapping `uk: {source_time_zone: ...}`."""
    if value is None:
        raise where.error("instances", "missing: list the instance ids, e.g. [uk, au, fr]")
    if isinstance(value, dict):
        if not value:
            raise where.error("instances", "at least one instance is required")
        configs = {}
        for name, spec in value.items():
            key = f"instances.{name}"
            where.identifier(name, key)
            configs[name] = _parse_instance(name, {} if spec is None else spec, key, where)
        return configs
    if not isinstance(value, list):
        raise where.error(
            "instances", "expected a list of instance ids ([uk, au]) or a mapping of instance "
            "id to its settings ({uk: {source_time_zone: Europe/London}})"
        )
    instances = where.string_list(value, "instances")
    if not instances:
        raise where.error("instances", "at least one instance is required")
    for index, instance in enumerate(instances):
        where.identifier(instance, f"instances[{index}]")
    if len(set(instances)) != len(instances):
        raise where.error("instances", "instance ids must be unique")
    return {name: InstanceConfig(name) for name in instances}


def _parse_instance(name: str, spec: Any, key: str, where: _Where) -> InstanceConfig:
    spec = where.mapping(spec, key, None)
    kind = spec.get("kind", "database")
    if kind not in INSTANCE_KINDS:
        raise where.error(
            f"{key}.kind", f"unknown kind {kind!r} (expected one of {', '.join(INSTANCE_KINDS)})"
        )
    zone = where.time_zone(spec.get("source_time_zone", "UTC"), f"{key}.source_time_zone")
    rest = {k: v for k, v in spec.items() if k not in _INSTANCE_KEYS}
    validator = INSTANCE_VALIDATORS.get(kind)
    if validator is not None:
        options = dict(validator(name, rest, key, where))
    elif rest:
        unknown = ", ".join(sorted(str(k) for k in rest))
        raise where.error(
            key, f"unknown key(s) {unknown} for an instance of kind {kind} "
            f"(allowed: {', '.join(sorted(_INSTANCE_KEYS))})"
        )
    else:
        options = {}
    return InstanceConfig(name=name, kind=kind, source_time_zone=zone, options=options)


def _parse_table(
    name: str,
    spec: Any,
    defaults: Mapping[str, Any],
    database_instances: Sequence[str],
    where: _Where,
) -> TableConfig:
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

    if "primary_key" not in table:
        raise where.error(
            f"{key}.primary_key", "missing primary key (a column name, or `none` for a table "
            "without one, which is then replaced whole every run)"
        )
    primary_key = _name_or_none(table.get("primary_key"))
    if primary_key is not None:
        if not isinstance(primary_key, str):
            raise where.error(
                f"{key}.primary_key",
                "must be one column name or none (raw keys are instance_id + it)",
            )
        _require_column(by_name, primary_key, ("bigint",), f"{key}.primary_key", where)

    cursor = _name_or_none(settings["cursor"])
    if primary_key is None:
        # Without a key nothing can be merged: every run replaces the instance's rows whole.
        if _name_or_none(table.get("cursor", NONE)) is not None:
            raise where.error(
                f"{key}.cursor", "a table with primary_key: none is replaced whole every run; "
                "remove the cursor or set cursor: none"
            )
        cursor = None
    elif cursor is not None:
        if not isinstance(cursor, str):
            raise where.error(f"{key}.cursor", "must be a column name or none")
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

    if "reconcile_every" in settings:
        reconcile_every = where.non_negative_int(
            settings["reconcile_every"], f"{key}.reconcile_every"
        )
    else:
        reconcile_every = RECONCILE_SOFT_DELETES if soft_delete else RECONCILE_HARD_DELETES
    if cursor is None:
        # Read whole every run: deletes are seen by every run, nothing to reconcile.
        if "reconcile_every" in table:
            raise where.error(
                f"{key}.reconcile_every", "does not apply to a table with cursor: none or "
                "primary_key: none (it is compared whole every run); remove it"
            )
        reconcile_every = 0

    zone = table.get("source_time_zone")
    if zone is not None:
        zone = where.time_zone(zone, f"{key}.source_time_zone")

    if "instances" in table:
        held = where.string_list(table["instances"], f"{key}.instances")
        if not held:
            raise where.error(f"{key}.instances", "at least one instance is required")
        for instance in held:
            if instance not in database_instances:
                raise where.error(
                    f"{key}.instances", f"unknown instance {instance!r} (database instances: "
                    f"{', '.join(database_instances) or 'none'})"
                )
        instances = tuple(dict.fromkeys(held))
    else:
        instances = tuple(database_instances)

    return TableConfig(
        name=name,
        primary_key=primary_key,
        cursor=cursor,
        columns=columns,
        lag_seconds=where.non_negative_int(settings["lag_seconds"], f"{key}.lag_seconds"),
        chunk_rows=where.positive_int(settings["chunk_rows"], f"{key}.chunk_rows"),
        reconcile_every=reconcile_every,
        soft_delete=soft_delete,
        write_disposition=disposition,
        source_time_zone=zone,
        instances=instances,
    )


def _name_or_none(value: Any) -> Any:
    """`none` (or YAML null) -> None; anything else unchanged."""
    return None if value is None or value == NONE else value


def _parse_column(name: Any, value: Any, key: str, where: _Where) -> ColumnConfig:
    where.identifier(name, key)
    if name in RESERVED_COLUMNS:
        raise where.error(key, f"{name!r} is reserved for the columns ingestion adds")
    if isinstance(value, str):
        spec: dict[str, Any] = {"type": value}
    else:
        spec = where.mapping(value, key, _COLUMN_KEYS)
    column_type = _column_type(spec.get("type"), f"{key}.type", where)
    policy = spec.get("policy", "keep")
    if policy not in POLICIES:
        raise where.error(
            f"{key}.policy", f"unknown policy {policy!r} (expected one of {', '.join(POLICIES)})"
        )
    if policy == "hash" and column_type not in ("text", "bytes"):
        raise where.error(f"{key}.policy", "only text and bytes columns can be hashed")
    if column_type == "bytes" and policy == "keep":
        raise where.error(
            f"{key}.policy", "a bytes column needs policy hash (hex sha256 of salt + the raw "
            "bytes) or drop; raw binary is never copied to the warehouse"
        )
    return ColumnConfig(name=name, type=column_type, policy=policy)


def _column_type(value: Any, key: str, where: _Where) -> str:
    if isinstance(value, str):
        match = DECIMAL_TYPE.match(value.strip().lower())
        if match is not None:
            precision, scale = int(match.group(1)), int(match.group(2))
            if not 1 <= precision <= MAX_DECIMAL_PRECISION:
                raise where.error(
                    key, f"decimal precision {precision} out of range "
                    f"(expected 1 <= P <= {MAX_DECIMAL_PRECISION})"
                )
            if scale > precision:
                raise where.error(key, f"decimal scale {scale} out of range (expected 0 <= S <= P)")
            return f"decimal({precision},{scale})"
        if value.strip().lower().startswith("decimal(") and not value.strip().endswith(")"):
            # `{amount: decimal(10,2)}`: in a YAML flow mapping the comma ends the value.
            raise where.error(
                key, f"unknown type {value!r}: inside {{...}} quote it, e.g. "
                "amount: 'decimal(10,2)', or write the columns one per line"
            )
    if value not in COLUMN_TYPES:
        raise where.error(
            key, f"unknown type {value!r} (expected one of {', '.join(COLUMN_TYPES)} or "
            "decimal(P,S))"
        )
    return str(value)


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

    def time_zone(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected an IANA time zone name such as Europe/London, got {value!r}")
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise self.error(
                key, f"unknown time zone {value!r} (expected an IANA name such as Europe/London)"
            ) from None
        return value

    def positive_int(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, f"expected a whole number >= 1, got {value!r}")
        return value


# The spreadsheets and rest_api kinds validate their own keys (imported last: it uses ConfigError).
from ingestion.sources.config import claim_tables, register  # noqa: E402

register(INSTANCE_VALIDATORS)
