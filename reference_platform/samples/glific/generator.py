"""Deterministic activity on a sample Glific instance (schema.sql beside this file).

What the application does, in its own tables: NGOs (organizations) join with their own WhatsApp
number (a contact the organization points to), an admin user and a few flows; contacts opt in
and send inbound messages; the bot answers with outbound messages that the provider moves
enqueued -> sent -> delivered -> read, or to error (with a jsonb `errors`); `bsp_status` updates
arrive in webhook batches; users get roles (`user_roles_enum[]`) changed; flows get keywords.
Contacts ask to be erased: the contact row is hard-deleted and PostgreSQL deletes its messages
and users (ON DELETE CASCADE; the generator writes only the contact's DELETE). Organizations
are soft-deleted (`status` ready_to_delete, `deleted_at`), and a few days later their data is
wiped table by table while the organization row stays.

The ugly cases, on purpose: a message committed late with timestamps before the previous run's
clock; a webhook batch giving many messages the same `updated_at`; `timestamp(0)` columns next to
microsecond ones; organizations without a zone (the application default applies) or with one
that is not a zone name; and bad rows (see BAD_KINDS), one of each kind in the generated history
and one per step after that.

Usage: `python -m reference_platform.samples.glific.generator --help`.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from reference_platform.fakes import (
    FIRST_NAMES,
    INBOUND_BODIES,
    KIND_SUFFIX,
    LAST_NAMES,
    ORG_WORDS,
    OUTBOUND_BODIES,
)
from reference_platform.randomness import derive_rng
from reference_platform.samples import cli
from reference_platform.samples.activity import ActivityBase
from reference_platform.samples.glific.instances import INSTANCES, INVALID_TIME_ZONE, get_instance
from reference_platform.samples.runner import Platform
from reference_platform.samples.store import Row, Store

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

# Columns the generator writes (the others keep their defaults), tables in foreign-key order.
TABLES: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "shortcode", "email", "bsp_id", "default_language_id",
                      "active_language_ids", "contact_id", "out_of_office", "is_active",
                      "timezone", "inserted_at", "updated_at", "session_limit",
                      "organization_id", "signature_phrase", "last_communication_at",
                      "is_approved", "fields", "status", "is_suspended", "deleted_at"),
    "contacts": ("id", "name", "phone", "bsp_status", "status", "language_id", "optin_time",
                 "optout_time", "last_message_at", "settings", "fields", "organization_id",
                 "inserted_at", "updated_at", "last_communication_at", "optin_method",
                 "optin_status", "optout_method"),
    "users": ("id", "phone", "password_hash", "name", "roles", "contact_id", "organization_id",
              "inserted_at", "updated_at", "is_restricted", "last_login_at", "language_id",
              "confirmed_at"),
    "flows": ("id", "name", "uuid", "version_number", "flow_type", "ignore_keywords",
              "keywords", "organization_id", "inserted_at", "updated_at", "respond_other",
              "is_active", "is_background", "is_pinned"),
    "messages": ("id", "uuid", "body", "type", "is_hsm", "flow", "status", "bsp_message_id",
                 "bsp_status", "errors", "message_number", "sender_id", "receiver_id",
                 "contact_id", "user_id", "send_at", "sent_at", "organization_id",
                 "inserted_at", "updated_at", "flow_id", "flow_label", "context_id",
                 "interactive_content"),
}
BAD_KINDS = ("missing_direction", "invalid_time_zone", "tenant_mismatch")
FLOW_NAMES = ("Registration", "Help", "Feedback", "Quiz", "Reminder")

# Rates per simulated day at scale 1.
NEW_ORGANIZATIONS_PER_DAY = 0.1
NEW_CONTACTS_PER_ORG_PER_DAY = 2.5
INBOUND_PER_CONTACT_PER_DAY = 0.06
REPLIES_PER_INBOUND = 1.3
READ_PER_DAY = 0.5
READ_WINDOW = timedelta(days=2)
FAILURE_SHARE = 0.06
ERASURE_PER_CONTACT_PER_DAY = 0.0008
SOFT_DELETE_PER_ORG_PER_DAY = 0.004
WIPE_AFTER = timedelta(days=3)
LATE_COMMIT_BACKDATE = timedelta(minutes=10)
INITIAL_ORGANIZATIONS = 6


class GlificActivity(ActivityBase):
    """One generator run on one instance: mutates the loaded Store like the application."""

    def __init__(self, store: Store, instance_id: str, rng: random.Random, scale: float) -> None:
        self.instance = get_instance(instance_id)
        super().__init__(store, "UTC", rng, scale)
        # Indexes kept in step with the store, so a slice never scans the messages table.
        self.contacts: dict[int, list[Row]] = defaultdict(list)  # organization -> contacts
        for contact in store.rows("contacts"):
            self.contacts[contact["organization_id"]].append(contact)
        self.messages: dict[int, list[Row]] = defaultdict(list)  # contact -> messages
        self.pending: set[int] = set()  # outbound not yet delivered, read or failed
        self.delivered: set[int] = set()  # outbound delivered, not yet read
        for message in store.rows("messages"):
            self.messages[message["contact_id"]].append(message)
            self.track(message)

    def track(self, message: Row) -> None:
        self.pending.discard(message["id"])
        self.delivered.discard(message["id"])
        if message["flow"] == "outbound":
            if message["bsp_status"] in ("enqueued", "sent"):
                self.pending.add(message["id"])
            elif message["bsp_status"] == "delivered":
                self.delivered.add(message["id"])

    def seconds(self, instant: datetime) -> datetime:
        """For timestamp(0) columns: whole seconds, as Ecto's utc_datetime writes them."""
        return self.stamp(instant, whole_seconds=True)

    # -- entities ----------------------------------------------------------------------------

    def organizations(self, before: datetime, live: bool = True) -> list[Row]:
        stamp = self.seconds(before)
        return [o for o in self.store.rows("organizations")
                if o["inserted_at"] < stamp and (o["deleted_at"] is None or not live)]

    def new_organization(self, at: datetime, time_zone: str | None = None,
                         draw_zone: bool = True) -> Row:
        if draw_zone:
            zones = self.instance.organization_time_zones
            time_zone = self.rng.choices([z for z, _ in zones], [w for _, w in zones])[0]
        stamp = self.seconds(at)
        org = self.store.insert("organizations", {
            "bsp_id": 1, "default_language_id": self.instance.language_id,
            "active_language_ids": [self.instance.language_id, 1],
            "out_of_office": {"enabled": self.rng.random() < 0.5, "start_time": "09:00:00",
                              "end_time": "18:00:00"},
            "is_active": True, "timezone": time_zone, "inserted_at": stamp,
            "updated_at": stamp, "session_limit": 60,
            "signature_phrase": self.rng.getrandbits(96).to_bytes(12, "big"),
            "is_approved": True, "fields": {}, "status": "active", "is_suspended": False,
        })
        name = (f"{self.rng.choice(ORG_WORDS)} {self.rng.choice(KIND_SUFFIX['ngo'])} "
                f"{org['id']}")
        org.update(name=name, shortcode=f"ngo{org['id']}", organization_id=org["id"],
                   email=f"team@ngo{org['id']}.example.org")
        own = self.new_contact(org, at, name=name)
        org["contact_id"] = own["id"]
        admin_contact = self.new_contact(org, at)
        self.store.insert("users", {
            "phone": admin_contact["phone"], "password_hash": f"$pbkdf2${self.rng.getrandbits(64):x}",
            "name": admin_contact["name"], "roles": ["admin"], "contact_id": admin_contact["id"],
            "organization_id": org["id"], "inserted_at": stamp, "updated_at": stamp,
            "is_restricted": False, "language_id": self.instance.language_id,
            "confirmed_at": stamp,
        })
        for name in self.rng.sample(FLOW_NAMES, 2):
            flow_stamp = self.stamp(at)
            self.store.insert("flows", {
                "name": name, "uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "version_number": "13.2.0", "flow_type": "message", "ignore_keywords": False,
                "keywords": [name.lower()], "organization_id": org["id"],
                "inserted_at": flow_stamp, "updated_at": flow_stamp, "respond_other": False,
                "is_active": True, "is_background": False, "is_pinned": False,
            })
        return org

    def new_contact(self, org: Row, at: datetime, name: str | None = None) -> Row:
        digits = f"{self.rng.randrange(10**9, 10**10)}"
        contact = self.store.insert("contacts", {
            "name": name or f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}",
            "bsp_status": "session_and_hsm", "status": "valid",
            "language_id": self.instance.language_id, "optin_time": self.seconds(at),
            "settings": {}, "fields": {"age_group": {"value": self.rng.choice(["18-25", "25+"]),
                                                     "type": "string"}},
            "organization_id": org["id"], "inserted_at": self.stamp(at),
            "updated_at": self.stamp(at), "optin_method": "URL", "optin_status": True,
        })
        contact["phone"] = f"{self.instance.phone_prefix}{digits}{contact['id']}"
        self.contacts[org["id"]].append(contact)
        return contact

    def new_message(self, org: Row, contact: Row, at: datetime, flow: str | None,
                    reply_to: Row | None = None) -> Row:
        stamp = self.stamp(at)
        inbound = flow == "inbound"
        number = len(self.messages[contact["id"]]) + 1
        message = self.store.insert("messages", {
            "uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "body": self.rng.choice(INBOUND_BODIES if inbound else OUTBOUND_BODIES),
            "type": "text", "is_hsm": False, "flow": flow,
            "status": "received" if inbound else "enqueued",
            "bsp_status": "delivered" if inbound else "enqueued", "errors": None,
            "message_number": number,
            "sender_id": contact["id"] if inbound else org["contact_id"],
            "receiver_id": org["contact_id"] if inbound else contact["id"],
            "contact_id": contact["id"], "organization_id": org["id"],
            "inserted_at": stamp, "updated_at": stamp,
            "flow_label": None, "context_id": reply_to["bsp_message_id"] if reply_to else None,
            "interactive_content": {},
        })
        if inbound:
            message["bsp_message_id"] = f"wamid.{message['uuid'].replace('-', '')}"
            self.store.update("contacts", contact, last_message_at=self.seconds(at),
                              last_communication_at=self.seconds(at), updated_at=stamp)
        self.messages[contact["id"]].append(message)
        self.track(message)
        return message

    def provider_update(self, message: Row, at: datetime) -> None:
        """The provider's next webhook for an outbound message."""
        status = message["bsp_status"]
        stamp = self.stamp(at)
        if status == "enqueued":
            self.store.update("messages", message, status="sent", bsp_status="sent",
                              sent_at=self.seconds(at), updated_at=stamp,
                              bsp_message_id=f"wamid.{message['uuid'].replace('-', '')}")
        elif status == "sent" and self.rng.random() < FAILURE_SHARE:
            self.store.update("messages", message, status="error", bsp_status="error",
                              errors={"code": 131026, "message": "Message undeliverable"},
                              updated_at=stamp)
        elif status == "sent":
            self.store.update("messages", message, bsp_status="delivered", updated_at=stamp)
        elif status == "delivered":
            self.store.update("messages", message, bsp_status="read", updated_at=stamp)
        self.track(message)

    # -- the run -----------------------------------------------------------------------------

    def bootstrap(self, at: datetime) -> None:
        for _ in range(max(3, round(INITIAL_ORGANIZATIONS * self.scale))):
            self.new_organization(at)

    def run_slice(self, start: datetime, end: datetime) -> None:
        for _ in range(self.count(NEW_ORGANIZATIONS_PER_DAY, start, end)):
            self.new_organization(self.between(start, end))
        for org in self.organizations(start):
            self.conversations(org, start, end)
        self.provider(start, end)
        self.admin(start, end)

    def weight(self, org: Row) -> float:
        return derive_rng("glific-weight", self.instance.instance_id, org["id"]).uniform(0.3, 2.0)

    def conversations(self, org: Row, start: datetime, end: datetime) -> None:
        weight = self.weight(org)
        for _ in range(self.count(NEW_CONTACTS_PER_ORG_PER_DAY * weight, start, end)):
            self.new_contact(org, self.between(start, end))
        people = [c for c in self.contacts[org["id"]] if c["id"] != org["contact_id"]]
        opened = self.seconds(start)
        talking = [c for c in people if c["optin_time"] is not None and c["optin_time"] < opened]
        for contact in self.pick(talking, INBOUND_PER_CONTACT_PER_DAY * weight, start, end):
            at = self.between(start, end)
            inbound = self.new_message(org, contact, at, "inbound")
            for _ in range(self.rng.choice((0, 1, 1, 2))):
                at = self.between(at, min(at + timedelta(seconds=5), end))
                self.new_message(org, contact, at, "outbound", reply_to=inbound)

    def provider(self, start: datetime, end: datetime) -> None:
        messages = self.store.tables["messages"].rows
        for message_id in sorted(self.pending):
            message = messages[message_id]
            at = max(self.instant(message["updated_at"]), start)
            while message["bsp_status"] in ("enqueued", "sent"):
                at = at + timedelta(seconds=self.rng.uniform(0.5, 20))
                if at >= end:
                    break
                self.provider_update(message, at)
        # Read within READ_WINDOW of being sent, or never (about two thirds are read).
        recent = self.stamp(start - READ_WINDOW)
        delivered = [messages[i] for i in sorted(self.delivered)
                     if messages[i]["inserted_at"] >= recent]
        for message in self.pick(delivered, READ_PER_DAY, start, end):
            self.provider_update(message, self.later(message, start, end))

    def later(self, row: Row, start: datetime, end: datetime) -> datetime:
        return self.between(max(self.instant(row["updated_at"]), start), end)

    def admin(self, start: datetime, end: datetime) -> None:
        for org in self.organizations(start):
            people = [c for c in self.contacts[org["id"]] if c["id"] != org["contact_id"]]
            for contact in self.pick(people, ERASURE_PER_CONTACT_PER_DAY, start, end):
                self.erase_contact(contact)
            if self.happens(0.03, start, end):
                flow = self.first_of("flows", org["id"])
                if flow:
                    self.store.update("flows", flow, keywords=[*flow["keywords"], "hi"][-3:],
                                      updated_at=self.stamp(self.later(flow, start, end)))
            if self.happens(0.02, start, end):
                user = self.first_of("users", org["id"])
                if user:
                    roles = "{admin,manager}" if "manager" not in str(user["roles"]) else "{admin}"
                    self.store.update("users", user, roles=roles, updated_at=self.seconds(
                        self.later(user, start, end)))
            if org["id"] > 1 and self.happens(SOFT_DELETE_PER_ORG_PER_DAY, start, end):
                self.soft_delete(org, self.between(start, end))
        for org in self.organizations(start, live=False):
            deleted = org["deleted_at"]
            if deleted is not None and self.instant(deleted) < start - WIPE_AFTER:
                self.wipe(org)

    def first_of(self, table: str, org_id: int) -> Row | None:
        return next((r for r in self.store.rows(table) if r["organization_id"] == org_id), None)

    def erase_contact(self, contact: Row) -> None:
        """The contact's DELETE only: its messages and users go by ON DELETE CASCADE."""
        for message in self.messages.pop(contact["id"], []):
            self.pending.discard(message["id"])
            self.delivered.discard(message["id"])
            self.store.forget("messages", message)
        for user in [u for u in self.store.rows("users") if u["contact_id"] == contact["id"]]:
            self.store.forget("users", user)
        self.contacts[contact["organization_id"]].remove(contact)
        self.store.delete("contacts", contact)

    def soft_delete(self, org: Row, at: datetime) -> None:
        self.store.update("organizations", org, status="ready_to_delete", is_active=False,
                          deleted_at=self.seconds(at), updated_at=self.seconds(at))

    def wipe(self, org: Row) -> None:
        """Glific's delete of an organization's data, child tables first; the row stays."""
        # Like Glific's `DELETE FROM messages WHERE organization_id = ...`, and the cascade
        # from the contacts deleted below.
        own = {c["id"] for c in self.contacts[org["id"]]}
        doomed = [m for m in self.store.rows("messages")
                  if m["organization_id"] == org["id"] or m["contact_id"] in own]
        for message in doomed:
            self.messages[message["contact_id"]].remove(message)
            self.pending.discard(message["id"])
            self.delivered.discard(message["id"])
            self.store.delete("messages", message)
        for table in ("flows", "users"):
            for row in [r for r in self.store.rows(table) if r["organization_id"] == org["id"]]:
                self.store.delete(table, row)
        # The organization row is left as it is: its `contact_id` (no foreign key) now names a
        # deleted contact, and nothing bumps its updated_at.
        for contact in self.contacts.pop(org["id"], []):
            self.store.delete("contacts", contact)

    # -- ugly cases --------------------------------------------------------------------------

    def ugly_cases(self, start: datetime, end: datetime, step: int) -> None:
        orgs = self.organizations(end)
        if not orgs:
            return
        org = orgs[step % len(orgs)]
        people = [c for c in self.contacts[org["id"]] if c["id"] != org["contact_id"]]
        if step > 1 and people:
            # A message whose transaction began before the previous run's clock.
            self.new_message(org, people[0], start - LATE_COMMIT_BACKDATE, "inbound")
        # A webhook batch: one UPDATE, one updated_at for every message it touches.
        batch_at = self.stamp(end - timedelta(seconds=20))
        messages = self.store.tables["messages"].rows
        for message_id in sorted(self.pending | self.delivered):
            message = messages[message_id]
            if message["organization_id"] == org["id"]:
                status = "read" if message["bsp_status"] == "delivered" else "delivered"
                self.store.update("messages", message, bsp_status=status, updated_at=batch_at)
                self.track(message)
        if step == 1 and len(orgs) > 2:
            # One organization leaves mid-history for sure (the random rate may pick none in a
            # small history): its data is wiped by the first step after WIPE_AFTER.
            self.soft_delete(orgs[-1], start + (end - start) / 2)
        kinds = BAD_KINDS if step == 1 else (BAD_KINDS[step % len(BAD_KINDS)],)
        for kind in kinds:
            self.bad_row(kind, orgs, self.between(start, end))

    def bad_row(self, kind: str, orgs: list[Row], at: datetime) -> None:
        org = orgs[0]
        at = max(at, self.instant(org["inserted_at"]) + timedelta(seconds=1))
        contact = self.new_contact(org, at)
        if kind == "missing_direction":
            self.new_message(org, contact, at, None)  # `flow` is nullable in Glific
        elif kind == "invalid_time_zone":
            self.new_organization(at, INVALID_TIME_ZONE, draw_zone=False)
        elif kind == "tenant_mismatch":
            # Nothing in the schema ties a message's organization to its contact's.
            other = orgs[-1] if len(orgs) > 1 else self.new_organization(at)
            message = self.new_message(org, contact, at, "inbound")
            self.store.update("messages", message, organization_id=other["id"])
        else:  # pragma: no cover - BAD_KINDS is the list above
            raise AssertionError(kind)


PLATFORM = Platform(name="glific", schema_file=SCHEMA_FILE, tables=TABLES,
                    instances=tuple(sorted(INSTANCES)), activity=GlificActivity)


if __name__ == "__main__":
    raise SystemExit(cli.main(PLATFORM))
