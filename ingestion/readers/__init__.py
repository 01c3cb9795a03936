"""Source readers: chunked extraction from an instance's database into typed arrow tables."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ingestion.errors import SourceUnavailable
from ingestion.readers.base import SourceReader


def open_reader(instance: str, url: str, time_zone: str | None = None) -> SourceReader:
    """Open a reader for a SQLAlchemy-style URL (`sqlite:///path`, `postgresql+psycopg2://...`,
    `mysql+pymysql://...`). `time_zone`: the zone of the source's zone-less DATETIME values
    (MySQL; default UTC). Raises SourceUnavailable naming the instance when the database cannot
    be opened."""
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
    if backend in ("mysql", "mariadb"):
        from ingestion.readers.mysql import MysqlReader

        return MysqlReader(instance, parsed, time_zone)
    raise SourceUnavailable(
        instance,
        None,
        f"unsupported source {parsed.render_as_string(hide_password=True)} "
        "(supported: sqlite:///path, postgresql+psycopg2://..., mysql+pymysql://...)",
    )


__all__ = ["SourceReader", "open_reader"]
