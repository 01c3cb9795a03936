"""What an export wrote: the files, their rows, sizes and checksums (the manifest's content)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("csv", "xlsx", "parquet", "duckdb")

# progress(relation, rows written so far, rows the relation holds for the tenant)
ExportProgress = Callable[[str, int, int], None]


class ExportError(RuntimeError):
    """An export that cannot be done as asked; the message names tenant, relation and cause."""


@dataclass(frozen=True)
class ExportedFile:
    path: Path  # absolute path of the file written
    relations: tuple[str, ...]  # tenant relations it holds (several for a workbook or DuckDB file)
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    tenant_id: str
    format: str
    output_dir: Path
    fingerprint: str  # digest of the tenant's data: equal fingerprints, equal files' content
    files: list[ExportedFile] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows per tenant relation
    skipped: bool = False  # True when the output already held this fingerprint (not rewritten)
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    error: str | None = None  # set by export_tenants when this tenant failed (the others went on)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def bytes(self) -> int:
        return sum(file.bytes for file in self.files)
