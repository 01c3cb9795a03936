"""Schema drift of a source table: what changed since the last run, and whether it can still be read.

Every run compares the table's declared columns in the source with the configuration and with
what the previous run saw (kept in the resource's dlt state, committed with the load):

- a column the source added and tables.yml does not list: reported (a notice in the run record,
  once, when first seen); never read, since only configured columns are selected;
- a column the source dropped that tables.yml does not list: reported once;
- a configured column the source dropped: the table fails with an error naming instance, table
  and column, and is not loaded until tables.yml changes (landing nulls instead would overwrite
  every changed row's real value in raw through the merge and silently change the metrics);
- a type change the configured type can still read (INTEGER -> BIGINT or REAL in SQLite,
  integer -> bigint, varchar(20) -> text in PostgreSQL): reported once, the table goes on;
- a type the configured type cannot read (text into a numeric key, say): the table fails with an
  error naming instance, table, column, the configured type and the source type (with the type it
  had before); the other tables and instances go on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from ingestion.config import TableConfig
from ingestion.errors import SourceSchemaMismatch

STATE_KEY = "source_columns"

# Which source type families each configured type is read from. SQLite families are its type
# affinities (declared types are only hints there, so values are also checked one by one and a
# value that does not fit is a reported bad value); PostgreSQL casts in the SELECT list, where a
# numeric into bigint would round, hence the narrower sets.
_READABLE: dict[str, dict[str, frozenset[str]]] = {
    "sqlite": {
        "bigint": frozenset({"integer", "numeric", "real"}),
        "double": frozenset({"integer", "numeric", "real"}),
        "boolean": frozenset({"integer", "numeric"}),
        "text": frozenset({"text", "integer", "numeric", "real", "blob"}),
        "timestamp": frozenset({"numeric", "text"}),
        "date": frozenset({"numeric", "text"}),
        "decimal": frozenset({"integer", "numeric", "real", "text"}),
        "json": frozenset({"text"}),
        "bytes": frozenset({"blob", "text"}),
    },
    "postgresql": {
        "bigint": frozenset({"integer"}),
        "double": frozenset({"integer", "numeric", "real"}),
        "boolean": frozenset({"boolean"}),
        # Enums and uuid are "other" and read as their text; arrays and bytea are not text.
        "text": frozenset({"text", "integer", "numeric", "real", "boolean", "timestamp",
                           "date", "json", "other"}),
        "timestamp": frozenset({"timestamp"}),
        "date": frozenset({"date", "timestamp"}),
        # Never from a float: a real's value is not the decimal a user typed.
        "decimal": frozenset({"integer", "numeric"}),
        # Arrays land as JSON arrays (to_json); as text they would be PostgreSQL's `{a,b}`.
        "json": frozenset({"json", "array", "text"}),
        "bytes": frozenset({"binary"}),
    },
    # MySQL/MariaDB COLUMN_TYPE: values are converted in Python and checked one by one
    # (ingestion/readers/mysql.py), so readable means "no value of it can be silently wrong".
    "mysql": {
        "bigint": frozenset({"integer"}),
        "double": frozenset({"integer", "numeric", "real"}),
        "boolean": frozenset({"boolean"}),
        "text": frozenset({"text", "integer", "numeric", "real", "boolean", "timestamp",
                           "date", "json", "binary", "other"}),
        "timestamp": frozenset({"timestamp"}),
        "date": frozenset({"date"}),
        "decimal": frozenset({"integer", "numeric"}),
        "json": frozenset({"text", "json"}),
        "bytes": frozenset({"binary", "text"}),
    },
}


# What to configure instead, for source types that need a particular one.
_HINTS = {
    "array": " (configure it as json: arrays land as JSON arrays)",
    "binary": " (configure it as bytes with policy hash or drop)",
    "json": " (configure it as json)",
}


_DECLARED_NUMERIC = re.compile(r"^(?:numeric|decimal)\((\d+),\s*(\d+)\)$")


def fits_decimal(declared: str, configured: str) -> bool:
    """Whether every value of a declared `numeric(p,s)` fits the configured `decimal(P,S)`
    without rounding (s <= S and p - s <= P - S). An unconstrained numeric cannot be told from
    its type; its values are checked when read."""
    source = _DECLARED_NUMERIC.match(declared.strip().lower())
    target = _DECLARED_NUMERIC.match(configured)
    if source is None or target is None:
        return True
    precision, scale = int(source.group(1)), int(source.group(2))
    wanted_precision, wanted_scale = int(target.group(1)), int(target.group(2))
    return scale <= wanted_scale and precision - scale <= wanted_precision - wanted_scale


def family(engine: str, declared: str) -> str:
    """The type family of a declared source column type."""
    kind = declared.strip().lower()
    if engine == "sqlite":  # https://www.sqlite.org/datatype3.html, "Determination Of Column Affinity"
        if "int" in kind:
            return "integer"
        if any(word in kind for word in ("char", "clob", "text")):
            return "text"
        if not kind or "blob" in kind:
            return "blob"
        if any(word in kind for word in ("real", "floa", "doub")):
            return "real"
        return "numeric"
    if engine == "mysql":
        return _mysql_family(kind)
    if kind in ("smallint", "integer", "bigint", "int2", "int4", "int8"):
        return "integer"
    if kind in ("numeric", "decimal") or _DECLARED_NUMERIC.match(kind):
        return "numeric"
    if kind in ("real", "double precision", "float4", "float8"):
        return "real"
    if kind in ("boolean", "bool"):
        return "boolean"
    if kind in ("json", "jsonb"):
        return "json"
    if kind == "array":
        return "array"
    if kind == "bytea":
        return "binary"
    if kind in ("text", "character varying", "character", "varchar", "char", "name", "citext"):
        return "text"
    if kind.startswith("timestamp"):
        return "timestamp"
    if kind == "date":
        return "date"
    return "other"


def _mysql_family(kind: str) -> str:
    """Family of a MySQL/MariaDB COLUMN_TYPE such as `tinyint(1)` or `bigint(20) unsigned`."""
    base = kind.split("(")[0].split()[0] if kind else ""
    if kind.startswith("tinyint(1)") or base in ("bool", "boolean", "bit"):
        return "boolean"
    if base in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"):
        return "integer"
    if base in ("decimal", "numeric"):
        return "numeric"
    if base in ("float", "double", "real"):
        return "real"
    if base in ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"):
        return "text"
    if base == "json":  # MariaDB reports its JSON columns as longtext
        return "json"
    if base in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        return "binary"
    if base in ("datetime", "timestamp"):
        return "timestamp"
    if base == "date":
        return "date"
    return "other"


def readable(engine: str, declared: str, configured: str) -> bool:
    """Whether a source column of type `declared` can be read as the configured type (a type
    family this engine has no rule for is not checked here; its reader checks values)."""
    configured = "decimal" if configured.startswith("decimal(") else configured
    allowed = _READABLE[engine].get(configured)
    return allowed is None or family(engine, declared) in allowed


def check_drift(
    engine: str,
    instance: str,
    table: TableConfig,
    columns: Mapping[str, str],
    state: MutableMapping[str, Any],
) -> list[str]:
    """Compare the source's declared columns (name -> type) with the config and the previous
    run. Returns the notices to report; raises SourceSchemaMismatch when the table cannot be
    read as configured (state untouched, so the next run compares against the same baseline)."""
    previous: dict[str, str] | None = state.get(STATE_KEY)
    configured = {c.name: c for c in table.source_columns}
    problems = []
    for name, column in configured.items():
        declared = columns.get(name)
        if declared is None:
            problems.append(
                f"column {name}: configured in tables.yml ({column.type}) but missing from the "
                "source (dropped or renamed); the table is not loaded until tables.yml lists "
                "only columns the source has"
            )
        elif column.family == "decimal" and not fits_decimal(declared, column.type):
            problems.append(
                f"column {name}: source type {declared} has more digits than the configured "
                f"{column.type} (values would be rounded or overflow); configure "
                f"{declared.replace('numeric', 'decimal').replace(' ', '')} or wider"
            )
        elif not readable(engine, declared, column.type):
            before = previous.get(name) if previous else None
            was = f", was {before}" if before and before != declared else ""
            hint = _HINTS.get(family(engine, declared), "")
            problems.append(
                f"column {name}: incompatible type change, source type {declared}{was} cannot "
                f"be read as the configured {column.type}{hint}; the table is not loaded until "
                "the source or tables.yml is fixed"
            )
    if problems:
        raise SourceSchemaMismatch(instance, table.name, "; ".join(problems))

    notices = []
    known = set(previous) if previous is not None else set()
    listed = {c.name for c in table.columns}  # dropped-policy columns are known too
    added = [n for n in columns if n not in listed and n not in known]
    if added:
        described = ", ".join(f"{n} ({columns[n]})" for n in added)
        notices.append(f"new source column(s) not in tables.yml, not ingested: {described}")
    if previous is not None:
        gone = [n for n in previous if n not in columns and n not in configured]
        if gone:
            notices.append(f"source column(s) dropped (not ingested): {', '.join(gone)}")
        for name, declared in columns.items():
            before = previous.get(name)
            if before is not None and before != declared and name in configured:
                notices.append(
                    f"column {name}: source type changed from {before} to {declared}, still "
                    f"read as {configured[name].type}"
                )
    state[STATE_KEY] = dict(columns)
    return notices
