"""The benchmark's source side: reference-platform databases in PostgreSQL, made bigger, touched.

- `generate`: the real generator (the reference platform's demo hooks, registered by entry
  point: tenant_warehouse/platforms.py), one process per instance.
- `amplify`: grows every high-volume table by a factor with set-based copies (new ids, foreign
  keys remapped to the copies), which takes seconds where generating SF10 row by row takes tens
  of minutes on a 2-core machine. A copy keeps the shape of the data (tenants, states, dates,
  bad rows) and doubles exactly, which is what "the table doubles at a fixed delta" needs.
- `touch`: simulated activity touching a fraction of the rows of every platform table except
  `organizations` (an organization change fans out to all its rows by design, so it would not
  be a delta of that size): a new `updated_at` inside the next minute of the simulated clock,
  and outbound messages move sent -> delivered -> read.
- `commit_probe`: one new inbound message committed now, for the freshness measurement.
- `advance_clock`: moves the simulated clock on without activity, so earlier bench activity
  leaves the ingestion's re-read (lag) window before the next measurement.
"""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from psycopg2 import sql

from tenant_warehouse.platforms import demo_hooks
from tenant_warehouse.postgres import PgServer, drop_database

# Copied by `amplify`, parents first; each foreign key maps to the table its ids come from.
AMPLIFIED: dict[str, dict[str, str]] = {
    "contacts": {},
    "orders": {"contact_id": "contacts"},
    "order_items": {"order_id": "orders"},
    "messages": {"contact_id": "contacts"},
}
TOUCHED = ("users", "contacts", "orders", "order_items", "messages")
TOUCH_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class SourceSet:
    """One PostgreSQL database per instance: `<prefix>_<instance>` on `server`."""

    server: PgServer
    instances: tuple[str, ...]
    prefix: str = "twbench"

    def database(self, instance: str) -> str:
        return f"{self.prefix}_{instance}"

    def url(self, instance: str) -> str:
        return self.server.url(self.database(instance))

    @property
    def url_template(self) -> str:
        return self.server.url(f"{self.prefix}_{{instance}}").replace("%7B", "{").replace(
            "%7D", "}"
        )

    def connect(self, instance: str):
        return self.server.connect(self.database(instance))

    def drop(self) -> None:
        for instance in self.instances:
            drop_database(self.server, self.database(instance))


def _generate_one(url: str, instance: str, seed: int, scale: float) -> dict[str, int]:
    return dict(demo_hooks("reference").generate(url, instance, seed, scale, lambda _: None))


def generate(sources: SourceSet, scale: float, seed: int) -> dict[str, dict[str, int]]:
    """The real generator for every instance, in parallel processes (one per core)."""
    workers = max(1, min(len(sources.instances), os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            i: pool.submit(_generate_one, sources.url(i), i, seed, scale) for i in sources.instances
        }
        return {instance: future.result() for instance, future in futures.items()}


def table_counts(sources: SourceSet) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for instance in sources.instances:
        with sources.connect(instance) as conn, conn.cursor() as cur:
            counts[instance] = {}
            for name in demo_hooks("reference").tables:
                cur.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(name)))
                counts[instance][name] = int(cur.fetchone()[0])
        conn.close()
    return counts


def amplify(sources: SourceSet, factor: float) -> None:
    """Grow contacts, orders, order_items and messages of every instance `factor` times."""
    if factor <= 1:
        return
    for instance in sources.instances:
        conn = sources.connect(instance)
        try:
            _amplify_instance(conn, factor)
        finally:
            conn.close()


def _amplify_instance(conn, factor: float) -> None:
    conn.autocommit = False
    with conn.cursor() as cur:
        spans: dict[str, tuple[int, int]] = {}
        for name in AMPLIFIED:
            cur.execute(sql.SQL("select coalesce(min(id), 0), coalesce(max(id), 0) from {}").format(
                sql.Identifier(name)))
            low, high = cur.fetchone()
            spans[name] = (int(low), int(high))
        extra = factor - 1
        copy = 1
        while extra > 1e-9:
            share = min(1.0, extra)
            for name, foreign in AMPLIFIED.items():
                low, high = spans[name]
                if high == 0:
                    continue
                cur.execute(
                    "select column_name from information_schema.columns where table_schema ="
                    " current_schema() and table_name = %s order by ordinal_position", (name,))
                columns = [row[0] for row in cur.fetchall()]
                shifted = []
                for column in columns:
                    if column == "id":
                        shifted.append(sql.SQL("id + {}").format(sql.Literal(copy * high)))
                    elif column in foreign:
                        offset = copy * spans[foreign[column]][1]
                        shifted.append(sql.SQL("{} + {}").format(
                            sql.Identifier(column), sql.Literal(offset)))
                    else:
                        shifted.append(sql.Identifier(column))
                limit = low + round(share * (high - low))
                cur.execute(
                    sql.SQL("insert into {t} ({cols}) select {vals} from {t} where id <= {limit}").format(
                        t=sql.Identifier(name),
                        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                        vals=sql.SQL(", ").join(shifted),
                        limit=sql.Literal(limit),
                    )
                )
            extra -= share
            copy += 1
        for name in AMPLIFIED:
            cur.execute(
                sql.SQL("select setval(pg_get_serial_sequence({t}, 'id'), "
                        "(select max(id) from {i}), true)").format(
                    t=sql.Literal(name), i=sql.Identifier(name))
            )
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("analyze")


def _clock(cur) -> dt.datetime:
    cur.execute("select value from sim_state where key = 'clock'")
    clock = dt.datetime.fromisoformat(cur.fetchone()[0])
    return clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)


def _set_clock(cur, clock: dt.datetime) -> None:
    cur.execute("update sim_state set value = %s where key = 'clock'", (clock.isoformat(),))


def touch(
    sources: SourceSet, fraction: float, seed: int, tables: tuple[str, ...] = TOUCHED,
    instances: tuple[str, ...] | None = None,
) -> int:
    """Touch about `fraction` of the rows of every TOUCHED table (or `tables`) in every instance
    (or `instances`), as activity in the next minute of the simulated clock. Returns the rows
    touched."""
    total = 0
    for index, instance in enumerate(sources.instances):
        if instances is not None and instance not in instances:
            continue
        conn = sources.connect(instance)
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                cur.execute("select setseed(%s)", (((seed * 7919 + index) % 10_000) / 10_000.0,))
                clock = _clock(cur)
                stamp = "%s::timestamptz + (1 + random() * %s) * interval '1 second'"
                for name in tables:
                    status = ""
                    if name == "messages":
                        status = (
                            ", status = case when direction = 'outbound' and status = 'sent' "
                            "then 'delivered' when direction = 'outbound' and status = 'delivered' "
                            "then 'read' else status end"
                        )
                    cur.execute(
                        f"update {name} set updated_at = {stamp}{status} where random() < %s",
                        (clock, TOUCH_WINDOW_SECONDS - 2, fraction),
                    )
                    total += cur.rowcount
                _set_clock(cur, clock + dt.timedelta(seconds=TOUCH_WINDOW_SECONDS))
            conn.commit()
        finally:
            conn.close()
    return total


def advance_clock(sources: SourceSet, seconds: float) -> None:
    """Move every instance's simulated clock `seconds` ahead, touching no row."""
    for instance in sources.instances:
        conn = sources.connect(instance)
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                _set_clock(cur, _clock(cur) + dt.timedelta(seconds=seconds))
            conn.commit()
        finally:
            conn.close()


def commit_probe(sources: SourceSet, instance: str) -> int:
    """Commit one new inbound message (a valid one: tenant, contact) and return its id."""
    conn = sources.connect(instance)
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            clock = _clock(cur) + dt.timedelta(seconds=1)
            cur.execute(
                "select m.organization_id, m.contact_id from messages as m"
                " join organizations as o on o.id = m.organization_id"
                " where m.contact_id is not null and m.direction = 'inbound'"
                " and o.deleted_at is null"
                " and o.time_zone in (select name from pg_timezone_names)"
                " order by m.id desc limit 1"
            )
            organization_id, contact_id = cur.fetchone()
            cur.execute(
                "insert into messages (organization_id, contact_id, direction, status, body,"
                " created_at, updated_at) values (%s, %s, 'inbound', 'received', 'bench probe',"
                " %s, %s) returning id",
                (organization_id, contact_id, clock, clock),
            )
            message_id = int(cur.fetchone()[0])
            _set_clock(cur, clock)
        conn.commit()
    finally:
        conn.close()
    return message_id
