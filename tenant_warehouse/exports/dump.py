"""`export_tenant`: everything one tenant may see, in one format, into one folder.

Every row is read through the tenant door (`tenants.access.tenant_reader`), streamed batch by
batch into the format's writer (bounded memory), checked once more against the tenant id, and
counted against the relation's count. Files are written into a hidden partial folder and moved
into place before the manifest, so a crashed export never looks finished. When the folder
already holds an export of the same data (same fingerprint, format and tenant) it is left as it
is: a scheduled export of every tenant rewrites only the tenants whose data changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tenant_warehouse.exports.manifest import is_current, read_manifest, sha256_of, write_manifest
from tenant_warehouse.exports.result import (
    FORMATS,
    ExportedFile,
    ExportError,
    ExportProgress,
    ExportResult,
)
from tenant_warehouse.exports.writers import RelationInfo, open_writer
from tenant_warehouse.settings import Settings

DEFAULT_BATCH_ROWS = 50_000


def tenant_slug(tenant_id: str) -> str:
    """File-system name of a tenant (`uk:42` -> `uk_42`): no colon, safe in every OS and zip."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", tenant_id)


def export_tenant(
    settings: Settings,
    warehouse: str,
    tenant_id: str,
    fmt: str,
    output_dir: Path,
    progress: ExportProgress | None = None,
    *,
    force: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    precheck_fingerprint: str | None = None,
) -> ExportResult:
    """Write tenant `tenant_id`'s relations as `fmt` (csv, xlsx, parquet, duckdb) into
    `output_dir` with manifest.json and SHA256SUMS; skip the rewrite when the folder already
    holds this data (unless `force`)."""
    from tenant_warehouse.tenants.access import tenant_reader

    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    started = time.perf_counter()
    output_dir = Path(output_dir).resolve()
    with tenant_reader(settings, warehouse, tenant_id) as reader:
        relations = sorted(reader.relations(), key=lambda r: r.name)
        if precheck_fingerprint is None:
            counts, fingerprint = data_fingerprint(reader, warehouse, relations)
        else:
            # Several tenants at once: the pre-check already digested this tenant's data (one
            # grouped scan per mart); the door only counts rows, in one query, to check the stream.
            counts, fingerprint = relation_counts(reader, relations), precheck_fingerprint
        _require_known_tenant(tenant_id, relations, counts)
        if not force and is_current(output_dir, tenant_id, fmt, fingerprint):
            return _skipped(tenant_id, fmt, output_dir, fingerprint, counts, started)
        output_dir.mkdir(parents=True, exist_ok=True)
        partial = output_dir / f".partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            written, infos = _write(
                reader, relations, counts, fmt, partial, tenant_id, fingerprint, progress,
                batch_rows,
            )  # fmt: skip
            result = _publish(
                partial, output_dir, tenant_id, fmt, warehouse, fingerprint, written, infos,
                precheck_fingerprint,
            )  # fmt: skip
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    result.peak_rss_bytes = peak_rss_bytes()
    return result


def data_fingerprint(
    reader: Any, warehouse: str, relations: list[Any]
) -> tuple[dict[str, int], str]:
    """Rows per relation and one digest of the tenant's data: per relation its columns and an
    order-independent sum of row hashes, computed in the warehouse (no row leaves it)."""
    counts: dict[str, int] = {}
    parts = []
    for relation in relations:
        row = reader.query(_fingerprint_sql(warehouse, relation.name)).to_pylist()[0]
        schema = reader.query(f"select * from tenant.{_ident(relation.name)} limit 0").schema
        counts[relation.name] = int(row["row_count"])
        parts.append((relation.name, schema.names, int(row["row_count"]), str(row["digest"])))
    return counts, combine_fingerprint(warehouse, parts)


def relation_counts(reader: Any, relations: list[Any]) -> dict[str, int]:
    """Rows per relation for this tenant, in one query through the door."""
    if not relations:
        return {}
    sql = " union all ".join(
        f"select '{_ident(r.name)}' as relation_name, count(*) as row_count from tenant.{_ident(r.name)}"
        for r in relations
    )
    return {row["relation_name"]: int(row["row_count"]) for row in reader.query(sql).to_pylist()}


def combine_fingerprint(warehouse: str, parts: list[tuple[str, list[str], int, str]]) -> str:
    """sha256 over (relation, column names, rows, sum of row hashes), relations by name. The
    operator-side pre-check (exports.fingerprint) builds the same digest from one scan per mart."""
    digest = hashlib.sha256(f"tenant-export-v1:{warehouse}".encode())
    for name, columns, rows, row_hashes in sorted(parts):
        digest.update(json.dumps([name, list(columns), rows, row_hashes]).encode())
    return digest.hexdigest()


def _require_known_tenant(tenant_id: str, relations: list[Any], counts: dict[str, int]) -> None:
    """A tenant id the warehouse has no organization for is a mistake, not an empty dump."""
    for relation in relations:
        if relation.source_name == "dim_organizations" and counts[relation.name] == 0:
            raise ExportError(
                f"tenant {tenant_id}: no such organization in the warehouse"
                f" (relation {relation.name} has no row for it)"
            )


# Sum of row hashes, order-independent. PostgreSQL: md5 of the row's text form, 60 bits of it
# as a bigint so the sum stays exact (numeric). DuckDB: hash() of the row struct.
ROW_HASH_SUM = {
    "postgres": "coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint), 0)::text",
    "duckdb": "coalesce(sum(hash(t)), 0)::varchar",
}


def _fingerprint_sql(warehouse: str, name: str) -> str:
    return (
        f"select count(*) as row_count, {ROW_HASH_SUM[warehouse]} as digest"
        f" from tenant.{_ident(name)} as t"
    )


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ExportError(f"relation name {name!r} is not a plain identifier")
    return name


def _write(
    reader: Any,
    relations: list[Any],
    counts: dict[str, int],
    fmt: str,
    directory: Path,
    tenant_id: str,
    fingerprint: str,
    progress: ExportProgress | None,
    batch_rows: int,
) -> tuple[list[Any], list[RelationInfo]]:
    writer = open_writer(fmt, directory, tenant_slug(tenant_id))
    writer.plan([relation.name for relation in relations])
    infos: list[RelationInfo] = []
    for relation in relations:
        expected = counts[relation.name]
        if progress:
            progress(relation.name, 0, expected)
        batches = _checked_batches(reader, relation, tenant_id, batch_rows)
        first = next(batches, None)
        schema = first.schema if first is not None else reader.query(
            f"select * from tenant.{_ident(relation.name)} limit 0"
        ).schema
        info = RelationInfo(relation.name, relation.description, schema)
        writer.begin(info)
        rows = 0
        for batch in _chain(first, batches):
            if batch.schema != schema:
                batch = _conform(batch, schema, tenant_id, relation.name)
            writer.write(batch)
            rows += batch.num_rows
            if progress:
                progress(relation.name, rows, expected)
        writer.end()
        if rows != expected:
            raise ExportError(
                f"tenant {tenant_id}: relation {relation.name} streamed {rows} rows but holds"
                f" {expected} (the warehouse changed during the export); run it again"
            )
        infos.append(RelationInfo(relation.name, relation.description, schema, rows))
    notes = {
        "tenant_id": tenant_id,
        "exported_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "data_fingerprint": fingerprint,
        "timestamps": "UTC",
    }
    return writer.finish(infos, notes), infos


def _checked_batches(
    reader: Any, relation: Any, tenant_id: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The door's batches, each verified to hold only this tenant's rows (defence in depth:
    a file must never carry another tenant's row, even if a relation were misdeclared)."""
    column = getattr(relation, "tenant_column", "tenant_id")
    for batch in reader.batches(relation.name, batch_rows=batch_rows):
        if batch.num_rows == 0:
            continue
        if column not in batch.schema.names:
            raise ExportError(
                f"tenant {tenant_id}: relation {relation.name} has no tenant column {column}"
            )
        values = batch.column(column)
        foreign = batch.num_rows - pc.sum(pc.equal(values, tenant_id).fill_null(False)).as_py()
        if foreign:
            raise ExportError(
                f"tenant {tenant_id}: relation {relation.name} returned {foreign} row(s) of"
                f" another tenant; export stopped, nothing written"
            )
        yield batch


def _chain(first: pa.RecordBatch | None, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    if first is not None:
        yield first
        yield from rest


def _conform(batch: pa.RecordBatch, schema: pa.Schema, tenant_id: str, name: str) -> pa.RecordBatch:
    try:
        return batch.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError) as exc:
        raise ExportError(
            f"tenant {tenant_id}: relation {name} changed shape during the export: {exc}"
        ) from exc


def _publish(
    partial: Path,
    output_dir: Path,
    tenant_id: str,
    fmt: str,
    warehouse: str,
    fingerprint: str,
    written: list[Any],
    infos: list[RelationInfo],
    precheck_fingerprint: str | None = None,
) -> ExportResult:
    previous = read_manifest(output_dir) or {}
    files: list[ExportedFile] = []
    for item in written:
        target = output_dir / item.path.name
        checksum = sha256_of(item.path)
        size = item.path.stat().st_size
        os.replace(item.path, target)
        files.append(ExportedFile(target, item.relations, item.rows, size, checksum))
    names = {file.path.name for file in files}
    for entry in previous.get("files", []):  # files of an earlier export no longer produced
        if entry.get("name") not in names:
            (output_dir / entry["name"]).unlink(missing_ok=True)
    write_manifest(output_dir, {
        "tenant_id": tenant_id,
        "format": fmt,
        "warehouse": warehouse,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        # What the all-tenant pre-check (exports.fingerprint) saw; equal to `fingerprint`
        # unless the warehouse's tenant views and marts differ in shape.
        "precheck_fingerprint": precheck_fingerprint or fingerprint,
        "relations": {
            info.name: {"rows": info.rows, "description": info.description,
                        "columns": {f.name: str(f.type) for f in info.schema}}
            for info in infos
        },
        "files": [
            {"name": f.path.name, "relations": list(f.relations), "rows": f.rows,
             "bytes": f.bytes, "sha256": f.sha256}
            for f in files
        ],
    })  # fmt: skip
    return ExportResult(
        tenant_id=tenant_id, format=fmt, output_dir=output_dir, fingerprint=fingerprint,
        files=files, rows={info.name: info.rows for info in infos},
    )


def export_tenants(
    settings: Settings,
    warehouse: str,
    tenant_ids: list[str],
    fmt: str,
    output_for: Any,
    progress: ExportProgress | None = None,
    force: bool = False,
    on_tenant: Any = None,
) -> list[ExportResult]:
    """Export several tenants, each into `output_for(tenant_id)`. One grouped scan per mart
    tells which tenants changed (exports.fingerprint); unchanged ones are not opened at all."""
    from tenant_warehouse.exports.fingerprint import tenant_fingerprints
    from tenant_warehouse.tenants.errors import TenantAccessError, TenantError

    started = time.perf_counter()
    prechecks = tenant_fingerprints(settings, warehouse, tenant_ids)
    results = []
    for tenant_id in tenant_ids:
        output_dir = Path(output_for(tenant_id)).resolve()
        if not force and is_current(output_dir, tenant_id, fmt, prechecks[tenant_id]):
            result = _skipped(tenant_id, fmt, output_dir, prechecks[tenant_id], None, started)
        else:
            try:
                result = export_tenant(
                    settings, warehouse, tenant_id, fmt, output_dir, progress, force=force,
                    precheck_fingerprint=prechecks[tenant_id],
                )  # fmt: skip
            except (ExportError, TenantError, TenantAccessError) as exc:
                # One tenant's problem (no access on PostgreSQL, changed during the export)
                # does not stop the others; the caller reports it and fails the run.
                result = ExportResult(
                    tenant_id=tenant_id, format=fmt, output_dir=output_dir,
                    fingerprint=prechecks[tenant_id], error=str(exc),
                )  # fmt: skip
        results.append(result)
        started = time.perf_counter()
        if on_tenant:
            on_tenant(result)
    return results


def _skipped(
    tenant_id: str, fmt: str, output_dir: Path, fingerprint: str, counts: dict[str, int] | None,
    started: float,
) -> ExportResult:
    manifest = read_manifest(output_dir) or {}
    if counts is None:
        counts = {name: int(r["rows"]) for name, r in manifest.get("relations", {}).items()}
    files = [
        ExportedFile(output_dir / e["name"], tuple(e["relations"]), e["rows"], e["bytes"], e["sha256"])
        for e in manifest.get("files", [])
    ]
    return ExportResult(
        tenant_id=tenant_id, format=fmt, output_dir=output_dir, fingerprint=fingerprint,
        files=files, rows=counts, skipped=True, seconds=time.perf_counter() - started,
        peak_rss_bytes=peak_rss_bytes(),
    )


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def tenant_fingerprint(settings: Settings, warehouse: str, tenant_id: str) -> str:
    """The digest of a tenant's data (what `export_tenant` writes in its manifest)."""
    from tenant_warehouse.tenants.access import tenant_reader

    with tenant_reader(settings, warehouse, tenant_id) as reader:
        relations = sorted(reader.relations(), key=lambda r: r.name)
        return data_fingerprint(reader, warehouse, relations)[1]
