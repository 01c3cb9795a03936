"""Server-written tenant SQL: one read-only query over `tenant.<name>` relations, nothing else.

PostgreSQL enforces isolation itself (the query runs as the tenant's role); this guard is the
second wall there and the main one on DuckDB, which has no roles: it rejects anything that could
step around the `tenant` views (another schema, a table function, a second statement, a role or
setting change, file access)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from tenant_warehouse.tenants.catalog import TENANT_SCHEMA
from tenant_warehouse.tenants.errors import TenantError

DENIED_FUNCTIONS = frozenset(
    {"set_config", "query", "query_table", "getvariable", "current_setting", "txid_current",
     "dblink", "copy", "glob", "sniff_csv", "load", "install"}
)
DENIED_PREFIXES = ("pg_", "lo_", "dblink", "read_", "duckdb_", "parquet_", "iceberg_", "delta_")
DENIED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Copy, exp.Set, exp.Use, exp.Into, exp.Pragma, exp.Attach, exp.Detach, exp.Lock,
)


def check_tenant_sql(sql_text: str, published: set[str], dialect: str) -> None:
    """Raise TenantError (naming the cause) unless `sql_text` is one query reading only
    `tenant.<published>` relations and its own CTEs."""
    try:
        statements = [s for s in sqlglot.parse(sql_text, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise TenantError(f"tenant query: cannot parse: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise TenantError(f"tenant query: expected one statement, got {len(statements)}")
    root = statements[0]
    if not isinstance(root, exp.Query):
        raise TenantError(f"tenant query: only a SELECT is allowed, got {root.key.upper()}")
    for node in root.walk():
        if isinstance(node, DENIED_NODES):
            raise TenantError(f"tenant query: {node.key.upper()} is not allowed")
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    for table in root.find_all(exp.Table):
        _check_table(table, published, ctes)
    for function in root.find_all(exp.Func):
        name = (function.name if isinstance(function, exp.Anonymous) else function.key).lower()
        if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES) or name.startswith("read"):
            raise TenantError(f"tenant query: function {name}() is not allowed")


def _check_table(table: exp.Table, published: set[str], ctes: set[str]) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise TenantError(f"tenant query: table functions are not allowed ({table.sql()})")
    name, schema = table.name.lower(), table.db.lower()
    if table.catalog:
        raise TenantError(f"tenant query: {table.sql()}: name relations as tenant.<name>")
    if not schema and name in ctes:
        return
    if schema != TENANT_SCHEMA or name not in published:
        raise TenantError(
            f"tenant query: {table.sql()} is not a tenant relation "
            f"(use tenant.<name>: {', '.join(sorted(published))})"
        )
