"""The warehouse side: dlt destination factories and the read-only queries extraction needs.

Extraction asks the destination two things before anything is loaded: which (key, cursor)
versions it already holds for an instance (so rows re-read from the lag window that did not
change are not loaded again, and reconciliation can diff key sets), and how many rows each
instance has (an instance with none is read in full).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dlt
import pyarrow as pa
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from ingestion.config import TableConfig
from ingestion.errors import DestinationError
from ingestion.readers.base import IDS_PER_QUERY, bucket_checksum_sql, versions_schema
from ingestion.schema import INSTANCE_COLUMN, ROW_HASH_COLUMN
from tenant_warehouse.settings import Settings

DESTINATIONS = ("duckdb", "postgres", "bigquery")
_FETCH_ROWS = 100_000


def make_destination(settings: Settings, name: str) -> Any:
    """A dlt destination configured from Settings and the same environment dbt's profile uses."""
    if name == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB runs inside this process and would otherwise cache up to 80% of RAM while
        # loading; bounded, it spills to disk instead (TW_DUCKDB_MEMORY_LIMIT to change). What it
        # cannot spill is a load's committed, not yet checkpointed rows: a 2M-row delta per
        # table at SF10 ran out of memory at 256MB with dlt's parallel load jobs (and, being
        # "transient" to dlt, was retried by every run). One load job at a time under 512MB:
        # a 10.4M-row catch-up at SF10 loaded with a peak RSS of 917 MiB (docs/performance.md).
        os.environ.setdefault("LOAD__WORKERS", "1")
        credentials = DuckDbCredentials(
            str(settings.duckdb_path),
            global_config={"memory_limit": os.environ.get("TW_DUCKDB_MEMORY_LIMIT", "512MB")},
        )
        return dlt.destinations.duckdb(credentials=credentials)
    if name == "postgres":
        return dlt.destinations.postgres(credentials=postgres_credentials())
    if name == "bigquery":
        return dlt.destinations.bigquery(
            credentials=_bigquery_credentials(), location=os.environ.get("TW_BQ_LOCATION", "EU")
        )
    raise ValueError(f"unknown destination {name!r} (expected one of {', '.join(DESTINATIONS)})")


def loader_file_format(name: str) -> str:
    # Parquet end to end where the destination loads it natively; PostgreSQL without an ADBC
    # driver loads CSV through COPY, which dlt writes straight from the arrow batches.
    return "csv" if name == "postgres" else "parquet"


def postgres_credentials() -> str:
    """TW_PG_* with the defaults of profiles.yml.example, so dlt and dbt hit the same database."""
    user = quote(os.environ.get("TW_PG_USER", "postgres"), safe="")
    # Always user:password - dlt treats an absent password as missing configuration, while
    # an empty one is what trust or peer authentication needs.
    auth = f"{user}:{quote(os.environ.get('TW_PG_PASSWORD', ''), safe='')}"
    host = os.environ.get("TW_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("TW_PG_PORT", "5432"))
    database = quote(os.environ.get("TW_PG_DATABASE", "tenant_warehouse"), safe="")
    return f"postgresql://{auth}@{host}:{port}/{database}"


def _bigquery_credentials() -> Any:
    """Service-account key file from TW_BQ_KEYFILE (as dbt), else dlt's own resolution
    (DESTINATION__BIGQUERY__CREDENTIALS__* or application default credentials)."""
    keyfile = os.environ.get("TW_BQ_KEYFILE")
    if not keyfile:
        return None
    info = json.loads(Path(keyfile).read_text(encoding="utf-8"))
    if os.environ.get("TW_BQ_PROJECT"):
        info["project_id"] = os.environ["TW_BQ_PROJECT"]
    return json.dumps(info)


@dataclass(frozen=True)
class RawStats:
    rows: int
    highest_cursor: dt.datetime | None


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


class DestinationView:
    """Read-only queries against the raw dataset through the pipeline's own SQL client."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline
        self._open: Any = None

    @contextmanager
    def connected(self) -> Iterator[DestinationView]:
        """Keep one connection for every query made inside the block: opening a dlt SQL client
        resolves the destination's configuration, which costs more than the queries."""
        stack = ExitStack()
        try:
            client = stack.enter_context(self.pipeline.sql_client())
        except Exception as exc:
            raise DestinationError(
                f"dataset {self.pipeline.dataset_name}: {type(exc).__name__}: {exc}"
            ) from exc
        with stack:
            self._open = client
            try:
                yield self
            finally:
                self._open = None

    @contextmanager
    def _client(self) -> Iterator[Any]:
        if self._open is not None:
            yield self._open
            return
        try:
            with self.pipeline.sql_client() as client:
                yield client
        except (DestinationError, DatabaseUndefinedRelation):
            raise
        except Exception as exc:
            raise DestinationError(
                f"dataset {self.pipeline.dataset_name}: {type(exc).__name__}: {exc}"
            ) from exc

    def instance_stats(self, table: TableConfig) -> dict[str, RawStats]:
        """Rows and highest cursor per instance_id in raw.<table>; {} when the dataset or the
        table does not exist yet."""
        try:
            with self._client() as client:
                if not client.has_dataset():
                    return {}
                highest = f"max({table.cursor})" if table.cursor else "NULL"
                sql = (
                    f"SELECT {INSTANCE_COLUMN}, count(*), {highest} FROM "
                    f"{client.make_qualified_table_name(table.name)} GROUP BY {INSTANCE_COLUMN}"
                )
                with client.execute_query(sql) as cursor:
                    return {
                        str(row[0]): RawStats(int(row[1]), _aware(row[2]))
                        for row in cursor.fetchall()
                    }
        except DatabaseUndefinedRelation:
            return {}

    def versions(
        self,
        table: TableConfig,
        instance: str,
        *,
        since: dt.datetime | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> pa.Table:
        """(primary key, cursor) of the instance's raw rows with cursor >= since and
        low <= key < high (each filter only when given)."""
        schema = versions_schema(table)
        key, cursor_column = table.primary_key, table.cursor
        clauses, params = [f"{INSTANCE_COLUMN} = %s"], [instance]
        if since is not None:
            clauses.append(f"{cursor_column} >= %s")
            params.append(since)
        if low is not None:
            clauses.append(f"{key} >= %s")
            params.append(low)
        if high is not None:
            clauses.append(f"{key} < %s")
            params.append(high)
        try:
            with self._client() as client:
                sql = (
                    f"SELECT {key}, {cursor_column} FROM {client.make_qualified_table_name(table.name)}"
                    f" WHERE {' AND '.join(clauses)}"
                )
                with client.execute_query(sql, *params) as cursor, warnings.catch_warnings():
                    # duckdb notes that DB-API arrow output copies rows; these are two columns.
                    warnings.simplefilter("ignore", UserWarning)
                    parts = [_conform(part, schema) for part in cursor.iter_arrow(_FETCH_ROWS)]
        except DatabaseUndefinedRelation:
            return schema.empty_table()
        parts = [p for p in parts if p.num_rows]
        return pa.concat_tables(parts) if parts else schema.empty_table()


    def versions_of(self, table: TableConfig, instance: str, keys: pa.Array) -> pa.Table:
        """(primary key, cursor) of the instance's raw rows with these keys (absent keys are
        simply missing), queried in chunks of literal keys."""
        schema = versions_schema(table)
        parts: list[pa.Table] = []
        ids = [int(k) for k in keys.to_pylist() if k is not None]
        try:
            with self._client() as client:
                qualified = client.make_qualified_table_name(table.name)
                for start in range(0, len(ids), IDS_PER_QUERY):
                    literal = ", ".join(str(i) for i in ids[start : start + IDS_PER_QUERY])
                    sql = (
                        f"SELECT {table.primary_key}, {table.cursor} FROM {qualified}"
                        f" WHERE {INSTANCE_COLUMN} = %s AND {table.primary_key} IN ({literal})"
                    )
                    with client.execute_query(sql, instance) as cursor, warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        parts += [_conform(p, schema) for p in cursor.iter_arrow(_FETCH_ROWS)]
        except DatabaseUndefinedRelation:
            return schema.empty_table()
        parts = [p for p in parts if p.num_rows]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    @property
    def engine(self) -> str:
        """duckdb, postgres or bigquery."""
        return str(self.pipeline.destination.destination_type).rsplit(".", 1)[-1]

    def bucket_checksums(
        self, table: TableConfig, instance: str, width: int
    ) -> dict[int, tuple[int, int]]:
        """bucket -> (row count, checksum) of the instance's raw rows, computed in the warehouse
        with the same definition as in the source (readers.base.bucket_checksum_sql)."""
        try:
            with self._client() as client:
                if not client.has_dataset():
                    return {}
                sql = raw_bucket_sql(
                    self.engine, table, client.make_qualified_table_name(table.name), width
                )
                with client.execute_query(sql, instance) as cursor:
                    return {int(b): (int(c), int(h)) for b, c, h in cursor.fetchall()}
        except DatabaseUndefinedRelation:
            return {}

    def row_hashes(self, table: TableConfig, instance: str) -> pa.Table:
        """(primary key, _tw_row_hash) of the instance's raw rows (`cursor: none` tables)."""
        key = table.primary_key or ""
        schema = pa.schema([pa.field(key, pa.int64()), pa.field(ROW_HASH_COLUMN, pa.string())])
        try:
            with self._client() as client:
                if not client.has_dataset():
                    return schema.empty_table()
                qualified = client.make_qualified_table_name(table.name)
                with client.execute_query(f"SELECT * FROM {qualified} WHERE 1 = 0") as probe:
                    names = [d[0] for d in probe.description or ()]
                # A table configured `cursor: none` after it was loaded with a cursor has no
                # digests yet: every row counts as changed once, and gets its digest.
                digest = ROW_HASH_COLUMN if ROW_HASH_COLUMN in names else "NULL"
                sql = f"SELECT {key}, {digest} FROM {qualified} WHERE {INSTANCE_COLUMN} = %s"
                with client.execute_query(sql, instance) as cursor, warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    parts = [_conform(part, schema) for part in cursor.iter_arrow(_FETCH_ROWS)]
        except DatabaseUndefinedRelation:
            return schema.empty_table()
        parts = [p for p in parts if p.num_rows]
        return pa.concat_tables(parts) if parts else schema.empty_table()


def raw_bucket_sql(engine: str, table: TableConfig, qualified: str, width: int) -> str:
    """The bucket checksum query over one instance's raw rows (parameter: instance_id) in the
    warehouse's dialect: integer division and epoch seconds are spelled differently."""
    key, cursor = table.primary_key or "", table.cursor or ""
    seconds = {
        "duckdb": f"CAST(floor(epoch_us({cursor}) / 1000000.0) AS BIGINT)",
        "postgres": f"floor(date_part('epoch', {cursor}))::bigint",
        "bigquery": f"UNIX_SECONDS({cursor})",
    }[engine]
    divide = {"duckdb": "//", "postgres": "/", "bigquery": "DIV"}[engine]
    return bucket_checksum_sql(
        key=key, seconds=seconds, table=qualified, width=width, divide=divide,
        where=f" WHERE {INSTANCE_COLUMN} = %s",
        # MOD(): a literal `%` would clash with the drivers' %s parameters.
        mod=_mod,
    )


def _mod(left: str, right: str) -> str:
    return f"MOD({left}, {right})"


def _conform(part: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rename and cast a query result to `schema`: drivers differ in column names and in the
    zone label of timestamps (same instants; a cast between zones only relabels)."""
    arrays = [part.column(index).cast(field.type) for index, field in enumerate(schema)]
    return pa.Table.from_arrays(arrays, schema=schema)
