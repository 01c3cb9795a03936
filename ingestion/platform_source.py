"""dlt source and resources of the platform (decorated functions only; the logic is beside it).

One resource per (instance, table), named `<instance>__<table>`, all writing to table `<table>`
of the raw dataset, keyed by (instance_id, primary key) and merged with delete-insert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract import DltResource

from ingestion.config import TableConfig
from ingestion.extract import RunContext, extract_table
from ingestion.run_log import RUN_LOG_TABLE, RunRecord, records_table, run_log_columns
from ingestion.schema import INSTANCE_COLUMN, dlt_columns
from ingestion.sources.resources import other_source_resources

SOURCE_NAME = "platform"
MERGE = {"disposition": "merge", "strategy": "delete-insert"}


def resource_name(instance: str, table: str) -> str:
    return f"{instance}__{table}"


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def platform_source(
    ctx: RunContext,
    instances: list[str],
    tables: list[TableConfig],
    append_tables: Iterable[str] = (),
) -> Iterator[DltResource]:
    """All selected (instance, table) resources. Tables in `append_tables` are empty in raw for
    every instance, so their first load is appended: the same rows as a merge without staging
    and a delete pass (a table has one write disposition, hence all its instances or none)."""
    append = set(append_tables)
    for table in tables:
        for instance in instances:
            if ctx.config is not None and ctx.config.instance(instance).kind != "database":
                continue  # spreadsheets and REST APIs: their own resources, below
            if table.instances and instance not in table.instances:
                continue  # tables.<name>.instances: this instance does not hold the table
            # Its source_time_zone resolved for this instance.
            held = ctx.config.for_instance(table, instance) if ctx.config is not None else table
            yield table_resource(ctx, instance, held, append=table.name in append)
    yield from other_source_resources(ctx, instances, tables)


def table_resource(
    ctx: RunContext, instance: str, table: TableConfig, append: bool = False
) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        yield from extract_table(ctx, instance, table, dlt.current.resource_state())

    disposition: Any = "append" if append else MERGE
    if not table.has_key:
        # primary_key: none: each run's rows replace the instance's (merge key instance_id; a
        # marker row flagged deleted makes an empty source empty raw too). One delete-insert
        # merge per table, so readers never see the instance half replaced.
        return dlt.resource(
            rows,
            name=resource_name(instance, table.name),
            table_name=table.name,
            merge_key=INSTANCE_COLUMN,
            write_disposition=MERGE,
            columns=dlt_columns(table, hard_delete=True),
        )
    return dlt.resource(
        rows,
        name=resource_name(instance, table.name),
        table_name=table.name,
        primary_key=(INSTANCE_COLUMN, table.primary_key),
        write_disposition=disposition,
        columns=dlt_columns(table, hard_delete=not append),
    )


@dlt.resource(
    name=RUN_LOG_TABLE,
    table_name=RUN_LOG_TABLE,
    write_disposition="append",
    columns=run_log_columns(),
)
def ingestion_runs(records: list[RunRecord]) -> Iterator[pa.Table]:
    """The run records of one run, appended to raw._tw_ingestion_runs."""
    yield records_table(records)
