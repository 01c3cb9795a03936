"""A tenant's data dumps for download, written by the exports package into a per-tenant folder.

The folder is derived from the session's tenant and the format, never from the URL; a file
name from the URL is served only when it is one of the files the export of that tenant wrote.
An export is rewritten only when the tenant's data changed (its fingerprint), so a second
download of unchanged data costs a fingerprint, not a new dump.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

from tenant_warehouse.exports import FORMATS, ExportedFile, export_tenant, tenant_slug
from tenant_warehouse.exports.manifest import CHECKSUMS, MANIFEST
from tenant_warehouse.settings import Settings

__all__ = ["FORMATS", "find_file", "media_type", "tenant_export"]
# Besides the data files, what every export folder holds (fixed names, never from the URL).
INDEX_FILES = (MANIFEST, CHECKSUMS)
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()

MEDIA_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": "application/vnd.apache.parquet",
    ".duckdb": "application/octet-stream",
    ".json": "application/json",
    ".zip": "application/zip",
}
TEXT_FILES = {CHECKSUMS: "text/plain"}


def export_dir(settings: Settings, tenant_id: str, fmt: str) -> Path:
    return settings.home / "dashboard" / "exports" / tenant_slug(tenant_id) / fmt


def tenant_export(
    settings: Settings, warehouse: str, tenant_id: str, fmt: str
) -> list[ExportedFile]:
    """The files of the session tenant's export in `fmt` (written now when the data changed)."""
    if fmt not in FORMATS:
        raise KeyError(fmt)
    with _locks_guard:
        lock = _locks[(tenant_id, fmt)]
    with lock:  # two clicks on one button must not write the same files at once
        result = export_tenant(settings, warehouse, tenant_id, fmt, export_dir(settings, tenant_id, fmt))
    return list(result.files)


def find_file(files: list[ExportedFile], name: str) -> Path | None:
    """The exported file called `name`, if the export wrote one, or its manifest or checksums
    (no path is ever built from `name`: it is only compared with what the export wrote)."""
    for file in files:
        if file.path.name == name:
            return file.path
    if files and name in INDEX_FILES:
        return files[0].path.parent / INDEX_FILES[INDEX_FILES.index(name)]
    return None


def media_type(path: Path) -> str:
    return TEXT_FILES.get(path.name) or MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
