"""Which tenants' data changed, for every tenant at once: one grouped scan per published mart.

A scheduled export of hundreds of tenants would otherwise open the tenant door once per tenant
just to learn that nothing changed (each door scans every mart filtered to its tenant). This
operator-side pre-check reads only aggregates (a row count and a sum of row hashes per tenant;
no row leaves the warehouse) and builds the same digest `export_tenant` writes in its manifest.
A tenant whose manifest matches is skipped; any other is exported through the door (which
then only counts rows to check the stream) and its manifest records this digest. Data changing
between the pre-check and the export can only cause a rewrite next time, never a skip.
"""

from __future__ import annotations

from tenant_warehouse.exports.dump import ROW_HASH_SUM, combine_fingerprint
from tenant_warehouse.settings import Settings


def tenant_fingerprints(settings: Settings, warehouse: str, tenant_ids: list[str]) -> dict[str, str]:
    """Fingerprint per tenant id (the digest export_tenant computes through the door)."""
    from tenant_warehouse.monitoring.store import open_warehouse
    from tenant_warehouse.tenants.catalog import profile_doors

    wanted = set(tenant_ids)
    parts: dict[str, list[tuple[str, list[str], int, str]]] = {t: [] for t in tenant_ids}
    with open_warehouse(settings, warehouse, read_only=True) as store:
        for relation in profile_doors(settings, warehouse).published:
            if not store.relation_exists(relation.source_schema, relation.source_name):
                continue  # the door publishes only what the profile builds and exists
            qualified = f"{relation.source_schema}.{relation.source_name}"
            cursor = store.connection.cursor()
            try:
                cursor.execute(f"select * from {qualified} limit 0")
                columns = [d[0] for d in cursor.description]
            finally:
                cursor.close()
            rows = store.query(
                f"select {relation.tenant_column} as tenant_id, count(*) as row_count,"
                f" {ROW_HASH_SUM[warehouse]} as digest from {qualified} as t"
                f" group by {relation.tenant_column}"
            )
            found = {row["tenant_id"]: row for row in rows if row["tenant_id"] in wanted}
            for tenant_id in tenant_ids:
                row = found.get(tenant_id)
                count, digest = (int(row["row_count"]), str(row["digest"])) if row else (0, "0")
                parts[tenant_id].append((relation.name, columns, count, digest))
    return {tenant_id: combine_fingerprint(warehouse, items) for tenant_id, items in parts.items()}
