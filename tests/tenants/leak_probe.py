"""Log in as a tenant and try to read what it must not: the checks behind the leak tests.

`Ledger` counts what was tried so the suite can state it (tenants x relations read, attempts,
leaks). A leak is any row of another tenant, any relation outside schema `tenant` that answers,
or any attempt that should have been refused and was not.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
from psycopg2 import sql

from tenant_warehouse.tenants.catalog import TENANT_SCHEMA, TenantRelation
from tenant_warehouse.tenants.ids import role_name

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass
class Ledger:
    tenants: set[str] = field(default_factory=set)
    passes: int = 0               # times the whole check ran (after builds, rebuilds, cycles)
    relation_reads: int = 0       # (tenant, relation) full reads compared with the marts
    rows_compared: int = 0
    attempts: int = 0             # crossing attempts made (all kinds)
    forbidden_reads: int = 0      # of which: selects from a relation outside schema tenant
    leaks: list[str] = field(default_factory=list)

    def leak(self, message: str) -> None:
        self.leaks.append(message)

    def summary(self) -> str:
        return (
            f"{self.passes} passes x {len(self.tenants)} tenants: "
            f"{self.relation_reads} tenant x relation reads "
            f"({self.rows_compared} rows compared), {self.attempts} crossing attempts "
            f"({self.forbidden_reads} reads of relations outside schema tenant, "
            f"{self.attempts - self.forbidden_reads} role/setting/function/view/COPY/write/"
            f"statistics attempts), {len(self.leaks)} leaks"
        )


def _rows(connection: Any, query: Any, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or None)  # None: no %-formatting of the text
        return cursor.fetchall() if cursor.description else []


def reachable_relations(tenant: Any) -> set[tuple[str, str]]:
    """Every relation outside the system catalogs the logged-in role may SELECT."""
    return set(_rows(
        tenant,
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname <> all(%s) "
        "and n.nspname not like 'pg_toast%%' and has_table_privilege(c.oid, 'select')",
        (list(SYSTEM_SCHEMAS),),
    ))  # fmt: skip


def check_reads(
    ledger: Ledger, tenant: Any, owner: Any, tenant_id: str, relations: list[TenantRelation]
) -> None:
    """Each relation as the tenant equals the mart filtered by tenant, row for row."""
    ledger.tenants.add(tenant_id)
    reachable = reachable_relations(tenant)
    expected = {(TENANT_SCHEMA, r.name) for r in relations}
    if reachable != expected:
        ledger.leak(f"{tenant_id}: reachable relations {sorted(reachable ^ expected)} differ")
    for relation in relations:
        ledger.relation_reads += 1
        mine = _rows(tenant, sql.SQL("select * from {}.{}").format(
            sql.Identifier(TENANT_SCHEMA), sql.Identifier(relation.name)))
        mart = sql.SQL("select * from {}.{}").format(
            sql.Identifier(relation.source_schema), sql.Identifier(relation.source_name))
        if relation.is_shared:  # published to every tenant: the whole mart
            truth = _rows(owner, mart)
        else:
            truth = _rows(owner, mart + sql.SQL(" where {} = %s").format(
                sql.Identifier(relation.tenant_column)), (tenant_id,))
        ledger.rows_compared += len(truth)
        if Counter(mine) != Counter(truth):
            ledger.leak(f"{tenant_id}: tenant.{relation.name} has {len(mine)} rows, "
                        f"the mart filtered by tenant {len(truth)} (or they differ)")
        if relation.is_shared:
            continue
        foreign = _rows(tenant, sql.SQL("select count(*) from {}.{} where {} is distinct from %s")
                        .format(sql.Identifier(TENANT_SCHEMA), sql.Identifier(relation.name),
                                sql.Identifier(relation.tenant_column)), (tenant_id,))[0][0]
        if foreign:
            ledger.leak(f"{tenant_id}: tenant.{relation.name} shows {foreign} rows of other tenants")


def forbidden_relations(owner: Any) -> list[tuple[str, str]]:
    """Every relation of the warehouse outside schema `tenant`: none may answer a tenant."""
    return _rows(
        owner,
        "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname <> all(%s) "
        "and n.nspname not like 'pg_%%' and n.nspname <> %s order by 1, 2",
        (list(SYSTEM_SCHEMAS), TENANT_SCHEMA),
    )


def _refused(tenant: Any, statement: Any, params: tuple[Any, ...] = ()) -> str | None:
    """None when the server refuses the statement; else what it returned. COPY to or from the
    client goes through the copy protocol (psycopg2's execute() would refuse it on its own)."""
    text = statement if isinstance(statement, str) else statement.as_string(tenant)
    words = text.lower().split()
    try:
        if words[0] == "copy" and words[-1] in ("stdout", "stdin"):
            buffer = io.StringIO("" if words[-1] == "stdin" else None)
            with tenant.cursor() as cursor:
                cursor.copy_expert(text, buffer)
            return f"copied {buffer.getvalue()[:200]!r}"
        rows = _rows(tenant, statement, params)
    except psycopg2.Error:
        return None
    return f"answered {rows[:3]!r}"


def check_attempts(
    ledger: Ledger, tenant: Any, owner: Any, tenant_id: str, other_tenant_id: str
) -> None:
    """Every way around the tenant views we know of: each must fail or show only own rows."""
    for schema, name in forbidden_relations(owner):
        ledger.attempts += 1
        ledger.forbidden_reads += 1
        outcome = _refused(tenant, sql.SQL("select * from {}.{} limit 1").format(
            sql.Identifier(schema), sql.Identifier(name)))
        if outcome:
            ledger.leak(f"{tenant_id}: {schema}.{name} {outcome}")
    own_orders = _rows(owner, "select count(*) from marts.fct_orders where tenant_id = %s",
                       (tenant_id,))[0][0]
    other_role = role_name(other_tenant_id)
    refused: list[tuple[str, Any, tuple[Any, ...]]] = [
        ("set role to another tenant", sql.SQL("set role {}").format(sql.Identifier(other_role)), ()),
        ("set role to the owner", sql.SQL("set role postgres"), ()),
        ("set_config role", "select set_config('role', %s, false)", (other_role,)),
        ("set_config role owner", "select set_config('role', 'postgres', false)", ()),
        ("session authorization", "set session authorization postgres", ()),
        ("create function in public",
         "create function public.tw_leak(text) returns boolean language sql as 'select true'", ()),
        ("create temporary function",
         "create function pg_temp.tw_leak(text) returns boolean language plpgsql cost 0.0000001 "
         "as $$begin raise notice '%', $1; return true; end$$", ()),
        ("create temporary view", "create temp view tw_leak as select * from tenant.orders", ()),
        ("create view in public over a mart",
         "create view public.tw_leak as select * from marts.fct_orders", ()),
        ("create view in schema tenant", "create view tenant.tw_leak as select 1 as x", ()),
        ("create schema", "create schema tw_leak", ()),
        ("create table", "create table public.tw_leak (x int)", ()),
        ("copy a mart to stdout", "copy marts.fct_orders to stdout", ()),
        ("copy to a server file", "copy (select * from tenant.orders) to '/tmp/tw_leak.csv'", ()),
        ("copy to a program", "copy (select 1) to program 'true'", ()),
        ("copy into the role map", "copy tenant_access.tenant_roles from stdin", ()),
        ("insert into a tenant view", "insert into tenant.orders (tenant_id) values ('x')", ()),
        ("delete from a tenant view", "delete from tenant.orders", ()),
        ("map self to another tenant",
         "update tenant_access.tenant_roles set tenant_id = %s", (other_tenant_id,)),
        ("add a mapping", "insert into tenant_access.tenant_roles values (current_user, %s)",
         (other_tenant_id,)),
        ("truncate a mart", "truncate marts.fct_orders", ()),
        ("explain a mart", "explain analyze select * from marts.fct_orders", ()),
        ("grant self another tenant's role",
         sql.SQL("grant {} to current_user").format(sql.Identifier(other_role)), ()),
        ("alter self bypassrls", "alter role current_user bypassrls", ()),
        ("replace a tenant view",
         "create or replace view tenant.orders as select * from marts.fct_orders", ()),
        ("read a server file", "select pg_read_file('pg_hba.conf')", ()),
        ("import a large object", "select lo_import('/etc/passwd')", ()),
        ("dblink", "select * from dblink('dbname=tw_tenants', 'select 1') as t(x int)", ()),
    ]
    for name, statement, params in refused:
        ledger.attempts += 1
        outcome = _refused(tenant, statement, params)
        if outcome:
            ledger.leak(f"{tenant_id}: {name} was allowed: {outcome}")
        _reset(tenant)

    # Allowed, but they must not widen what the tenant sees.
    def own_only(name: str, prepare: Callable[[], None] | None, count_sql: str,
                 params: tuple[Any, ...], expected: int, refusal_ok: bool = False) -> None:
        ledger.attempts += 1
        try:
            if prepare:
                prepare()
            got: Any = _rows(tenant, count_sql, params)[0][0]
        except psycopg2.Error as exc:
            got = expected if refusal_ok else f"error {exc.pgcode}"
        finally:
            _reset(tenant)
        if got != expected:
            ledger.leak(f"{tenant_id}: {name}: {got} rows, expected {expected}")

    own_only("a session setting naming another tenant",
             lambda: _rows(tenant, "select set_config('tw.tenant_id', %s, false)", (other_tenant_id,)),
             "select count(*) from tenant.orders", (), own_orders)
    own_only("row_security off", lambda: _rows(tenant, "set row_security = off"),
             "select count(*) from tenant.orders", (), own_orders)
    own_only("filter on another tenant", None,
             "select count(*) from tenant.orders where tenant_id = %s", (other_tenant_id,), 0)
    # A predicate that fails on any foreign row: security_barrier evaluates the view's filter
    # first, so it never sees one (without it, the planner may push this below the filter).
    own_only("predicate probing foreign rows", None,
             "select count(*) from tenant.orders "
             "where 1 / (case when tenant_id = %s then 1 else 0 end) = 1", (tenant_id,), own_orders)
    own_only("set role to the tenants group", lambda: _rows(tenant, "set role tw_tenants"),
             "select count(*) from tenant.orders", (), 0, refusal_ok=True)
    own_only("planner statistics of the marts", None,
             "select count(*) from pg_stats where schemaname <> all(%s)",
             (["pg_catalog", "information_schema"],), 0)
    own_only("other sessions' queries", None,
             "select count(*) from pg_stat_activity where usename is distinct from current_user "
             "and query not in ('', '<insufficient privilege>')", (), 0)

    # COPY out of a query over a tenant view: exactly the tenant's rows.
    ledger.attempts += 1
    buffer = io.StringIO()
    with tenant.cursor() as cursor:
        cursor.copy_expert("copy (select tenant_id from tenant.orders) to stdout", buffer)
    lines = buffer.getvalue().splitlines()
    if len(lines) != own_orders or set(lines) - {tenant_id}:
        ledger.leak(f"{tenant_id}: COPY of tenant.orders gave {len(lines)} rows of {set(lines)}")


def _reset(tenant: Any) -> None:
    try:
        _rows(tenant, "reset role")
        _rows(tenant, "reset row_security")
    except psycopg2.Error:
        pass
