"""Tenant data dumps (csv, xlsx, parquet, duckdb) and their scheduled delivery.

Public functions (the web dashboard links to them):
- `export_tenant(settings, warehouse, tenant_id, fmt, output_dir, progress=None) -> ExportResult`
- `deliver(settings, warehouse, schedule=..., ...) -> DeliveryReport` (exports.delivery)
"""

from typing import Any

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


def __getattr__(name: str) -> Any:
    # The writers import pyarrow (~0.3 s): loaded on first use, so `warehouse --help` and
    # `warehouse status`, which only register the export commands, stay fast.
    if name in ("export_tenant", "tenant_slug"):
        from tenant_warehouse.exports import dump

        return getattr(dump, name)
    raise AttributeError(name)
