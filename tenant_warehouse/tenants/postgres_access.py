"""PostgreSQL enforcement of tenant isolation: roles, the `tenant` schema, security_barrier views.

Shape (docs/tenants.md):
- `tenant_access.tenant_roles(role_name, tenant_id)`: which login role is which tenant. Written
  only by `warehouse tenants grant|revoke|sync`; schema closed to everyone but the owner.
- `tw_tenants`: NOLOGIN group holding CONNECT, USAGE on schema `tenant` and SELECT on its views.
  Each tenant role `tw_tenant_<instance>_<organization>` is LOGIN, member of that group only,
  never superuser, BYPASSRLS, CREATEROLE or CREATEDB, owns nothing, has no member but the owner
  (a non-superuser owner, which needs CREATEROLE, is made a member so it can SET ROLE to it).
- `tenant.<name>`: one `security_barrier` view per catalog relation the platform profile builds
  (catalog.profile_doors; the others get none), owned by the warehouse owner,
  `select * from marts.<model> where tenant_id in (<tenants mapped to current_user>)`. The filter
  is tied to the role the query runs as, not to a setting: a session variable, `SET ROLE` to the
  group or any other role leaves it with no rows. security_barrier keeps a tenant's own functions
  and operators from seeing rows before the filter.
- The warehouse database: no TEMP for PUBLIC (no temporary functions or views), no CREATE on
  `public`; tenants have no privilege on raw, staging, intermediate, marts, observability.
dbt replaces mart tables on a full build (dropping the views with CASCADE), so `apply_access`
runs after every build (operations.build) and recreates them in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.catalog import (
    TENANT_SCHEMA,
    TenantRelation,
    check_publishable,
    profile_doors,
)
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.tenants.ids import ROLE_PREFIX, normalize_tenant_id, role_name

ACCESS_SCHEMA = "tenant_access"
ROLES_TABLE = "tenant_roles"
GROUP_ROLE = "tw_tenants"
CONNECTION_LIMIT = 20
STATEMENT_TIMEOUT = "5min"
LOCK_TIMEOUT = "30s"


@dataclass
class AccessReport:
    views: list[str] = field(default_factory=list)       # tenant.<name> (re)created
    dropped: list[str] = field(default_factory=list)     # views no longer in the catalog
    missing: list[str] = field(default_factory=list)     # catalog relations whose mart is absent
    left_out: list[str] = field(default_factory=list)    # relations the platform profile lacks
    tenants: int = 0

    def summary(self) -> str:
        text = f"{len(self.views)} tenant views for {self.tenants} tenant role(s)"
        if self.dropped:
            text += f", dropped {', '.join(self.dropped)}"
        if self.missing:
            text += f"; not built yet: {', '.join(self.missing)}"
        if self.left_out:
            text += f"; not built by this platform profile: {', '.join(self.left_out)}"
        return text


@dataclass(frozen=True)
class TenantRole:
    tenant_id: str
    role_name: str
    granted_at: Any
    can_login: bool


@contextmanager
def owner_connection() -> Iterator[Any]:
    """The warehouse owner's connection (TW_PG_*), one transaction, committed on success."""
    import psycopg2

    from tenant_warehouse.warehouse_sql import postgres_dsn

    try:
        connection = psycopg2.connect(postgres_dsn())
    except psycopg2.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TenantAccessError(f"PostgreSQL warehouse: cannot connect: {reason}") from exc
    try:
        with connection:  # commit, or roll back on error
            with connection.cursor() as cursor:
                cursor.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
            yield connection
    finally:
        connection.close()


def _ident(name: str) -> Any:
    from psycopg2 import sql

    return sql.Identifier(name)


def _sql(text: str, *identifiers: str) -> Any:
    from psycopg2 import sql

    return sql.SQL(text).format(*(sql.Identifier(i) for i in identifiers))


def ensure_foundation(cursor: Any) -> None:
    """Schemas, group role, role map and database privileges (idempotent)."""
    cursor.execute("select current_user, current_database()")
    owner, database = cursor.fetchone()
    if owner.startswith(ROLE_PREFIX) or owner == GROUP_ROLE:
        raise TenantAccessError(f"role {owner}: a tenant role may not own or build the warehouse")
    # Roles are cluster-wide: another warehouse database may be creating the group right now.
    cursor.execute(
        f"do $$ begin create role {GROUP_ROLE} nologin noinherit; "
        "exception when duplicate_object or unique_violation then null; end $$"
    )
    cursor.execute(_sql("create schema if not exists {}", ACCESS_SCHEMA))
    cursor.execute(_sql("revoke all on schema {} from public", ACCESS_SCHEMA))
    cursor.execute(
        _sql(
            "create table if not exists {}.{} (role_name text primary key, tenant_id text not null "
            "unique, granted_at timestamptz not null default now())",
            ACCESS_SCHEMA, ROLES_TABLE,
        )
    )
    cursor.execute(_sql("create schema if not exists {}", TENANT_SCHEMA))
    cursor.execute(_sql("revoke all on schema {} from public", TENANT_SCHEMA))
    cursor.execute(_sql("grant usage on schema {} to {}", TENANT_SCHEMA, GROUP_ROLE))
    cursor.execute(_sql("grant connect on database {} to {}", database, GROUP_ROLE))
    # No temporary objects (functions, views) for anyone not granted TEMP; the owner keeps it.
    cursor.execute(_sql("revoke temporary on database {} from public", database))
    cursor.execute(_sql("grant temporary on database {} to {}", database, owner))
    cursor.execute("revoke create on schema public from public")


def apply_access(settings: Settings, require_all: bool = True) -> AccessReport:
    """Recreate every tenant view and check the roles (after every build). TenantAccessError
    when a published mart is missing (require_all) or a tenant role has become unsafe."""
    doors = profile_doors(settings, "postgres")
    with owner_connection() as connection, connection.cursor() as cursor:
        ensure_foundation(cursor)
        # Relations the profile leaves out get no view (one left from before is dropped).
        report = _apply_views(cursor, doors.published)
        report.left_out = [relation.name for relation in doors.left_out]
        report.tenants = len(_check_roles(cursor))
    if require_all and report.missing:
        raise TenantAccessError(
            "tenant access: published mart(s) missing after the build, tenants cannot read "
            f"{', '.join(report.missing)}"
        )
    return report


def _apply_views(cursor: Any, relations: list[TenantRelation]) -> AccessReport:
    report = AccessReport()
    cursor.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s",
        (TENANT_SCHEMA,),
    )
    present = {name for (name,) in cursor.fetchall()}
    wanted = {relation.name for relation in relations}
    for name in sorted(present - wanted):
        cursor.execute(_sql("drop view if exists {}.{} cascade", TENANT_SCHEMA, name))
        report.dropped.append(f"{TENANT_SCHEMA}.{name}")
    for relation in relations:
        cursor.execute(
            "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s",
            (relation.source_schema, relation.source_name),
        )
        row = cursor.fetchone()
        if row is None:
            report.missing.append(f"{relation.source_schema}.{relation.source_name}")
            cursor.execute(_sql("drop view if exists {}.{}", TENANT_SCHEMA, relation.name))
            continue
        if row[0] not in ("r", "p", "v"):
            raise TenantAccessError(
                f"tenant access: {relation.source_schema}.{relation.source_name} is relkind "
                f"{row[0]!r}; only tables and views can be published"
            )
        cursor.execute(
            "select column_name from information_schema.columns where table_schema = %s "
            "and table_name = %s",
            (relation.source_schema, relation.source_name),
        )
        columns = {name for (name,) in cursor.fetchall()}
        check_publishable(relation, columns)
        cursor.execute(_sql("drop view if exists {}.{}", TENANT_SCHEMA, relation.name))
        if relation.is_shared:
            # Same rows for every tenant role, none for anyone else.
            view = _sql(
                "create view {}.{} with (security_barrier) as select * from {}.{} where exists "
                "(select from {}.{} where role_name = current_user)",
                TENANT_SCHEMA, relation.name, relation.source_schema, relation.source_name,
                ACCESS_SCHEMA, ROLES_TABLE,
            )
        else:
            view = _sql(
                "create view {}.{} with (security_barrier) as select * from {}.{} "
                "where {} in (select tenant_id from {}.{} where role_name = current_user)",
                TENANT_SCHEMA, relation.name, relation.source_schema, relation.source_name,
                relation.tenant_column, ACCESS_SCHEMA, ROLES_TABLE,
            )
        cursor.execute(view)
        cursor.execute(
            _sql("comment on view {}.{} is %s", TENANT_SCHEMA, relation.name),
            (relation.description,),
        )
        cursor.execute(_sql("grant select on {}.{} to {}", TENANT_SCHEMA, relation.name, GROUP_ROLE))
        report.views.append(relation.qualified_name)
    return report


def _check_roles(cursor: Any) -> list[TenantRole]:
    """Every mapped role must be a plain login, member of the group only, owning nothing."""
    cursor.execute(
        _sql(
            "select m.tenant_id, m.role_name, m.granted_at, r.rolcanlogin, r.rolsuper, "
            "r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication, "
            "(select count(*) from pg_auth_members a join pg_roles g on g.oid = a.roleid "
            " where a.member = r.oid and g.rolname <> %s), "
            "(select count(*) from pg_class c where c.relowner = r.oid) "
            "+ (select count(*) from pg_proc p where p.proowner = r.oid) "
            "+ (select count(*) from pg_namespace s where s.nspowner = r.oid), "
            "(select count(*) from pg_auth_members a join pg_roles o on o.oid = a.member "
            " where a.roleid = r.oid and o.rolname <> current_user) "
            "from {}.{} m left join pg_roles r on r.rolname = m.role_name order by m.tenant_id",
            ACCESS_SCHEMA, ROLES_TABLE,
        ),
        (GROUP_ROLE,),
    )
    roles = []
    for (tenant_id, role, granted_at, login, superuser, bypass, createrole, createdb,
         replication, other_groups, owned, members) in cursor.fetchall():
        if login is None:
            raise TenantAccessError(
                f"tenant {tenant_id}: role {role} is mapped but does not exist "
                f"(run `warehouse tenants grant {tenant_id}` or `revoke`)"
            )
        unsafe = [
            name for name, flag in (
                ("SUPERUSER", superuser), ("BYPASSRLS", bypass), ("CREATEROLE", createrole),
                ("CREATEDB", createdb), ("REPLICATION", replication),
                ("member of other roles", other_groups), ("owns objects", owned),
                ("has members", members),
            ) if flag
        ]
        if unsafe:
            raise TenantAccessError(
                f"tenant {tenant_id}: role {role} is unsafe ({', '.join(unsafe)}); "
                f"run `warehouse tenants grant {tenant_id}` to reset it"
            )
        roles.append(TenantRole(tenant_id, role, granted_at, bool(login)))
    return roles


def grant_tenant(settings: Settings, tenant_id: str, password: str) -> str:
    """Create or reset the tenant's login role with this password; returns the role name."""
    from psycopg2.extensions import encrypt_password

    tenant_id = normalize_tenant_id(tenant_id)
    role = role_name(tenant_id)
    with owner_connection() as connection, connection.cursor() as cursor:
        ensure_foundation(cursor)
        cursor.execute("select current_user")
        if cursor.fetchone()[0] == role:
            raise TenantError(f"tenant {tenant_id}: {role} is the warehouse owner's role")
        _require_known_tenant(cursor, tenant_id)
        # Only the SCRAM verifier crosses the wire and lands in the catalog or server logs.
        verifier = encrypt_password(password, role, connection, "scram-sha-256")
        options = (
            "login nosuperuser nocreatedb nocreaterole inherit noreplication nobypassrls "
            f"connection limit {CONNECTION_LIMIT} password %s"
        )
        cursor.execute("select 1 from pg_roles where rolname = %s", (role,))
        verb = "alter" if cursor.fetchone() else "create"
        cursor.execute(_sql(f"{verb} role {{}} with {options}", role), (verifier,))
        # A reset role loses whatever it was given besides the group.
        cursor.execute(
            "select g.rolname from pg_auth_members a join pg_roles g on g.oid = a.roleid "
            "join pg_roles r on r.oid = a.member where r.rolname = %s and g.rolname <> %s",
            (role, GROUP_ROLE),
        )
        for (group,) in cursor.fetchall():
            cursor.execute(_sql("revoke {} from {}", group, role))
        cursor.execute(_sql("grant {} to {}", GROUP_ROLE, role))
        cursor.execute("select rolsuper from pg_roles where rolname = current_user")
        if not cursor.fetchone()[0]:
            # A non-superuser owner (with CREATEROLE) must be a member to SET ROLE to it, which
            # tenant_reader does; the tenant gains nothing from that.
            cursor.execute(_sql("grant {} to current_user", role))
        cursor.execute(_sql("alter role {} set search_path = {}", role, TENANT_SCHEMA))
        cursor.execute(_sql("alter role {} set statement_timeout = %s", role), (STATEMENT_TIMEOUT,))
        cursor.execute(_sql("alter role {} set default_transaction_read_only = on", role))
        cursor.execute(
            _sql(
                "insert into {}.{} (role_name, tenant_id) values (%s, %s) "
                "on conflict (role_name) do update set tenant_id = excluded.tenant_id",
                ACCESS_SCHEMA, ROLES_TABLE,
            ),
            (role, tenant_id),
        )
    return role


def _require_known_tenant(cursor: Any, tenant_id: str) -> None:
    """Refuse a tenant the warehouse has never seen (a typo would create a login with no rows);
    before the first build there is nothing to check against."""
    cursor.execute("select to_regclass('marts.dim_organizations') is not null")
    if not cursor.fetchone()[0]:
        return
    cursor.execute("select 1 from marts.dim_organizations where tenant_id = %s", (tenant_id,))
    if cursor.fetchone() is None:
        raise TenantError(f"tenant {tenant_id}: not in marts.dim_organizations of this warehouse")


def revoke_tenant(tenant_id: str) -> bool:
    """Remove the tenant's mapping (its views return nothing at once), end its sessions, drop its
    role. True when there was something to revoke."""
    tenant_id = normalize_tenant_id(tenant_id)
    role = role_name(tenant_id)
    with owner_connection() as connection, connection.cursor() as cursor:
        ensure_foundation(cursor)
        cursor.execute(
            _sql("delete from {}.{} where role_name = %s or tenant_id = %s", ACCESS_SCHEMA, ROLES_TABLE),
            (role, tenant_id),
        )
        mapped = cursor.rowcount > 0
        cursor.execute("select 1 from pg_roles where rolname = %s", (role,))
        exists = cursor.fetchone() is not None
        if exists:
            cursor.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", (role,)
            )
            cursor.execute(_sql("drop owned by {}", role))
            cursor.execute(_sql("drop role {}", role))
    return mapped or exists


def granted_roles() -> list[TenantRole]:
    """The tenant roles of this warehouse (mapping and login state)."""
    with owner_connection() as connection, connection.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (f"{ACCESS_SCHEMA}.{ROLES_TABLE}",))
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(
            _sql(
                "select m.tenant_id, m.role_name, m.granted_at, coalesce(r.rolcanlogin, false) "
                "from {}.{} m left join pg_roles r on r.rolname = m.role_name order by m.tenant_id",
                ACCESS_SCHEMA, ROLES_TABLE,
            )
        )
        return [TenantRole(*row) for row in cursor.fetchall()]


def views_in_place(settings: Settings) -> bool:
    """Every catalog relation has its view in schema `tenant` (cheap, no locks)."""
    wanted = {relation.name for relation in profile_doors(settings, "postgres").published}
    with owner_connection() as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.views where table_schema = %s",
            (TENANT_SCHEMA,),
        )
        return wanted <= {name for (name,) in cursor.fetchall()}
