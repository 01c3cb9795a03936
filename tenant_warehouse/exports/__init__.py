"""Tenant data dumps (csv, xlsx, parquet, duckdb) and their scheduled delivery.

Public functions (the web dashboard links to them):
- `export_tenant(settings, warehouse, tenant_id, fmt, output_dir, progress=None) -> ExportResult`
- `deliver(settings, warehouse, schedule=..., ...) -> DeliveryReport` (exports.delivery)
"""

from tenant_warehouse.exports.dump import export_tenant, tenant_slug
from tenant_warehouse.exports.result import (
    FORMATS,
    ExportedFile,
    ExportError,
    ExportProgress,
    ExportResult,
)

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportProgress",
    "ExportResult",
    "ExportedFile",
    "export_tenant",
    "tenant_slug",
]
