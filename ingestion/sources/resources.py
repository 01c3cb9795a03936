"""The dlt resources of the spreadsheets and rest_api instances selected for a run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ingestion.config import TableConfig
from ingestion.extract import RunContext
from ingestion.sources.config import options_of


def other_source_resources(
    ctx: RunContext, instances: Sequence[str], tables: Sequence[TableConfig]
) -> Iterator[Any]:
    """One resource per (instance, table) for every selected instance that is not a database,
    for the selected tables it declares."""
    config = ctx.config
    if config is None:
        return
    for name in instances:
        instance = config.instance(name)
        if instance.kind == "database":
            continue
        options = options_of(instance)
        for table in tables:
            if table.name not in options.tables:
                continue
            resolved = config.for_instance(table, name)
            if instance.kind == "spreadsheets":
                from ingestion.sources.spreadsheets import folder_of, spreadsheet_resource

                folder = folder_of(instance, options, config.path)
                yield spreadsheet_resource(ctx, instance, resolved, options.tables[table.name], folder)
            elif instance.kind == "rest_api":
                from ingestion.sources.rest_api import rest_api_resource

                yield rest_api_resource(ctx, instance, resolved, options, table.name)
