"""`warehouse tenants grant|revoke|list|sync|operator|apply`: logins for the tenants' SQL endpoint."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from rich.console import Console
from rich.table import Table
from rich_argparse import RichHelpFormatter

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants import registry
from tenant_warehouse.tenants.catalog import profile_doors
from tenant_warehouse.tenants.config import load_tenants_config
from tenant_warehouse.tenants.errors import TenantError
from tenant_warehouse.tenants.ids import normalize_tenant_id, role_name

console = Console()
PASSWORD_ENV = "TW_TENANT_PASSWORD"


def _password(variable: str) -> tuple[str, bool]:
    """(password, generated): from the variable when set, else a new random one."""
    value = os.environ.get(variable)
    if value:
        return value, False
    return registry.generate_password(), True


def _per_tenant_variable(tenant_id: str) -> str:
    return f"{PASSWORD_ENV}_{role_name(tenant_id).removeprefix('tw_tenant_').upper()}"


def _show_password(login: str, password: str, generated: bool, variable: str) -> None:
    if generated:
        # Shown once: only hashes are kept (registry scrypt, PostgreSQL SCRAM verifier).
        print(f"password for {login} (shown once, not stored): {password}")
    else:
        print(f"password for {login}: from ${variable}")


def _grant(settings: Settings, warehouse: str, tenant_id: str, password: str) -> str:
    principal = registry.tenant_principal(tenant_id)
    if warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import apply_access, grant_tenant

        grant_tenant(settings, principal.tenant_id or tenant_id, password)
        report = apply_access(settings, require_all=False)
        console.print(f"[dim]tenant access: {report.summary()}[/dim]", highlight=False)
    registry.store_password(settings, principal, password)
    return principal.login


def cmd_grant(args: argparse.Namespace, settings: Settings) -> int:
    tenant_id = normalize_tenant_id(args.tenant_id)
    password, generated = _password(args.password_env)
    login = _grant(settings, args.warehouse, tenant_id, password)
    if args.warehouse != "postgres":
        console.print(f"[dim]{args.warehouse}: login stored for the dashboard and exports; the "
                      "SQL endpoint is PostgreSQL (--warehouse postgres)[/dim]")
    _show_password(login, password, generated, args.password_env)
    print(login)  # last line: the role name, for scripts
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    tenant_id = normalize_tenant_id(args.tenant_id)
    login = role_name(tenant_id)
    removed = registry.remove_login(settings, login)
    if args.warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import revoke_tenant

        removed = revoke_tenant(tenant_id) or removed
    if not removed:
        raise TenantError(f"tenant {tenant_id}: nothing to revoke (no login {login})")
    if tenant_id in load_tenants_config().tenant_ids():
        console.print(f"[yellow]tenant {tenant_id} is still declared in "
                      f"{load_tenants_config().path}: the next sync grants it again[/yellow]")
    print(f"revoked {login}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    declared = set(load_tenants_config().tenant_ids())
    logins = {p.tenant_id: updated for p, updated in registry.registered_principals(settings)
              if p.kind == "tenant"}
    roles = {}
    if args.warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import granted_roles

        roles = {role.tenant_id: role for role in granted_roles()}
    rows = []
    for tenant_id in sorted({*declared, *logins, *roles}, key=_sort_key):
        role = roles.get(tenant_id)
        rows.append([
            tenant_id, role_name(tenant_id), "yes" if tenant_id in declared else "no",
            logins.get(tenant_id, "-") or "-",
            ("yes" if role and role.can_login else "missing") if args.warehouse == "postgres"
            else "n/a",
        ])  # fmt: skip
    headers = ["tenant", "role", "declared", "login stored", "postgres role"]
    # Which relations every tenant gets with the platform profile the warehouse was built with.
    doors = profile_doors(settings, args.warehouse).summary()
    if sys.stdout.isatty():
        table = Table(title=f"tenants ({args.warehouse})", caption=doors)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        print("\t".join(headers))
        for row in rows:
            print("\t".join(row))
        print(doors, file=sys.stderr)  # stdout stays one tab-separated table
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    config = load_tenants_config()
    known = {p.tenant_id for p, _ in registry.registered_principals(settings) if p.kind == "tenant"}
    if args.warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import granted_roles

        known = {role.tenant_id for role in granted_roles() if role.can_login} & known
    granted = 0
    for tenant_id in config.tenant_ids():
        if tenant_id in known:
            continue
        variable = _per_tenant_variable(tenant_id)
        password, generated = _password(variable)
        login = _grant(settings, args.warehouse, tenant_id, password)
        _show_password(login, password, generated, variable)
        granted += 1
    revoked = 0
    if args.prune:
        declared = set(config.tenant_ids())
        for tenant_id in sorted(known - declared, key=_sort_key):
            registry.remove_login(settings, role_name(tenant_id))
            if args.warehouse == "postgres":
                from tenant_warehouse.tenants.postgres_access import revoke_tenant

                revoke_tenant(tenant_id)
            print(f"revoked {role_name(tenant_id)} (not declared)")
            revoked += 1
    extra = ""
    if args.warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import apply_access

        extra = "; " + apply_access(settings, require_all=False).summary()
    elif args.warehouse == "bigquery":
        from tenant_warehouse.tenants.bigquery_access import apply_policies

        extra = f"; {apply_policies(settings)} BigQuery row access policies in force"
    print(f"sync ({config.path}): {len(config.tenants)} declared, {granted} granted, "
          f"{revoked} revoked{extra}")
    return 0


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    if args.warehouse == "postgres":
        from tenant_warehouse.tenants.postgres_access import apply_access

        report = apply_access(settings, require_all=not args.allow_missing)
        print(f"tenant access: {report.summary()}")
    elif args.warehouse == "bigquery":
        from tenant_warehouse.tenants.bigquery_access import apply_policies

        print(f"tenant access: {apply_policies(settings)} BigQuery row access policies in force; "
              f"{profile_doors(settings, 'bigquery').summary()}")
    else:
        print("tenant access: nothing to apply on DuckDB (each tenant reader builds its own views); "
              f"{profile_doors(settings, 'duckdb').summary()}")
    return 0


def cmd_operator(args: argparse.Namespace, settings: Settings) -> int:
    principal = registry.operator_principal(args.login)
    password, generated = _password(args.password_env)
    registry.store_password(settings, principal, password)
    _show_password(principal.login, password, generated, args.password_env)
    print(principal.login)
    return 0


def _sort_key(tenant_id: str) -> tuple[str, int]:
    instance, _, organization = tenant_id.partition(":")
    return instance, int(organization or 0)


def cmd_tenants(args: argparse.Namespace, settings: Settings) -> int:
    handler: Callable[[argparse.Namespace, Settings], int] = args.tenants_handler
    return handler(args, settings)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `warehouse tenants` (cli.py registers the group)."""
    sub = parser.add_subparsers(dest="tenants_command", required=True, metavar="SUBCOMMAND")
    default_warehouse = os.environ.get("TW_WAREHOUSE", "duckdb")

    def command(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        child = sub.add_parser(name, help=help_text, description=help_text,
                               formatter_class=RichHelpFormatter)
        child.set_defaults(tenants_handler=handler)
        child.add_argument("--warehouse", choices=("duckdb", "postgres", "bigquery"),
                           default=default_warehouse,
                           help="warehouse whose tenant access to manage (default: duckdb, or "
                           "TW_WAREHOUSE); the SQL endpoint is postgres")
        return child

    grant = command("grant", "Create or reset a tenant's login: PostgreSQL role "
                    "tw_tenant_<instance>_<organization> reading only schema `tenant`, and the "
                    "dashboard/export login. Prints the role name on its last line.", cmd_grant)
    grant.add_argument("tenant_id", help="e.g. uk:42")
    grant.add_argument("--password-env", default=PASSWORD_ENV, metavar="VARIABLE",
                       help=f"take the password from this variable (default {PASSWORD_ENV}); "
                       "unset: a random one is generated and shown once")
    revoke = command("revoke", "Remove a tenant's login and role; its sessions are ended.",
                     cmd_revoke)
    revoke.add_argument("tenant_id", help="e.g. uk:42")
    command("list", "Tenants declared, logins stored and PostgreSQL roles present.", cmd_list)
    sync = command("sync", "Grant every tenant declared in tenants.yml (TW_TENANTS_FILE) that has "
                   "no login yet (password from TW_TENANT_PASSWORD_<INSTANCE>_<ORG> or generated "
                   "and shown once), re-apply the tenant views (postgres) or row access policies "
                   "(bigquery).", cmd_sync)
    sync.add_argument("--prune", action="store_true",
                      help="also revoke tenants that have a login but are no longer declared")
    apply = command("apply", "Re-create the tenant views and check the tenant roles (PostgreSQL), "
                    "or the row access policies (BigQuery); every build does this itself.",
                    cmd_apply)
    apply.add_argument("--allow-missing", action="store_true",
                       help="do not fail when a published mart is not built yet")
    operator = command("operator", "Create or reset an operator login (dashboard, exports; no "
                       "SQL endpoint role).", cmd_operator)
    operator.add_argument("login", help="operator name")
    operator.add_argument("--password-env", default=PASSWORD_ENV, metavar="VARIABLE",
                          help="take the password from this variable (default "
                          f"{PASSWORD_ENV}); unset: generated and shown once")
