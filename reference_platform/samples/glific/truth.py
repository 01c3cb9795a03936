"""The Glific oracle: the numbers the `glific` profile's marts must equal, computed in plain
Python from the instance databases and `platforms/glific/seeds/glific_instances.csv` (each
instance's own calendar). Glific's naive timestamps hold UTC (Ecto `utc_datetime`).

The rules are the product's (docs/adopting.md, the canonical contract) applied to Glific's
tables the way platforms/glific/models/contract maps them; they are written again here, from the
source, without the warehouse's code. Rules, with their edges:

- Organizations. `timezone` NULL means Glific's default, Asia/Kolkata. A `timezone` that is not
  a zone name (zoneinfo's list, which like Glific's Tzdata keeps aliases such as
  Asia/Calcutta) does NOT take the organization out: as in the product, the organization and
  its messages are counted in its INSTANCE's zone (the product's is_time_zone_fallback), and
  the organization is listed by `quarantined` with reason `invalid_time_zone` and
  `kept` True. (This oracle used to quarantine such an organization with all its messages; it
  follows the product's rule since the profile exists: one bad attribute does not hide a
  tenant's history.)
- Messages. Direction is `flow`; a message without one is quarantined (`missing_direction`),
  and so is one whose `organization_id` is not its contact's (`tenant_mismatch`: the schema
  does not prevent it, and neither tenant may see it). Precedence: missing_direction, then
  tenant_mismatch. Quarantined messages count nowhere.
- Active contacts of an organization and month: distinct contacts with at least one inbound
  message whose `inserted_at` falls in the month in the ORGANIZATION's zone (00:00:00 local on
  the 1st belongs to the new month). Outbound messages (the bot talking) do not make anyone
  active. The source keeps no history of deletes: an erased contact's messages are gone
  (ON DELETE CASCADE), so it leaves the past months too; a soft-deleted organization keeps its
  numbers until its data is wiped, then has none.
- Active contacts of an instance and month: the same, distinct per instance, in the INSTANCE's
  zone; globally: per UTC month, the instances' distinct active contacts summed.
- Message delivery of an organization and month (same local month of `inserted_at`): outbound
  messages; delivered = `bsp_status` delivered or read; read; failed = `bsp_status` error or
  contact_opt_out (not sent: the contact opted out; the contract's `failed`); rates = count /
  outbound, 4 decimals, half up; no outbound: the rates are None, not 0. A status is the
  CURRENT one: a message delivered last month and read today counts as read.
- New organizations per instance, month of `inserted_at` in the INSTANCE's zone (the
  organization's own zone may be missing or invalid, and a tenant's month does not decide the
  platform's count), by kind (every Glific organization is an `ngo`). Soft-deleted
  organizations still count in the month they joined, and so do those with an invalid zone.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from reference_platform.database import Database
from reference_platform.samples.glific.instances import DEFAULT_ORGANIZATION_TIME_ZONE
from reference_platform.timeutil import zone

SEEDS_DIR = Path(__file__).resolve().parents[3] / "platforms" / "glific" / "seeds"
RATE = Decimal("0.0001")
ORGANIZATION_KIND = "ngo"  # Glific has one kind of tenant
Row = dict[str, Any]


@cache
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def instance_time_zones(seeds_dir: Path = SEEDS_DIR) -> dict[str, str]:
    with (seeds_dir / "glific_instances.csv").open(newline="", encoding="utf-8") as handle:
        return {r["instance_id"]: r["time_zone"] for r in csv.DictReader(handle)}


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def local_month(instant: datetime, time_zone: str) -> date:
    return instant.astimezone(zone(time_zone)).date().replace(day=1)


def rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)


@dataclass
class GlificSource:
    instance_id: str
    time_zone: str
    organizations: dict[int, Row]  # every organization, with the zone it is counted in
    messages: list[Row]  # valid messages only
    quarantined: list[Row]
    created: list[datetime]  # inserted_at of every organization

    @classmethod
    def read(cls, instance_id: str, url: str, time_zones: Mapping[str, str]) -> GlificSource:
        database = Database(url)
        organizations: dict[int, Row] = {}
        quarantined: list[Row] = []

        def flag(table: str, row_id: int, org_id: int, reason: str, kept: bool = False) -> None:
            quarantined.append({"instance_id": instance_id, "table_name": table,
                                "row_id": row_id, "organization_id": org_id, "reason": reason,
                                "kept": kept})

        for org_id, time_zone, inserted in database.query(
                "SELECT id, timezone, inserted_at FROM organizations ORDER BY id"):
            effective = DEFAULT_ORGANIZATION_TIME_ZONE if time_zone is None else time_zone
            fallback = effective not in known_zones()
            if fallback:
                flag("organizations", org_id, org_id, "invalid_time_zone", kept=True)
            organizations[org_id] = {
                "id": org_id, "inserted_at": utc(inserted), "is_time_zone_fallback": fallback,
                "time_zone": time_zones[instance_id] if fallback else effective}
        contact_org = dict(database.query("SELECT id, organization_id FROM contacts"))
        messages = []
        for message_id, org_id, contact_id, flow, bsp_status, inserted in database.query(
                "SELECT id, organization_id, contact_id, flow::text, bsp_status::text, "
                "inserted_at FROM messages ORDER BY id"):
            if flow is None:
                flag("messages", message_id, org_id, "missing_direction")
            elif contact_org.get(contact_id) != org_id:
                flag("messages", message_id, org_id, "tenant_mismatch")
            else:
                messages.append({"id": message_id, "organization_id": org_id,
                                 "contact_id": contact_id, "flow": flow,
                                 "bsp_status": bsp_status, "inserted_at": utc(inserted)})
        return cls(instance_id, time_zones[instance_id], organizations, messages, quarantined,
                   [o["inserted_at"] for o in organizations.values()])

    def inbound(self) -> list[Row]:
        """Valid inbound messages: what makes a contact active."""
        return [m for m in self.messages if m["flow"] == "inbound"]

    def month(self, message: Row) -> date:
        org = self.organizations[message["organization_id"]]
        return local_month(message["inserted_at"], org["time_zone"])


def active_contacts_by_organization_month(sources: Iterable[GlificSource]) -> list[Row]:
    rows = []
    for source in sources:
        active: dict[tuple[int, date], set[int]] = defaultdict(set)
        for message in source.inbound():
            active[(message["organization_id"], source.month(message))].add(
                message["contact_id"])
        rows += [{"instance_id": source.instance_id, "organization_id": o, "month_start": m,
                  "active_contacts": len(c)} for (o, m), c in active.items()]
    return sorted(rows, key=lambda r: (r["instance_id"], r["organization_id"], r["month_start"]))


def active_contacts_by_instance_month(sources: Iterable[GlificSource]) -> list[Row]:
    """Distinct contacts with an inbound message per instance and month of the INSTANCE's zone."""
    active: dict[tuple[str, date], set[int]] = defaultdict(set)
    for source in sources:
        for message in source.inbound():
            month = local_month(message["inserted_at"], source.time_zone)
            active[(source.instance_id, month)].add(message["contact_id"])
    return [{"instance_id": i, "month_start": m, "active_contacts": len(c)}
            for (i, m), c in sorted(active.items())]


def active_contacts_global_month(sources: Iterable[GlificSource]) -> list[Row]:
    """Per UTC month, every instance's distinct active contacts summed (a contact belongs to one
    instance)."""
    active: dict[date, set[tuple[str, int]]] = defaultdict(set)
    for source in sources:
        for message in source.inbound():
            month = local_month(message["inserted_at"], "UTC")
            active[month].add((source.instance_id, message["contact_id"]))
    return [{"month_start": m, "active_contacts": len(c)} for m, c in sorted(active.items())]


def message_delivery_by_organization_month(sources: Iterable[GlificSource]) -> list[Row]:
    rows = []
    for source in sources:
        counts: dict[tuple[int, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for message in source.messages:
            bucket = counts[(message["organization_id"], source.month(message))]
            bucket[message["flow"]] += 1
            if message["flow"] == "outbound":
                bucket[message["bsp_status"]] += 1
        for (org_id, month), c in counts.items():
            outbound, delivered = c["outbound"], c["delivered"] + c["read"]
            failed = c["error"] + c["contact_opt_out"]
            rows.append({
                "instance_id": source.instance_id, "organization_id": org_id,
                "month_start": month, "inbound_messages": c["inbound"],
                "outbound_messages": outbound, "delivered_messages": delivered,
                "read_messages": c["read"], "failed_messages": failed,
                "delivery_rate": rate(delivered, outbound), "read_rate": rate(c["read"], outbound),
                "failure_rate": rate(failed, outbound),
            })
    return sorted(rows, key=lambda r: (r["instance_id"], r["organization_id"], r["month_start"]))


def new_organizations_by_month(sources: Iterable[GlificSource]) -> list[Row]:
    counts: dict[tuple[str, date], int] = defaultdict(int)
    for source in sources:
        for inserted in source.created:
            counts[(source.instance_id, local_month(inserted, source.time_zone))] += 1
    return [{"instance_id": i, "month_start": m, "kind": ORGANIZATION_KIND, "new_organizations": n}
            for (i, m), n in sorted(counts.items())]


def compute_truth(urls: Mapping[str, str],
                  seeds_dir: Path = SEEDS_DIR) -> dict[str, list[Row]]:
    """Every number of the glific profile for the instances at `urls` ({instance_id: url})."""
    zones = instance_time_zones(seeds_dir)
    sources = [GlificSource.read(i, url, zones) for i, url in sorted(urls.items())]
    return {
        "active_contacts_by_organization_month": active_contacts_by_organization_month(sources),
        "active_contacts_by_instance_month": active_contacts_by_instance_month(sources),
        "active_contacts_global_month": active_contacts_global_month(sources),
        "message_delivery_by_organization_month": message_delivery_by_organization_month(sources),
        "new_organizations_by_month": new_organizations_by_month(sources),
        "quarantined": sorted((q for s in sources for q in s.quarantined),
                              key=lambda q: (q["instance_id"], q["table_name"], q["row_id"])),
    }
