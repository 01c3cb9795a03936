"""Errors the ingestion layer reports. Messages name the instance, the table and the cause, and
never contain a row's values (they may be personal data)."""

from __future__ import annotations

from dataclasses import dataclass


class IngestionError(Exception):
    """Base class for failures the ingestion layer explains itself."""


class SourceError(IngestionError):
    """Reading an instance's application database failed."""

    def __init__(self, instance: str, table: str | None, cause: str) -> None:
        self.instance = instance
        self.table = table
        self.cause = cause
        where = f"instance {instance}" + (f", table {table}" if table else "")
        super().__init__(f"{where}: {cause}")


class SourceUnavailable(SourceError):
    """The instance's database cannot be opened or reached."""


class SourceTableMissing(SourceError):
    """A configured table does not exist in the instance's database."""


class SourceSchemaMismatch(SourceError):
    """A configured column is missing or cannot be read as its configured type."""


class DestinationError(IngestionError):
    """The warehouse could not be queried or loaded."""


class IngestionLocked(IngestionError):
    """Another ingestion run holds the lock under TW_HOME."""


@dataclass(frozen=True)
class BadValue:
    """A value that could not be read as its configured type. The row is still loaded (with the
    value repaired or null) so no row is lost; the issue is counted and reported."""

    instance: str
    table: str
    row_id: object
    column: str
    reason: str

    def __str__(self) -> str:
        return (
            f"instance {self.instance}, table {self.table}, row id={self.row_id}, "
            f"column {self.column}: {self.reason}"
        )
