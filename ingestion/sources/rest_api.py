"""A REST API as a source (a CRM's deals and persons, say), through dlt's `rest_api` source.

dlt's rest_api does the HTTP: the client, auth, the configured paginator, the data selector, and
retries (5xx, connection errors and 429 with its Retry-After honoured; RUNTIME__REQUEST_*
settings). Around it, this module keeps the same contract as the database readers:

- Incremental: the highest cursor seen is kept in the resource's dlt state, committed with the
  load, and sent as the configured parameter (e.g. `updated_since`) minus the table's
  `lag_seconds`; it only moves when every page was read. Items of that window whose (key,
  cursor) raw already holds are dropped before dlt, so a run with no change loads nothing.
- Deletes: an item whose `deleted_flag` field is true (how CRMs such as Pipedrive report a
  deletion in their change feed) deletes its row. An item purged without a trace is found by
  reconciliation (`reconcile_every`, or `warehouse ingest --reconcile`): the endpoint is read
  without the incremental parameter and keys raw has but the API no longer lists are deleted.
- Values are read with the spreadsheet rules (ingestion/sources/sheet_values.py) from the
  item's field, or the dotted path given in `fields` (`org_id.value`, `email.0.value`); a value
  that cannot be read is loaded as null and reported (the database readers' rule), its row kept.
- Secrets: the token comes from TW_SOURCE_<ID>_TOKEN, never from tables.yml, and never appears
  in an error message.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from collections.abc import Iterator, MutableMapping
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources.rest_api import rest_api_resources

from ingestion.config import InstanceConfig, TableConfig
from ingestion.errors import BadValue
from ingestion.extract import RunContext, drop_known
from ingestion.readers.convert import max_timestamp
from ingestion.schema import INSTANCE_COLUMN, dlt_columns, source_schema
from ingestion.shape import deletions, to_raw
from ingestion.sources.config import Endpoint, RestApiOptions
from ingestion.sources.sheet_values import BadCell, cell_parser

MERGE = {"disposition": "merge", "strategy": "delete-insert"}


class RestSourceError(Exception):
    """The API could not be read to the end (the message names what and why)."""


def base_url_of(instance: InstanceConfig, options: RestApiOptions) -> str | None:
    """TW_SOURCE_<ID>_URL, else the configured base_url."""
    return os.environ.get(f"TW_SOURCE_{instance.name.upper()}_URL") or options.base_url


def rest_api_resource(
    ctx: RunContext, instance: InstanceConfig, table: TableConfig, options: RestApiOptions,
    table_name: str,
) -> Any:
    endpoint = options.tables[table_name]

    def rows() -> Iterator[pa.Table]:
        yield from extract_endpoint(
            ctx, instance, table, options, endpoint, dlt.current.resource_state()
        )

    # An item can come twice in one run (offset paging while it changes moves it to a later
    # page): the merge keeps the version with the latest cursor, not an arbitrary one.
    columns = [
        {**c, "dedup_sort": "desc"} if c["name"] == table.cursor else c for c in dlt_columns(table)
    ]
    return dlt.resource(
        rows,
        name=f"{instance.name}__{table.name}",
        table_name=table.name,
        primary_key=(INSTANCE_COLUMN, table.primary_key),
        write_disposition=MERGE,
        columns=columns,
    )


def extract_endpoint(
    ctx: RunContext,
    instance: InstanceConfig,
    table: TableConfig,
    options: RestApiOptions,
    endpoint: Endpoint,
    state: MutableMapping[str, Any],
) -> Iterator[pa.Table]:
    """Yield raw batches of one endpoint; never raises for a problem of the API (it is recorded
    against the instance and table, and the watermark stays where it was)."""
    name = instance.name
    record = ctx.record(name, table.name)
    where = f"instance {name}, table {table.name}: endpoint {endpoint.path}"
    base_url = base_url_of(instance, options)
    if not base_url:
        record.fail(f"{where}: no base_url (set it in tables.yml or TW_SOURCE_{name.upper()}_URL)")
        return
    token = os.environ.get(f"TW_SOURCE_{name.upper()}_TOKEN", "")
    if options.auth != "none" and not token:
        record.fail(f"{where}: auth {options.auth} needs the token in TW_SOURCE_{name.upper()}_TOKEN")
        return
    watermark = _parse(state.get("cursor"))
    reconcile = _reconcile_due(ctx.reconcile, table, state)
    incremental = endpoint.incremental is not None
    full = reconcile or not incremental or watermark is None
    since = None if full else watermark - dt.timedelta(seconds=table.lag_seconds)
    # Backfill (`warehouse backfill --since`): items changed since then are asked for and
    # loaded again as the API has them, unchanged versions included.
    backfill = ctx.since is not None and since is not None
    if backfill:
        since = min(since, ctx.since)
    record.cursor_from = since
    zone = zoneinfo.ZoneInfo(table.time_zone)
    schema = source_schema(table)
    seen: list[pa.Array] = []
    highest: dt.datetime | None = None
    try:
        known = ctx.destination.versions(table, name, since=since)
        for items in _pages(base_url, token, options, endpoint, table, since):
            record.rows_extracted += len(items)
            live, gone = _split_deleted(items, endpoint)
            if gone:
                # Only keys raw holds: a deletion re-read from the lag window deletes nothing.
                ids = _held(ctx, table, name, [_key(i, table, endpoint) for i in gone])
                seen.append(ids)  # handled: not stale again below
                if len(ids):
                    record.rows_deleted += len(ids)
                    yield deletions(ids, table, name, ctx.extracted_at)
            if not live:
                continue
            batch = _to_arrow(live, table, endpoint, schema, zone, record, name)
            seen.append(batch.column(table.primary_key).combine_chunks())
            batch_highest = max_timestamp(batch.column(table.cursor))
            if batch_highest is not None and (highest is None or batch_highest > highest):
                highest = batch_highest
            if known.num_rows and not backfill:
                batch = drop_known(batch, known, table)
            if batch.num_rows:
                record.rows_loaded += batch.num_rows
                yield to_raw(batch, table, name, ctx.salt, ctx.extracted_at)
            ctx.notify(name, table.name, "extract", record.rows_extracted)
        if full:
            # A full listing is the truth: keys raw holds that the API no longer lists are gone.
            listed = pa.concat_arrays(seen) if seen else pa.array([], pa.int64())
            stale = known.column(table.primary_key)
            stale = pc.unique(stale.filter(pc.invert(pc.is_in(stale, listed))))
            if len(stale):
                record.rows_deleted += len(stale)
                yield deletions(stale, table, name, ctx.extracted_at)
    except RestSourceError as exc:
        record.fail(f"{where}: {exc}")
        ctx.notify(name, table.name, "failed", record.rows_extracted)
        return
    except Exception as exc:  # anything else (the warehouse query, say) fails this table only
        record.fail(f"{where}: {type(exc).__name__}: {' '.join(str(exc).split())}")
        ctx.notify(name, table.name, "failed", record.rows_extracted)
        return
    if watermark is not None and (highest is None or highest < watermark):
        highest = watermark
    state["cursor"] = highest.isoformat() if highest is not None else None
    state["runs"] = state.get("runs", 0) + 1
    if full:
        state["last_reconcile_run"] = state["runs"]
    record.cursor_to = highest
    record.succeed()
    ctx.notify(name, table.name, "done", record.rows_extracted)


def _pages(
    base_url: str,
    token: str,
    options: RestApiOptions,
    endpoint: Endpoint,
    table: TableConfig,
    since: dt.datetime | None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of items from dlt's rest_api resource for the endpoint."""
    params: dict[str, Any] = dict(endpoint.params)
    if endpoint.incremental is not None:
        # Without a watermark (first run, reconciliation) the listing is whole: the parameter
        # is sent only if the config limits history with an initial_value.
        initial = endpoint.incremental.initial_value
        start = since or (dt.datetime.fromisoformat(initial) if initial else None)
        if start is not None:
            params[endpoint.incremental.param] = _format(start, endpoint.incremental.format)
    client: dict[str, Any] = {"base_url": base_url}
    if options.headers:
        client["headers"] = dict(options.headers)
    if options.auth == "bearer":
        client["auth"] = {"type": "bearer", "token": token}
    elif options.auth == "api_key":
        client["auth"] = {"type": "api_key", "name": options.api_key_name, "api_key": token,
                          "location": "query"}
    paginator = endpoint.paginator or options.paginator
    spec: dict[str, Any] = {"path": endpoint.path, "params": params}
    if paginator is not None:
        spec["paginator"] = dict(paginator)
    if endpoint.data_selector:
        spec["data_selector"] = endpoint.data_selector
    config: Any = {
        "client": client,
        "resources": [{"name": f"{table.name}_api", "endpoint": spec, "max_table_nesting": 0}],
    }
    try:
        resource = rest_api_resources(config)[0]
        page: list[dict[str, Any]] = []
        for item in resource:
            if not isinstance(item, dict):
                raise RestSourceError(
                    f"expected JSON objects at data_selector {endpoint.data_selector!r}, got "
                    f"{type(item).__name__}"
                )
            page.append(item)
            if len(page) >= table.chunk_rows:
                yield page
                page = []
        if page:
            yield page
    except RestSourceError:
        raise
    except Exception as exc:
        raise RestSourceError(_explain(exc, token)) from exc


def _held(ctx: RunContext, table: TableConfig, instance: str, keys: list[int]) -> pa.Array:
    wanted = pa.array(sorted(set(keys)), pa.int64())
    held = ctx.destination.versions(
        table, instance, low=wanted[0].as_py(), high=wanted[-1].as_py() + 1
    ).column(table.primary_key)
    return wanted.filter(pc.is_in(wanted, held))


def _split_deleted(
    items: list[dict[str, Any]], endpoint: Endpoint
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if endpoint.deleted_flag is None:
        return items, []
    live = [i for i in items if not _lookup(i, endpoint.deleted_flag)]
    gone = [i for i in items if _lookup(i, endpoint.deleted_flag)]
    return live, gone


def _key(item: dict[str, Any], table: TableConfig, endpoint: Endpoint) -> int:
    value = _lookup(item, endpoint_field(endpoint, table.primary_key))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RestSourceError(
            f"an item has no usable primary key {table.primary_key!r} ({value!r})"
        ) from None


def endpoint_field(endpoint: Endpoint, column: str) -> str:
    return endpoint.fields.get(column, column)


def _to_arrow(
    items: list[dict[str, Any]],
    table: TableConfig,
    endpoint: Endpoint,
    schema: pa.Schema,
    zone: zoneinfo.ZoneInfo,
    record: Any,
    instance: str,
) -> pa.Table:
    keys = [_key(i, table, endpoint) for i in items]
    arrays = []
    for field in schema:
        column = table.column(field.name)
        parse = cell_parser(column)
        path = endpoint_field(endpoint, field.name)
        values = []
        for key, item in zip(keys, items, strict=True):
            raw = _lookup(item, path)
            if isinstance(raw, dict | list) and column.type != "json":
                record.bad_values.append(BadValue(instance, table.name, key, field.name,
                                                  f"a JSON {type(raw).__name__} is not a "
                                                  f"{column.type}; loaded as null"))
                values.append(None)
                continue
            try:
                values.append(parse(raw, zone))
            except BadCell as exc:
                record.bad_values.append(
                    BadValue(instance, table.name, key, field.name, f"{exc}; loaded as null")
                )
                values.append(None)
        arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _lookup(item: Any, path: str) -> Any:
    """Value at a dotted path (`org_id.value`, `email.0.value`); None when absent."""
    value = item
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _format(value: dt.datetime, fmt: str) -> str:
    utc = value.astimezone(dt.UTC)
    if fmt == "unix":
        return str(int(utc.timestamp()))
    if fmt == "date_time":
        return utc.strftime("%Y-%m-%d %H:%M:%S")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _explain(exc: BaseException, token: str) -> str:
    """One line saying what failed, with any secret masked."""
    import requests

    # dlt wraps what the pipe raised (ResourceExtractionError); explain the original.
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, requests.RequestException):
        cause = cause.__cause__ or cause.__context__
    exc = cause or exc
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        text = f"HTTP {response.status_code} {response.reason} from {response.request.method} {response.url}"
    elif isinstance(exc, requests.ConnectionError):
        text = f"cannot connect: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    if token:
        text = text.replace(token, "***")
    return re.sub(r"(?i)(api_token|api_key|token)=[^&\s]+", r"\1=***", text)


def _reconcile_due(forced: bool | None, table: TableConfig, state: MutableMapping[str, Any]) -> bool:
    if forced is not None:
        return forced
    if table.reconcile_every <= 0:
        return False
    return state.get("runs", 0) + 1 - state.get("last_reconcile_run", 0) >= table.reconcile_every


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
