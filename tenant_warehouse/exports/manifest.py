"""The manifest of an export folder: what was written, from which data, with checksums.

`manifest.json` (machine-readable: tenant, format, data fingerprint, files with rows, bytes and
sha256) and `SHA256SUMS` (`sha256sum -c SHA256SUMS` verifies the folder). The manifest is written
last: a folder without one (or whose files do not match it) is not a finished export.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
MANIFEST_VERSION = 1


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(directory: Path, tenant_id: str, fmt: str, fingerprint: str) -> bool:
    """True when the folder holds a finished export of exactly this data in this format (each
    listed file present with its size; a damaged folder is rewritten)."""
    manifest = read_manifest(directory)
    if not manifest or manifest.get("version") != MANIFEST_VERSION:
        return False
    if (manifest.get("tenant_id"), manifest.get("format")) != (tenant_id, fmt):
        return False
    if fingerprint not in (manifest.get("fingerprint"), manifest.get("precheck_fingerprint")):
        return False
    for entry in manifest.get("files", []):
        path = directory / entry["name"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
    return True


def write_manifest(directory: Path, document: dict[str, Any]) -> None:
    document = {"version": MANIFEST_VERSION, **document}
    sums = "".join(f"{entry['sha256']}  {entry['name']}\n" for entry in document["files"])
    _atomic_write(directory / CHECKSUMS, sums)
    _atomic_write(directory / MANIFEST, json.dumps(document, indent=2, default=str) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
