"""Source readers: chunked extraction from an instance's database into typed arrow tables."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ingestion.errors import SourceUnavailable
from ingestion.readers.base import SourceReader


def open_reader(instance: str, url: str) -> SourceReader:
    """Open a reader for a SQLAlchemy-style URL (`sqlite:///path`, `postgresql+psycopg2://...`).
    Raises SourceUnavailable naming the instance when the database cannot be opened."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SourceUnavailable(instance, None, f"invalid source URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        from ingestion.readers.sqlite import SqliteReader

        return SqliteReader(instance, parsed.database)
    if backend == "postgresql":
        from ingestion.readers.postgres import PostgresReader

        return PostgresReader(instance, parsed)
    raise SourceUnavailable(
        instance,
        None,
        f"unsupported source {parsed.render_as_string(hide_password=True)} "
        "(supported: sqlite:///path, postgresql+psycopg2://...)",
    )


__all__ = ["SourceReader", "open_reader"]
