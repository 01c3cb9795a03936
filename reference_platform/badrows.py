"""The deliberately bad rows, one builder per kind in the contract's quarantine table.

Bad rows are extra rows (good volumes do not depend on the rate) that otherwise look normal:
ordinary timestamps inside the window, real contacts, plausible amounts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from reference_platform.batch import BAD_REASONS, COMPLETE, NO_ORG, RECEIVED, STATES
from reference_platform.fakes import INBOUND_BODIES, person
from reference_platform.instances import INVALID_TIME_ZONES, Instance
from reference_platform.randomness import Carry
from reference_platform.timeutil import HOUR, MINUTE, to_us

DEFAULT_BAD_ROW_RATE = 0.002
# A misconfigured time zone quarantines a whole organization, so it is drawn per organization
# at a higher rate (2% of new organizations by default) rather than per row.
ORGANIZATION_RATE_FACTOR = 10.0

EPOCH_SENTINEL = 0  # 1970-01-01: an unset date that became a real one
FAR_FUTURE = to_us("2999-12-31 00:00:00")
UNKNOWN_STATES = STATES[4:]  # "pending_payment", "refunded", "COMPLETE", "shipped"


@dataclass(frozen=True)
class BadKind:
    table: str
    reason: str

    @property
    def key(self) -> str:
        return f"{self.table}.{self.reason}"


BAD_KINDS: tuple[BadKind, ...] = (
    BadKind("contacts", "missing_tenant"),
    BadKind("orders", "missing_tenant"),
    BadKind("orders", "negative_money"),
    BadKind("orders", "unknown_state"),
    BadKind("orders", "impossible_date"),
    BadKind("messages", "missing_tenant"),
    BadKind("organizations", "invalid_time_zone"),
)
ROW_KINDS = tuple(k for k in BAD_KINDS if k.table != "organizations")
INVALID_TZ = BadKind("organizations", "invalid_time_zone")


def expected_counts(rate: float, inserted: dict[str, int]) -> dict[BadKind, float]:
    """Expected bad rows per kind for a batch that inserted `inserted[table]` good rows."""
    per_table = {k.table: sum(1 for j in ROW_KINDS if j.table == k.table) for k in ROW_KINDS}
    return {k: rate * inserted.get(k.table, 0) / per_table[k.table] for k in ROW_KINDS}


def draw_counts(carry: Carry, rate: float, inserted: dict[str, int]) -> dict[BadKind, int]:
    return {k: carry.take(f"bad.{k.key}", e) for k, e in expected_counts(rate, inserted).items()}


def is_invalid_organization(carry: Carry, rate: float) -> bool:
    return carry.take(f"bad.{INVALID_TZ.key}", min(1.0, rate * ORGANIZATION_RATE_FACTOR)) > 0


def invalid_time_zone(rng: random.Random) -> str:
    return rng.choice(INVALID_TIME_ZONES)


def bad_contact_draft(rng: random.Random, instance: Instance, at: int) -> tuple:
    """A contact draft (at, organization_id, name, email, phone, language) without a tenant."""
    name, email, phone = person(rng, instance)
    return (at, None, name, email, phone, instance.languages[0][0])


def bad_message_record(rng: random.Random, contact_id: int, at: int) -> tuple:
    """An inbound message without a tenant (a webhook that lost its routing), as a
    MessageBatch record."""
    return (at, NO_ORG, contact_id, 0, RECEIVED, rng.randrange(len(INBOUND_BODIES)), at)


def bad_order_record(
    rng: random.Random, reason: str, organization_id: int, contact_id: int, at: int
) -> dict[str, Any]:
    """An item-less order record (OrderBatch.from_records) to be quarantined for `reason`."""
    total = rng.randrange(500, 8000)
    done = at + rng.randrange(MINUTE, 20 * MINUTE)
    order: dict[str, Any] = {
        "created": at, "organization": organization_id, "contact": contact_id,
        "state": COMPLETE, "total": total, "completed": done, "updated": done,
        "bad": BAD_REASONS.index(reason),
    }
    if reason == "missing_tenant":
        order["organization"] = NO_ORG
    elif reason == "negative_money":
        order["total"] = -total
    elif reason == "unknown_state":
        order["state"] = STATES.index(rng.choice(UNKNOWN_STATES))
        if STATES[order["state"]] not in ("COMPLETE", "refunded"):
            order["completed"], order["updated"] = None, at
    elif reason == "impossible_date":
        variant = rng.randrange(3)
        if variant == 0:
            order["completed"] = at - rng.randrange(HOUR, 72 * HOUR)
        else:
            order["completed"] = EPOCH_SENTINEL if variant == 1 else FAR_FUTURE
    else:
        raise ValueError(f"not an order bad-row reason: {reason}")
    return order
