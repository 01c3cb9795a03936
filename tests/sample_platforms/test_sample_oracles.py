"""The sample platforms' oracles on tiny handmade databases, against numbers computed by hand.

Every edge the oracles' docstrings name has a row here: an order completed at 23:30:00 local on
a month's last day and one at 00:00:00 local on the 1st, a canceled and a returned order, a
return not yet received, an instance storing local wall-clock time, a price that changes on a
date, rounding half away from zero, organizations on both sides of a local midnight, a missing
and an invalid zone, and each kind of bad row.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from reference_platform.database import Database
from reference_platform.samples.glific import generator as glific
from reference_platform.samples.glific.truth import compute_truth as glific_truth
from reference_platform.samples.ofn import generator as ofn
from reference_platform.samples.ofn.truth import compute_truth as ofn_truth
from reference_platform.samples.store import create_schema
from tests.sample_platforms.raw_compare import pg_execute
from tests.support.pg import PgDatabaseFactory

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def handmade(pg_database: PgDatabaseFactory, schema: Path, *statements: str) -> str:
    url = pg_database("tw_oracle").url
    create_schema(Database(url), schema)
    pg_execute(url, *statements)
    return url


def ofn_order(order_id: int, state: str, distributor: int | None, total: str,
              completed: str | None, created: str | None = None) -> str:
    created = created or completed or "2026-01-20 00:00:00"
    distributor_sql = "NULL" if distributor is None else str(distributor)
    completed_sql = "NULL" if completed is None else f"'{completed}'"
    return ("INSERT INTO spree_orders (id, number, state, distributor_id, total, item_total, "
            "created_at, updated_at, completed_at) VALUES "
            f"({order_id}, 'R{order_id}', '{state}', {distributor_sql}, {total}, {total}, "
            f"'{created}', '{created}', {completed_sql})")


def ofn_enterprise(enterprise_id: int, sells: str, producer: bool, created: str) -> str:
    return ("INSERT INTO enterprises (id, name, permalink, owner_id, sells, "
            "is_primary_producer, created_at, updated_at) VALUES "
            f"({enterprise_id}, 'E{enterprise_id}', 'e{enterprise_id}', 1, '{sells}', "
            f"{str(producer).lower()}, '{created}', '{created}')")


USER = ("INSERT INTO spree_users (id, email, created_at, updated_at) "
        "VALUES (1, 'o@example.org', '2026-01-01', '2026-01-01')")


def test_ofn_oracle_on_handmade_instances(pg_database: PgDatabaseFactory) -> None:
    # au stores UTC; Melbourne is UTC+11 in January and February.
    au = handmade(
        pg_database, ofn.SCHEMA_FILE, USER,
        ofn_enterprise(1, "own", True, "2026-01-10 03:00:00"),    # shop, Jan
        ofn_enterprise(2, "any", False, "2026-01-31 13:30:00"),   # hub, 00:30 Feb 1 local
        ofn_enterprise(3, "none", True, "2026-01-05 00:00:00"),   # producer, Jan
        ofn_enterprise(4, "none", False, "2026-01-31 12:59:59"),  # profile, 23:59:59 Jan 31
        ofn_order(1, "complete", 1, "10.00", "2026-01-31 12:30:00"),   # 23:30 Jan 31 local
        ofn_order(2, "complete", 1, "20.05", "2026-01-31 13:00:00"),   # 00:00 Feb 1 local
        ofn_order(3, "canceled", 1, "99.99", "2026-01-31 12:30:00"),   # counts nowhere
        ofn_order(4, "awaiting_return", 1, "5.25", "2026-01-15 00:00:00"),  # still turnover
        ofn_order(5, "returned", 1, "7.00", "2026-01-16 00:00:00"),   # counts nowhere
        ofn_order(6, "complete", 2, "100.00", "2026-02-10 00:00:00"),  # newest: as of Feb
        ofn_order(7, "cart", None, "3.00", None),                     # no shop yet: normal
        ofn_order(8, "complete", None, "4.00", "2026-02-01 00:00:00"),  # missing_tenant
        ofn_order(9, "cancelled", 1, "6.00", "2026-01-20 00:00:00"),    # unknown_state
        ofn_order(10, "complete", 1, "-3.00", "2026-01-20 00:00:00"),   # negative_money
        ofn_order(11, "complete", 1, "8.00", None),                     # impossible_date
        ofn_order(12, "complete", 1, "9.00", "2026-01-01 00:00:00",
                  created="2026-01-02 00:00:00"),                       # impossible_date
    )
    # fr stores Paris wall-clock time.
    fr = handmade(
        pg_database, ofn.SCHEMA_FILE, USER,
        ofn_enterprise(1, "any", False, "2026-02-01 00:00:00"),
        ofn_order(1, "complete", 1, "12.34", "2026-02-28 23:30:00"),
        ofn_order(2, "complete", 1, "1.00", "2026-03-01 00:00:00"),
    )
    truth = ofn_truth({"au": au, "fr": fr})

    def turnover(instance: str, distributor: int, month: date, orders: int, cents: int) -> dict:
        currency = {"au": "AUD", "fr": "EUR"}[instance]
        return {"instance_id": instance, "distributor_id": distributor, "month_start": month,
                "currency": currency, "completed_orders": orders, "turnover_cents": cents}

    assert truth["turnover_by_distributor_month"] == [
        turnover("au", 1, JAN, 2, 1_000 + 525),
        turnover("au", 1, FEB, 1, 2_005),
        turnover("au", 2, FEB, 1, 10_000),
        turnover("fr", 1, FEB, 1, 1_234),
        turnover("fr", 1, MAR, 1, 100),
    ]
    assert truth["turnover_by_instance_month"] == [
        {"instance_id": "au", "month_start": JAN, "currency": "AUD", "completed_orders": 2,
         "turnover_cents": 1_525},
        {"instance_id": "au", "month_start": FEB, "currency": "AUD", "completed_orders": 2,
         "turnover_cents": 12_005},
        {"instance_id": "fr", "month_start": FEB, "currency": "EUR", "completed_orders": 1,
         "turnover_cents": 1_234},
        {"instance_id": "fr", "month_start": MAR, "currency": "EUR", "completed_orders": 1,
         "turnover_cents": 100},
    ]
    # seeds/fx_rates.csv: AUD 0.585918 (2026-01), 0.583852 (2026-02).
    # Jan: 1525 * 0.585918 = 893.52 -> 894. Feb: 12005 * 0.583852 = 7009.14 -> 7009, + 1234.
    assert truth["turnover_global_month"] == [
        {"month_start": JAN, "currency": "EUR", "turnover_cents": 894},
        {"month_start": FEB, "currency": "EUR", "turnover_cents": 7_009 + 1_234},
        {"month_start": MAR, "currency": "EUR", "turnover_cents": 100},
    ]
    assert truth["new_enterprises_by_month"] == [
        {"instance_id": "au", "month_start": JAN, "kind": "producer", "new_enterprises": 1},
        {"instance_id": "au", "month_start": JAN, "kind": "profile", "new_enterprises": 1},
        {"instance_id": "au", "month_start": JAN, "kind": "shop", "new_enterprises": 1},
        {"instance_id": "au", "month_start": FEB, "kind": "hub", "new_enterprises": 1},
        {"instance_id": "fr", "month_start": FEB, "kind": "hub", "new_enterprises": 1},
    ]

    def bill(instance: str, enterprise: int, month: date, sells: str, cents: int, fee: int,
             variable: int) -> dict:
        currency = {"au": "AUD", "fr": "EUR"}[instance]
        return {"instance_id": instance, "enterprise_id": enterprise, "month_start": month,
                "sells": sells, "currency": currency, "turnover_cents": cents,
                "monthly_fee_cents": fee, "variable_fee_cents": variable,
                "billed_cents": fee + variable}

    # ofn_plans.csv: own AUD 1500 + 2.00%; any AUD 3000 + 1.50% until 2026-02-01, then 3500;
    # any EUR 2500 + 1.20%. 1525 * 2% = 30.5 -> 31 (half away from zero); 2005 * 2% = 40.1 ->
    # 40; 1234 * 1.2% = 14.808 -> 15; 100 * 1.2% = 1.2 -> 1. Producers and profiles pay nothing.
    assert truth["billing_by_shop_month"] == [
        bill("au", 1, JAN, "own", 1_525, 1_500, 31),
        bill("au", 1, FEB, "own", 2_005, 1_500, 40),
        bill("au", 2, FEB, "any", 10_000, 3_500, 150),
        bill("fr", 1, FEB, "any", 1_234, 2_500, 15),
        bill("fr", 1, MAR, "any", 100, 2_500, 1),
    ]
    assert [(q["order_id"], q["reason"]) for q in truth["quarantined_orders"]] == [
        (8, "missing_tenant"), (9, "unknown_state"), (10, "negative_money"),
        (11, "impossible_date"), (12, "impossible_date"),
    ]


def glific_org(org_id: int, time_zone: str | None, inserted: str,
               deleted: str | None = None) -> str:
    zone_sql = "NULL" if time_zone is None else f"'{time_zone}'"
    deleted_sql = "NULL" if deleted is None else f"'{deleted}'"
    return ("INSERT INTO organizations (id, name, shortcode, email, bsp_id, default_language_id, "
            "timezone, inserted_at, updated_at, deleted_at) VALUES "
            f"({org_id}, 'Org {org_id}', 'o{org_id}', 'o{org_id}@example.org', 1, 1, "
            f"{zone_sql}, '{inserted}', '{inserted}', {deleted_sql})")


def glific_contact(contact_id: int, org_id: int) -> str:
    return ("INSERT INTO contacts (id, phone, language_id, organization_id, inserted_at, "
            f"updated_at) VALUES ({contact_id}, '+55{contact_id}', 1, {org_id}, "
            "'2026-01-01', '2026-01-01')")


def glific_message(message_id: int, org_id: int, contact_id: int, flow: str | None,
                   inserted: str, bsp_status: str | None = None, own_contact: int = 10) -> str:
    inbound = flow == "inbound"
    sender, receiver = (contact_id, own_contact) if inbound else (own_contact, contact_id)
    flow_sql = "NULL" if flow is None else f"'{flow}'"
    status_sql = "NULL" if bsp_status is None else f"'{bsp_status}'"
    return ("INSERT INTO messages (id, flow, bsp_status, sender_id, receiver_id, contact_id, "
            "organization_id, inserted_at, updated_at) VALUES "
            f"({message_id}, {flow_sql}, {status_sql}, {sender}, {receiver}, {contact_id}, "
            f"{org_id}, '{inserted}', '{inserted}')")


def test_glific_oracle_on_a_handmade_instance(pg_database: PgDatabaseFactory) -> None:
    # br's own calendar is Sao Paulo (UTC-3); Glific stores UTC.
    br = handmade(
        pg_database, glific.SCHEMA_FILE,
        glific_org(1, "America/New_York", "2026-01-02 00:00:00"),
        glific_org(2, None, "2026-01-15 12:00:00"),                  # Asia/Kolkata by default
        glific_org(3, "India Standard Time", "2026-01-20 00:00:00"),  # not a zone: br's zone
        glific_org(4, "Asia/Calcutta", "2026-02-01 02:59:59",         # an alias: valid;
                   deleted="2026-02-05 00:00:00"),                   # 23:59:59 Jan 31 local
        glific_org(5, "Africa/Lagos", "2026-02-01 03:00:00"),        # 00:00:00 Feb 1 local
        *(glific_contact(c, o) for c, o in ((10, 1), (11, 1), (12, 1), (20, 2), (21, 2),
                                            (30, 3), (31, 3))),
        # New York is UTC-5: 04:30 UTC is 23:30 on Jan 31, 05:00 UTC is 00:00 on Feb 1.
        glific_message(1, 1, 11, "inbound", "2026-02-01 04:30:00", "delivered"),
        glific_message(2, 1, 11, "inbound", "2026-02-01 05:00:00", "delivered"),
        glific_message(3, 1, 12, "inbound", "2026-02-10 12:00:00", "delivered"),
        glific_message(4, 1, 11, "outbound", "2026-01-20 12:00:00", "delivered"),
        glific_message(5, 1, 11, "outbound", "2026-01-21 12:00:00", "read"),
        glific_message(6, 1, 12, "outbound", "2026-01-22 12:00:00", "error"),
        glific_message(12, 1, 12, "outbound", "2026-01-23 12:00:00", "contact_opt_out"),
        glific_message(7, 1, 12, "outbound", "2026-02-11 12:00:00", "enqueued"),
        # Kolkata is UTC+05:30: 18:30 UTC on Jan 31 is 00:00 on Feb 1.
        glific_message(8, 2, 21, "inbound", "2026-01-31 18:30:00", "delivered", own_contact=20),
        glific_message(9, 1, 11, None, "2026-01-25 00:00:00"),                # missing_direction
        glific_message(10, 2, 11, "inbound", "2026-01-26 00:00:00", "delivered",
                       own_contact=20),                                        # tenant_mismatch
        # Counted in br's zone (Sao Paulo): 01:00 UTC on Feb 1 is 22:00 on Jan 31 there (it
        # would be February in Kolkata, what "India Standard Time" means to a human).
        glific_message(11, 3, 31, "inbound", "2026-02-01 01:00:00", "delivered",
                       own_contact=30),
    )
    truth = glific_truth({"br": br})
    assert truth["active_contacts_by_organization_month"] == [
        {"instance_id": "br", "organization_id": 1, "month_start": JAN, "active_contacts": 1},
        {"instance_id": "br", "organization_id": 1, "month_start": FEB, "active_contacts": 2},
        {"instance_id": "br", "organization_id": 2, "month_start": FEB, "active_contacts": 1},
        {"instance_id": "br", "organization_id": 3, "month_start": JAN, "active_contacts": 1},
    ]
    # br's calendar (Sao Paulo): messages 8 (15:30 Jan 31) and 11 (22:00 Jan 31) in January,
    # 1, 2 and 3 in February; UTC: only message 8 is in January.
    assert truth["active_contacts_by_instance_month"] == [
        {"instance_id": "br", "month_start": JAN, "active_contacts": 2},
        {"instance_id": "br", "month_start": FEB, "active_contacts": 2},
    ]
    assert truth["active_contacts_global_month"] == [
        {"month_start": JAN, "active_contacts": 1},
        {"month_start": FEB, "active_contacts": 3},
    ]

    def delivery(org: int, month: date, inbound: int, outbound: int, delivered: int, read: int,
                 failed: int, rates: tuple[str, str, str] | None) -> dict:
        values = [Decimal(r) for r in rates] if rates else [None, None, None]
        return {"instance_id": "br", "organization_id": org, "month_start": month,
                "inbound_messages": inbound, "outbound_messages": outbound,
                "delivered_messages": delivered, "read_messages": read,
                "failed_messages": failed, "delivery_rate": values[0], "read_rate": values[1],
                "failure_rate": values[2]}

    assert truth["message_delivery_by_organization_month"] == [
        delivery(1, JAN, 1, 4, 2, 1, 2, ("0.5000", "0.2500", "0.5000")),
        delivery(1, FEB, 2, 1, 0, 0, 0, ("0.0000", "0.0000", "0.0000")),
        delivery(2, FEB, 1, 0, 0, 0, 0, None),
        delivery(3, JAN, 1, 0, 0, 0, 0, None),
    ]
    # Sao Paulo calendar: orgs 1, 2, 3 (invalid zone: still counted) and 4 (23:59:59 local,
    # soft-deleted since) in January, org 5 (00:00:00 local) in February.
    assert truth["new_organizations_by_month"] == [
        {"instance_id": "br", "month_start": JAN, "kind": "ngo", "new_organizations": 4},
        {"instance_id": "br", "month_start": FEB, "kind": "ngo", "new_organizations": 1},
    ]
    assert [(q["table_name"], q["row_id"], q["reason"], q["kept"])
            for q in truth["quarantined"]] == [
        ("messages", 9, "missing_direction", False), ("messages", 10, "tenant_mismatch", False),
        ("organizations", 3, "invalid_time_zone", True),
    ]
