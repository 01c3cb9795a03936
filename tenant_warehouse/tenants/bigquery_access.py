"""BigQuery isolation: row access policies per tenant, compiled from tenants.yml and the catalog.

For every published mart table and every declared tenant with `bigquery_grantees`:

    CREATE OR REPLACE ROW ACCESS POLICY tw_tenant_uk_42 ON `project.marts.fct_orders`
    GRANT TO ("group:uk-42@example.org") FILTER USING (tenant_id = 'uk:42');

plus one `tw_writer` policy `FILTER USING (TRUE)` for the account dbt writes with (tenants.yml
`bigquery.writer` or TW_BQ_WRITER): once a table has a policy, DML (dbt's MERGE) only sees rows a
policy grants. A user covered by no policy sees no rows. dbt's `create or replace table` drops
a table's policies, so they are applied again after every build (`apply_policies`), and
`warehouse check-bigquery` proves offline that the compiled set is complete (`check_policies`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot

from tenant_warehouse.settings import PROJECT_DIR, Settings
from tenant_warehouse.tenants.catalog import (
    ProfileModels,
    TenantRelation,
    profile_doors,
    split_relations,
    tenant_relations,
)
from tenant_warehouse.tenants.config import (
    EXAMPLE_PATH,
    PATH_ENV,
    TenantsConfig,
    load_tenants_config,
    tenants_path,
)
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.tenants.ids import role_name

WRITER_POLICY = "tw_writer"
POLICY_PATTERN = re.compile(
    r"create\s+or\s+replace\s+row\s+access\s+policy\s+(?P<name>\w+)\s+on\s+`(?P<table>[^`]+)`\s+"
    r"grant\s+to\s+\((?P<grantees>[^)]*)\)\s+filter\s+using\s+\((?P<filter>.*?)\)\s*;",
    re.IGNORECASE | re.DOTALL,
)
TENANT_FILTER = re.compile(r"^(?P<column>\w+)\s*=\s*'(?P<tenant>[a-z0-9_]+:[0-9]+)'$")


@dataclass(frozen=True)
class RowAccessPolicy:
    name: str
    table: str  # project.dataset.table
    grantees: tuple[str, ...]
    filter: str

    def sql(self) -> str:
        members = ", ".join(f'"{grantee}"' for grantee in self.grantees)
        return (
            f"create or replace row access policy {self.name} on `{self.table}`\n"
            f"  grant to ({members})\n  filter using ({self.filter});"
        )


def table_names(manifest: dict[str, Any], relations: Iterable[TenantRelation]) -> dict[str, str]:
    """relation name -> `project.dataset.table` of its mart in a compiled BigQuery manifest."""
    nodes = {
        node["name"]: node for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
    }
    names = {}
    for relation in relations:
        node = nodes.get(relation.source_name)
        if node is not None:
            names[relation.name] = f"{node['database']}.{node['schema']}.{node.get('alias') or node['name']}"
    return names


def compile_policies(
    relations: list[TenantRelation], tables: dict[str, str], config: TenantsConfig
) -> list[RowAccessPolicy]:
    """The policies tenants.yml and the catalog call for (tables: relation name -> table)."""
    policies: list[RowAccessPolicy] = []
    for relation in relations:
        table = tables.get(relation.name)
        if table is None or relation.is_shared:  # shared: table-level IAM, no row policy
            continue
        if config.bigquery_writer:
            policies.append(RowAccessPolicy(WRITER_POLICY, table, (config.bigquery_writer,), "TRUE"))
        for tenant in config.tenants:
            if tenant.bigquery_grantees:
                policies.append(RowAccessPolicy(
                    role_name(tenant.tenant_id), table, tenant.bigquery_grantees,
                    f"{relation.tenant_column} = '{tenant.tenant_id}'",
                ))  # fmt: skip
    return policies


def render(policies: list[RowAccessPolicy]) -> str:
    return "\n\n".join(policy.sql() for policy in policies) + "\n"


def parse_policies(sql_text: str) -> list[RowAccessPolicy]:
    return [
        RowAccessPolicy(
            name=match["name"],
            table=match["table"],
            grantees=tuple(g.strip().strip('"') for g in match["grantees"].split(",") if g.strip()),
            filter=" ".join(match["filter"].split()),
        )
        for match in POLICY_PATTERN.finditer(sql_text)
    ]


def check_policies(
    policies: list[RowAccessPolicy],
    relations: list[TenantRelation],
    tables: dict[str, str],
    materializations: dict[str, str],
    config: TenantsConfig,
) -> list[str]:
    """Every reason `policies` would leave a tenant reading others' rows or dbt unable to write:
    a published mart missing or not a table, a tenant without its policy on a table, a policy with
    the wrong filter or grantees, a TRUE filter for anyone but the writer, no writer policy."""
    problems: list[str] = []
    declared = {t.tenant_id: t for t in config.tenants if t.bigquery_grantees}
    if declared and not config.bigquery_writer:
        problems.append(
            f"{config.path}: bigquery.writer (or TW_BQ_WRITER) is not set: with row access "
            "policies on its tables, dbt's MERGE needs a FILTER USING (TRUE) policy for its account"
        )
    by_table: dict[str, list[RowAccessPolicy]] = {}
    for policy in policies:
        by_table.setdefault(policy.table, []).append(policy)
    for relation in relations:
        where = f"tenant relation {relation.name} ({relation.source_name})"
        table = tables.get(relation.name)
        if table is None:
            problems.append(f"{where}: no such model in the BigQuery manifest")
            continue
        if relation.is_shared:
            continue
        kind = materializations.get(relation.name, "")
        if kind not in ("table", "incremental", "snapshot"):
            problems.append(f"{where}: materialized as {kind or 'unknown'}; row access policies "
                            "need a table")
        found = by_table.get(table, [])
        for policy in found:
            try:
                sqlglot.parse_one(policy.filter, read="bigquery")
            except sqlglot.errors.ParseError as exc:
                problems.append(f"{where}: policy {policy.name} filter does not parse: "
                                f"{str(exc).splitlines()[0]}")
            if policy.filter.upper() == "TRUE":
                if policy.name != WRITER_POLICY or policy.grantees != (config.bigquery_writer,):
                    problems.append(f"{where}: policy {policy.name} on {table} lets "
                                    f"{', '.join(policy.grantees)} read every tenant's rows")
                continue
            match = TENANT_FILTER.match(policy.filter)
            tenant = declared.get(match["tenant"]) if match else None
            if (
                match is None or tenant is None or match["column"] != relation.tenant_column
                or policy.name != role_name(tenant.tenant_id)
                or set(policy.grantees) != set(tenant.bigquery_grantees)
            ):
                problems.append(f"{where}: policy {policy.name} on {table} "
                                f"({policy.filter}) does not match a declared tenant")
        names = {policy.name for policy in found}
        if config.bigquery_writer and WRITER_POLICY not in names:
            problems.append(f"{where}: {table} has no {WRITER_POLICY} FILTER USING (TRUE) policy "
                            "for the writing account (dbt's MERGE would lose rows)")
        for tenant_id in declared:
            if role_name(tenant_id) not in names:
                problems.append(f"{where}: tenant {tenant_id} has no row access policy on {table}")
    return problems


def check_manifest(
    settings: Settings, manifest: dict[str, Any], config: TenantsConfig,
    policies_sql: str | None = None,
) -> tuple[str, list[str]]:
    """Compile the policies for a BigQuery manifest, parse them back and check them. Returns the
    compiled SQL and the problems; `policies_sql` checks that text instead of the compiled one.
    Relations whose mart the manifest's platform profile disables get no policy and no problem."""
    doors = split_relations(tenant_relations(settings), ProfileModels.from_manifest(manifest))
    relations = doors.published
    tables = table_names(manifest, relations)
    nodes = {n["name"]: n for n in manifest.get("nodes", {}).values()
             if n.get("resource_type") == "model"}
    materializations = {
        r.name: nodes[r.source_name]["config"].get("materialized", "")
        for r in relations if r.source_name in nodes
    }
    compiled = render(compile_policies(relations, tables, config))
    text = compiled if policies_sql is None else policies_sql
    problems = check_policies(parse_policies(text), relations, tables, materializations, config)
    return compiled, problems


def offline_check(
    settings: Settings, manifest: dict[str, Any], work_dir: Path
) -> list[tuple[str, str]]:
    """`warehouse check-bigquery`'s part: (file, problem) for the tenant row access policies
    compiled from tenants.yml (the committed example when there is none), written to
    work_dir/tenant_row_access_policies.sql for review."""
    explicit = PATH_ENV in os.environ
    path = tenants_path() if explicit or tenants_path().exists() else EXAMPLE_PATH
    try:
        config = load_tenants_config(path)
        compiled, problems = check_manifest(settings, manifest, config)
    except TenantError as exc:
        return [(str(path), str(exc))]
    # Which relations tenants get with the compiled platform profile, and which it leaves out.
    doors = split_relations(tenant_relations(settings), ProfileModels.from_manifest(manifest))
    (work_dir / "tenant_row_access_policies.sql").write_text(f"-- {doors.summary()}\n\n{compiled}")
    return [(_relative(path), problem) for problem in problems]


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def apply_policies(settings: Settings) -> int:
    """Create or replace every policy on BigQuery (TW_BQ_* credentials, after a build); drop
    tenant policies no longer declared. Returns the number of policies in force."""
    from google.cloud import bigquery

    config = load_tenants_config()
    if not any(t.bigquery_grantees for t in config.tenants):
        return 0
    project = os.environ.get("TW_BQ_PROJECT")
    if not project:
        raise TenantAccessError("tenant access on BigQuery: TW_BQ_PROJECT is not set")
    # The marts the last BigQuery build's platform profile published (its manifest).
    relations = profile_doors(settings, "bigquery").published
    tables = {r.name: f"{project}.{r.source_schema}.{r.source_name}" for r in relations}
    policies = compile_policies(relations, tables, config)
    keyfile = os.environ.get("TW_BQ_KEYFILE")
    client = (
        bigquery.Client.from_service_account_json(keyfile, project=project) if keyfile
        else bigquery.Client(project=project)
    )
    try:
        for policy in policies:
            client.query(policy.sql()).result()
        wanted = {(p.table, p.name) for p in policies}
        for table in set(tables.values()):
            # The client library has no wrapper for rowAccessPolicies.list (REST v2).
            table_project, dataset, table_id = table.split(".")
            listed = client._connection.api_request(
                method="GET",
                path=f"/projects/{table_project}/datasets/{dataset}/tables/{table_id}"
                "/rowAccessPolicies",
            )
            for policy in listed.get("rowAccessPolicies", []):
                name = policy["rowAccessPolicyReference"]["policyId"]
                if name.startswith("tw_") and (table, name) not in wanted:
                    client.query(f"drop row access policy {name} on `{table}`").result()
    except Exception as exc:
        raise TenantAccessError(f"tenant access on BigQuery: {type(exc).__name__}: {exc}") from exc
    return len(policies)
