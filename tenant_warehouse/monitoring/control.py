"""What `warehouse rerun` and `warehouse backfill` reload: selections of instances and tables.

A selection maps instance -> tables. `run_ingestion` takes a list of instances and a list of
tables (their cross product), so a selection is split into groups of instances that share the
same tables; nothing outside the selection is read or loaded, and dbt rebuilds only what is
downstream of the selected raw tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from tenant_warehouse.monitoring.store import Warehouse

Selection = dict[str, set[str]]


class SelectionError(ValueError):
    """A --select token names no configured instance or table."""


def parse_selection(
    tokens: Iterable[str], instances: Sequence[str], tables: Sequence[str]
) -> Selection:
    """Tokens: `uk` (every table of uk), `orders` (orders of every instance), `uk.orders`,
    `*.orders`, `uk.*`. Comma-separated tokens are accepted too."""
    selection: Selection = {}
    for token in (part.strip() for raw in tokens for part in raw.split(",")):
        if not token:
            continue
        if "." in token:
            instance_part, _, table_part = token.partition(".")
        elif token in instances:
            instance_part, table_part = token, "*"
        elif token in tables:
            instance_part, table_part = "*", token
        else:
            raise SelectionError(
                f"--select {token}: not a configured instance ({', '.join(instances)}) "
                f"or table ({', '.join(tables)})"
            )
        chosen_instances = list(instances) if instance_part == "*" else [instance_part]
        chosen_tables = list(tables) if table_part == "*" else [table_part]
        for instance in chosen_instances:
            if instance not in instances:
                raise SelectionError(f"--select {token}: unknown instance {instance!r}")
        for table in chosen_tables:
            if table not in tables:
                raise SelectionError(f"--select {token}: unknown table {table!r}")
        for instance in chosen_instances:
            selection.setdefault(instance, set()).update(chosen_tables)
    return selection


def failed_selection(warehouse: Warehouse) -> Selection:
    """Every (instance, table) whose latest ingestion run failed."""
    selection: Selection = {}
    if not warehouse.has_view("pipeline_status"):
        return selection
    for row in warehouse.query(
        "select instance_id, table_name from observability.pipeline_status where is_failing"
    ):
        selection.setdefault(row["instance_id"], set()).add(row["table_name"])
    return selection


def group_selection(
    selection: Selection, table_order: Sequence[str] = ()
) -> list[tuple[list[str], list[str]]]:
    """[(instances, tables)] whose cross products together are exactly the selection."""
    order = {name: index for index, name in enumerate(table_order)}
    groups: dict[tuple[str, ...], list[str]] = {}
    for instance in sorted(selection):
        tables = tuple(sorted(selection[instance], key=lambda t: (order.get(t, len(order)), t)))
        if tables:
            groups.setdefault(tables, []).append(instance)
    return [(instances, list(tables)) for tables, instances in groups.items()]


def dbt_selectors(tables: Iterable[str], source: str = "platform") -> list[str]:
    """dbt --select arguments for everything built from these raw tables."""
    return [f"source:{source}.{table}+" for table in sorted(set(tables))]


def parse_since(value: str) -> dt.datetime:
    """`2026-06-01` (midnight UTC) or an ISO timestamp (UTC unless it says otherwise)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SelectionError(f"--since {value}: expected a date (YYYY-MM-DD) or ISO timestamp") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    if moment > dt.datetime.now(dt.UTC):
        raise SelectionError(f"--since {value}: is in the future")
    return moment
