"""A small raw layer shaped like what dlt lands (docs/architecture.md, "Raw layer"), for dbt tests.

The rows are written by hand so every number the marts must produce can be worked out on paper
(see EXPECTED in test_dbt_build.py). `second_load()` applies what a later ingestion run would
bring: a plan change in the middle of a month, an order cancelled after its month closed, a late
commit with an old `updated_at`, a message status update, a hard delete and a contact erasure.
`filler_rows()` adds a few hundred random but valid rows for development runs.

Loaders for DuckDB (`load_duckdb`) and PostgreSQL (`load_postgres`, a psycopg2 connection) create
schema `raw` with the same column types dlt uses: text, bigint, timestamptz.
"""

from __future__ import annotations

import hashlib
import random
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

Row = dict[str, Any]
Tables = dict[str, list[Row]]

LOAD_1 = "1782000000.000001"
LOAD_2 = "1782500000.000002"
EXTRACTED_1 = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
EXTRACTED_2 = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)

COLUMNS: dict[str, list[tuple[str, str]]] = {
    "organizations": [
        ("instance_id", "text"), ("id", "bigint"), ("name", "text"), ("kind", "text"),
        ("plan", "text"), ("time_zone", "text"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"), ("deleted_at", "timestamptz"),
    ],
    "users": [
        ("instance_id", "text"), ("id", "bigint"), ("organization_id", "bigint"),
        ("name_hash", "text"), ("email_hash", "text"), ("phone_hash", "text"), ("role", "text"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
        ("deleted_at", "timestamptz"),
    ],
    "contacts": [
        ("instance_id", "text"), ("id", "bigint"), ("organization_id", "bigint"),
        ("name_hash", "text"), ("email_hash", "text"), ("phone_hash", "text"),
        ("language", "text"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ],
    "orders": [
        ("instance_id", "text"), ("id", "bigint"), ("organization_id", "bigint"),
        ("contact_id", "bigint"), ("state", "text"), ("total_cents", "bigint"),
        ("created_at", "timestamptz"), ("completed_at", "timestamptz"),
        ("cancelled_at", "timestamptz"), ("returned_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ],
    "order_items": [
        ("instance_id", "text"), ("id", "bigint"), ("order_id", "bigint"),
        ("organization_id", "bigint"), ("product_name", "text"), ("quantity", "bigint"),
        ("unit_price_cents", "bigint"), ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ],
    "messages": [
        ("instance_id", "text"), ("id", "bigint"), ("organization_id", "bigint"),
        ("contact_id", "bigint"), ("direction", "text"), ("status", "text"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ],
}
DLT_COLUMNS = [("_tw_extracted_at", "timestamptz"), ("_dlt_load_id", "text"), ("_dlt_id", "text")]
RUN_COLUMNS = [
    ("run_id", "text"), ("instance_id", "text"), ("table_name", "text"),
    ("started_at", "timestamptz"), ("ended_at", "timestamptz"), ("status", "text"),
    ("rows_extracted", "bigint"), ("rows_deleted", "bigint"), ("cursor_from", "text"),
    ("cursor_to", "text"), ("is_reconciliation", "boolean"), ("error_message", "text"),
]


def ts(text: str | None) -> datetime | None:
    """'2026-06-30 22:30' (UTC) -> aware datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _hash(value: str) -> str:
    return hashlib.sha256(("fixture-salt" + value).encode()).hexdigest()


def _person(instance_id: str, contact_id: int, kind: str) -> dict[str, str]:
    key = f"{instance_id}-{kind}-{contact_id}"
    return {
        "name_hash": _hash(key + "-name"),
        "email_hash": _hash(key + "-email"),
        "phone_hash": _hash(key + "-phone"),
    }


def _stamp(rows: list[Row], load_id: str, extracted_at: datetime) -> list[Row]:
    for number, row in enumerate(rows):
        row.setdefault("_tw_extracted_at", extracted_at)
        row.setdefault("_dlt_load_id", load_id)
        row.setdefault("_dlt_id", hashlib.md5(f"{load_id}-{number}-{row}".encode()).hexdigest()[:14])
    return rows


def _organization(instance_id, id, name, kind, plan, time_zone, created, updated=None, deleted=None):
    return {
        "instance_id": instance_id, "id": id, "name": name, "kind": kind, "plan": plan,
        "time_zone": time_zone, "created_at": ts(created), "updated_at": ts(updated or created),
        "deleted_at": ts(deleted),
    }


def _contact(instance_id, id, organization_id, created, language="en"):
    return {
        "instance_id": instance_id, "id": id, "organization_id": organization_id,
        **_person(instance_id, id, "contact"), "language": language,
        "created_at": ts(created), "updated_at": ts(created),
    }


def _order(instance_id, id, organization_id, contact_id, state, total_cents, created,
           completed=None, cancelled=None, returned=None, updated=None):
    return {
        "instance_id": instance_id, "id": id, "organization_id": organization_id,
        "contact_id": contact_id, "state": state, "total_cents": total_cents,
        "created_at": ts(created), "completed_at": ts(completed), "cancelled_at": ts(cancelled),
        "returned_at": ts(returned),
        "updated_at": ts(updated or returned or cancelled or completed or created),
    }


def _message(instance_id, id, organization_id, contact_id, direction, status, created, updated=None):
    return {
        "instance_id": instance_id, "id": id, "organization_id": organization_id,
        "contact_id": contact_id, "direction": direction, "status": status,
        "created_at": ts(created), "updated_at": ts(updated or created),
    }


def first_load() -> Tables:
    """The hand-written raw layer after a first ingestion run (clock: 2026-07-02 12:00 UTC)."""
    organizations = [
        _organization("uk", 1, "Green Grocer", "shop", "basic", "Europe/London", "2026-01-10 09:00"),
        _organization("uk", 2, "North Hub", "hub", "free", "Europe/London", "2026-02-01 10:00",
                      "2026-05-20 12:00", "2026-05-20 12:00"),
        # Not an IANA name: listed in dq_quarantined_rows, kept with the instance's time zone.
        _organization("uk", 3, "Bad Zone Shop", "shop", "pro", "Europe/Londn", "2026-03-01 08:00"),
        # 00:30 on 1 June in London, still 31 May in UTC: a June organization.
        _organization("uk", 4, "Riverside Market", "shop", "pro", "Europe/London",
                      "2026-05-31 23:30"),
        _organization("au", 1, "Sydney Produce", "producer", "basic", "Australia/Sydney",
                      "2026-03-05 01:00"),
        _organization("au", 2, "Melbourne Hub", "hub", "pro", "Australia/Melbourne",
                      "2026-06-20 03:00"),
        _organization("fr", 1, "Epicerie Paris", "shop", "pro", "Europe/Paris", "2026-01-02 10:00"),
        _organization("fr", 2, "Lyon Solidarite", "ngo", "free", "Europe/Paris", "2026-04-15 10:00"),
    ]
    users = [
        {"instance_id": "uk", "id": 1, "organization_id": 1, **_person("uk", 1, "user"),
         "role": "admin", "created_at": ts("2026-01-10 09:00"), "updated_at": ts("2026-01-10 09:00"),
         "deleted_at": None},
        {"instance_id": "uk", "id": 2, "organization_id": 1, **_person("uk", 2, "user"),
         "role": "staff", "created_at": ts("2026-02-10 09:00"), "updated_at": ts("2026-04-10 09:00"),
         "deleted_at": ts("2026-04-10 09:00")},
        {"instance_id": "fr", "id": 1, "organization_id": 1, **_person("fr", 1, "user"),
         "role": "admin", "created_at": ts("2026-01-02 10:00"), "updated_at": ts("2026-01-02 10:00"),
         "deleted_at": None},
    ]
    contacts = [
        _contact("uk", 1, 1, "2026-01-15 10:00"),
        _contact("uk", 2, 1, "2026-02-15 10:00"),
        _contact("uk", 3, 1, "2026-03-15 10:00"),
        _contact("uk", 4, 4, "2026-06-01 10:00"),
        _contact("uk", 5, 2, "2026-02-15 10:00"),
        _contact("uk", 6, None, "2026-02-15 10:00"),  # missing_tenant
        _contact("uk", 7, 3, "2026-03-02 10:00"),  # its organization's time zone is invalid: kept
        _contact("au", 1, 1, "2026-03-06 10:00"),
        _contact("au", 2, 1, "2026-03-07 10:00"),
        _contact("au", 3, 2, "2026-06-21 10:00"),
        _contact("fr", 1, 1, "2026-01-05 10:00", "fr"),
        _contact("fr", 2, 1, "2026-01-06 10:00", "fr"),
        _contact("fr", 3, 2, "2026-04-16 10:00", "fr"),
    ]
    orders = [
        # 23:30 local (BST) on 30 June: June.
        _order("uk", 1, 1, 1, "complete", 10000, "2026-06-30 20:00", "2026-06-30 22:30"),
        # Completed in May, cancelled in June: not May turnover, but contact 2 was active in May.
        _order("uk", 2, 1, 2, "cancelled", 5000, "2026-05-10 10:00", "2026-05-10 10:05",
               cancelled="2026-06-03 09:00"),
        _order("uk", 3, 1, 2, "returned", 3000, "2026-06-12 11:00", "2026-06-12 12:00",
               returned="2026-06-14 09:00"),
        _order("uk", 4, 1, 3, "cart", 2000, "2026-06-20 10:00"),
        _order("uk", 5, 1, 3, "complete", 1020, "2026-05-15 11:00", "2026-05-15 12:00"),
        # Contact 2 of organization 1 also buys in organization 4.
        _order("uk", 6, 4, 2, "complete", 4000, "2026-06-05 11:00", "2026-06-05 12:00"),
        _order("uk", 7, 2, 5, "complete", 2500, "2026-03-10 11:00", "2026-03-10 12:00"),
        _order("uk", 8, None, 1, "complete", 700, "2026-06-10 11:00", "2026-06-10 12:00"),
        _order("uk", 9, 1, 1, "complete", -100, "2026-06-10 11:00", "2026-06-10 12:00"),
        _order("uk", 10, 1, 1, "lost", 900, "2026-06-10 11:00", "2026-06-10 12:00"),
        _order("uk", 11, 1, 1, "complete", 800, "2026-06-10 11:00", "2026-06-09 12:00"),
        _order("uk", 12, 3, 7, "complete", 7000, "2026-06-10 11:00", "2026-06-10 12:00"),
        _order("uk", 13, 1, 1, "complete", 600, "1970-01-01 00:00", "2026-06-10 12:00"),
        # 23:30 AEST on 30 June: June; 00:30 AEST on 1 July (still 30 June in UTC): July.
        _order("au", 1, 1, 1, "complete", 8000, "2026-06-30 10:00", "2026-06-30 13:30"),
        _order("au", 2, 1, 2, "complete", 6000, "2026-06-30 10:00", "2026-06-30 14:30"),
        _order("au", 3, 2, 3, "complete", 12345, "2026-06-25 01:00", "2026-06-25 02:00"),
        # 23:30 CEST on 30 June: June; 00:30 CEST on 1 June (31 May in UTC): June.
        _order("fr", 1, 1, 1, "complete", 9999, "2026-06-30 20:00", "2026-06-30 21:30"),
        _order("fr", 2, 1, 2, "complete", 1, "2026-05-31 20:00", "2026-05-31 22:30"),
        _order("fr", 3, 2, 3, "cart", 500, "2026-06-15 10:00"),
    ]
    order_items = [
        {"instance_id": "uk", "id": 1, "order_id": 1, "organization_id": 1, "product_name": "Apples",
         "quantity": 4, "unit_price_cents": 2500, "created_at": ts("2026-06-30 20:00"),
         "updated_at": ts("2026-06-30 20:00")},
        {"instance_id": "uk", "id": 2, "order_id": 4, "organization_id": 1, "product_name": "Pears",
         "quantity": 2, "unit_price_cents": 1000, "created_at": ts("2026-06-20 10:00"),
         "updated_at": ts("2026-06-20 10:00")},
        {"instance_id": "fr", "id": 1, "order_id": 1, "organization_id": 1, "product_name": "Pain",
         "quantity": 1, "unit_price_cents": 9999, "created_at": ts("2026-06-30 20:00"),
         "updated_at": ts("2026-06-30 20:00")},
    ]
    messages = [
        _message("uk", 1, 1, 1, "inbound", "received", "2026-06-30 22:30"),
        _message("uk", 2, 1, 1, "outbound", "delivered", "2026-06-30 22:31", "2026-06-30 22:40"),
        _message("uk", 3, 1, 2, "outbound", "read", "2026-06-10 10:00", "2026-06-10 11:00"),
        _message("uk", 4, 1, 2, "outbound", "failed", "2026-06-11 10:00", "2026-06-11 10:01"),
        _message("uk", 5, 1, 3, "outbound", "sent", "2026-06-12 10:00"),
        # The latest activity in uk: July is its open month.
        _message("uk", 6, 1, 1, "outbound", "sent", "2026-07-02 10:00"),
        _message("uk", 7, None, 1, "inbound", "received", "2026-06-10 10:00"),
        _message("uk", 8, 3, 7, "inbound", "received", "2026-06-10 10:00"),
        _message("au", 1, 1, 1, "inbound", "received", "2026-06-29 23:00"),
        _message("au", 2, 1, 1, "outbound", "read", "2026-06-29 23:05", "2026-06-30 01:00"),
        _message("au", 3, 2, 3, "outbound", "delivered", "2026-06-30 02:00", "2026-06-30 02:10"),
        _message("fr", 1, 1, 1, "outbound", "sent", "2026-06-20 10:00"),
        _message("fr", 2, 2, 3, "inbound", "received", "2026-06-20 11:00"),
    ]
    tables: Tables = {
        "organizations": organizations, "users": users, "contacts": contacts, "orders": orders,
        "order_items": order_items, "messages": messages,
    }
    for rows in tables.values():
        _stamp(rows, LOAD_1, EXTRACTED_1)
    # Duplicates dedupe_latest must resolve: an older version of message uk/2 from an earlier
    # load, and a copy of message uk/3 with the same updated_at from an earlier load.
    messages.append({**_message("uk", 2, 1, 1, "outbound", "sent", "2026-06-30 22:31"),
                     "_tw_extracted_at": ts("2026-07-01 00:00"), "_dlt_load_id": "1781000000.1",
                     "_dlt_id": "older-copy-2"})
    messages.append({**_message("uk", 3, 1, 2, "outbound", "delivered", "2026-06-10 10:00",
                                "2026-06-10 11:00"),
                     "_tw_extracted_at": ts("2026-07-01 00:00"), "_dlt_load_id": "1781000000.1",
                     "_dlt_id": "older-copy-3"})
    return tables


def second_load(tables: Tables) -> Tables:
    """What the next ingestion run brings (clock: 2026-07-04 12:00 UTC)."""
    tables = deepcopy(tables)

    def replace(table: str, instance_id: str, id: int, **changes: Any) -> None:
        rows = tables[table]
        for index, row in enumerate(rows):
            if row["instance_id"] == instance_id and row["id"] == id:
                rows[index] = {**row, **changes, "_tw_extracted_at": EXTRACTED_2,
                               "_dlt_load_id": LOAD_2}

    # Plan change in the middle of June: June is billed on pro, May stays basic.
    replace("organizations", "uk", 1, plan="pro", updated_at=ts("2026-06-15 10:00"))
    # Cancelled after June closed: June turnover of uk/1 is restated to nothing.
    replace("orders", "uk", 1, state="cancelled", cancelled_at=ts("2026-07-03 09:00"),
            updated_at=ts("2026-07-03 09:00"))
    # Status update of a message.
    replace("messages", "uk", 5, status="delivered", updated_at=ts("2026-07-03 10:00"))
    # Hard deletes found by reconciliation: order uk/7 (fault), contact uk/3 (erasure).
    tables["orders"] = [r for r in tables["orders"] if (r["instance_id"], r["id"]) != ("uk", 7)]
    tables["contacts"] = [r for r in tables["contacts"] if (r["instance_id"], r["id"]) != ("uk", 3)]
    # A late commit: updated_at older than rows already in the warehouse.
    late = _order("uk", 14, 4, 4, "complete", 3333, "2026-07-01 08:00", "2026-07-01 09:00")
    tables["orders"].append({**late, "_tw_extracted_at": EXTRACTED_2, "_dlt_load_id": LOAD_2,
                             "_dlt_id": "late-commit-14"})
    return tables


def ingestion_runs(load_id: str = LOAD_1, extracted_at: datetime = EXTRACTED_1) -> list[Row]:
    runs = []
    for instance_id in ("uk", "au", "fr"):
        for table in COLUMNS:
            runs.append({
                "run_id": load_id, "instance_id": instance_id, "table_name": table,
                "started_at": extracted_at - timedelta(seconds=30), "ended_at": extracted_at,
                "status": "success", "rows_extracted": 1, "rows_deleted": 0,
                "cursor_from": None, "cursor_to": extracted_at.isoformat(),
                "is_reconciliation": False, "error_message": None,
            })
    return runs


def filler_rows(tables: Tables, seed: int = 7, organizations: int = 30) -> Tables:
    """Add random valid rows (ids from 1000), all before 2026-07-01, for development builds."""
    rng = random.Random(seed)
    tables = deepcopy(tables)
    zones = {"uk": "Europe/London", "au": "Australia/Sydney", "fr": "Europe/Paris"}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = datetime(2026, 7, 1, tzinfo=UTC)
    new: Tables = {name: [] for name in COLUMNS}
    contact_id = order_id = message_id = 1000

    def before_clock(moment: datetime) -> datetime:
        return min(moment, clock - timedelta(minutes=rng.randrange(1, 600)))

    for number in range(organizations):
        instance_id = ("uk", "au", "fr")[number % 3]
        organization_id = 1000 + number
        created = start + timedelta(hours=rng.randrange(0, 24 * 150))
        deleted = (
            before_clock(created + timedelta(days=rng.randrange(5, 60)))
            if rng.random() < 0.1 else None
        )
        new["organizations"].append({
            "instance_id": instance_id, "id": organization_id, "name": f"Organization {number}",
            "kind": rng.choice(["shop", "hub", "producer", "ngo"]),
            "plan": rng.choice(["free", "basic", "pro"]), "time_zone": zones[instance_id],
            "created_at": created, "updated_at": deleted or created, "deleted_at": deleted,
        })
        for _ in range(rng.randrange(2, 8)):
            contact_id += 1
            contact_created = before_clock(created + timedelta(hours=rng.randrange(1, 500)))
            new["contacts"].append({
                "instance_id": instance_id, "id": contact_id, "organization_id": organization_id,
                **_person(instance_id, contact_id, "contact"), "language": "en",
                "created_at": contact_created, "updated_at": contact_created,
            })
            for _ in range(rng.randrange(0, 4)):
                order_id += 1
                order_created = before_clock(contact_created + timedelta(hours=rng.randrange(1, 2000)))
                state = rng.choice(["cart", "complete", "complete", "complete", "cancelled"])
                completed = (
                    min(order_created + timedelta(minutes=30), clock) if state != "cart" else None
                )
                cancelled = min(completed + timedelta(days=3), clock) if state == "cancelled" else None
                new["orders"].append({
                    "instance_id": instance_id, "id": order_id, "organization_id": organization_id,
                    "contact_id": contact_id, "state": state,
                    "total_cents": rng.randrange(100, 20000), "created_at": order_created,
                    "completed_at": completed, "cancelled_at": cancelled, "returned_at": None,
                    "updated_at": cancelled or completed or order_created,
                })
            for _ in range(rng.randrange(0, 8)):
                message_id += 1
                message_created = before_clock(
                    contact_created + timedelta(minutes=rng.randrange(1, 200000))
                )
                direction = rng.choice(["inbound", "outbound"])
                status = "received" if direction == "inbound" else rng.choice(
                    ["sent", "delivered", "read", "read", "failed"])
                new["messages"].append({
                    "instance_id": instance_id, "id": message_id,
                    "organization_id": organization_id, "contact_id": contact_id,
                    "direction": direction, "status": status, "created_at": message_created,
                    "updated_at": min(message_created + timedelta(minutes=5), clock),
                })
    for table, rows in new.items():
        tables[table].extend(_stamp(rows, LOAD_1, EXTRACTED_1))
    return tables


def _ddl(table: str, columns: list[tuple[str, str]]) -> str:
    return f"create table if not exists raw.{table} (" + ", ".join(f"{n} {t}" for n, t in columns) + ")"


def _table_columns(table: str) -> list[tuple[str, str]]:
    return RUN_COLUMNS if table == "_tw_ingestion_runs" else COLUMNS[table] + DLT_COLUMNS


def _all_tables(tables: Tables) -> dict[str, list[Row]]:
    return {**tables, "_tw_ingestion_runs": tables.get("_tw_ingestion_runs", ingestion_runs())}


def load_duckdb(path: str, tables: Tables) -> None:
    """Fill schema raw of the DuckDB file at `path` with `tables` (replacing what was there)."""
    import duckdb

    connection = duckdb.connect(path)
    try:
        connection.execute("create schema if not exists raw")
        for table, rows in _all_tables(tables).items():
            columns = _table_columns(table)
            connection.execute(_ddl(table, columns))
            connection.execute(f"delete from raw.{table}")
            if rows:
                names = [n for n, _ in columns]
                placeholders = ", ".join("?" for _ in names)
                connection.executemany(
                    f"insert into raw.{table} values ({placeholders})",
                    [[row.get(n) for n in names] for row in rows],
                )
    finally:
        connection.close()


def load_postgres(connection: Any, tables: Tables) -> None:
    """Fill schema raw through a psycopg2 `connection` with `tables` (committed here)."""
    from psycopg2.extras import execute_values

    with connection.cursor() as cursor:
        cursor.execute("create schema if not exists raw")
        for table, rows in _all_tables(tables).items():
            columns = _table_columns(table)
            cursor.execute(_ddl(table, columns))
            cursor.execute(f"delete from raw.{table}")
            if rows:
                names = [n for n, _ in columns]
                execute_values(
                    cursor, f"insert into raw.{table} ({', '.join(names)}) values %s",
                    [[row.get(n) for n in names] for row in rows],
                )
    connection.commit()
