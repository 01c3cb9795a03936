"""Steps of a random fault sequence (tests/faults/test_sequences.py), small printable values.

A sequence is a list of these; its repr is valid Python, so a failing sequence that hypothesis
prints can be replayed as it is: `TW_FAULT_SEQUENCE='[Tick(), Run(), ...]' pytest
tests/faults/test_sequences.py -k replay`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tests.faults.crash import KillPlan


@dataclass(frozen=True)
class Tick:
    """One simulator tick (6 h of activity in every instance: orders, cancellations, status
    updates, erasures, cart removals, a bulk update, a late commit inside the lag, bad rows)."""


@dataclass(frozen=True)
class Run:
    """One ingestion run (reconcile: None = the configured schedule, True = forced). With a
    `kill`, the run is a child process SIGKILLed as the plan says and nothing is checked; the
    next Run recovers."""

    reconcile: bool | None = None
    kill: KillPlan | None = None


@dataclass(frozen=True)
class Erase:
    """Erasure on request of the `pick`-th contact (modulo the count) of an instance."""

    instance: str
    pick: int


@dataclass(frozen=True)
class SoftDelete:
    instance: str
    pick: int


@dataclass(frozen=True)
class ChangePlan:
    instance: str
    pick: int
    plan: str


@dataclass(frozen=True)
class BulkUpdate:
    """`rows` messages get one identical updated_at (at the simulated clock)."""

    instance: str
    rows: int


@dataclass(frozen=True)
class DeleteOrganization:
    """Hard delete of an organization with all its rows; only a reconciliation propagates it
    to the tables without a reconcile schedule (raw may hold them as stale until then)."""

    instance: str
    pick: int


@dataclass(frozen=True)
class LateCommit:
    """A transaction inserting orders and messages stamped `age_seconds` behind the newest
    committed row, held open across `runs_while_open` runs, then committed."""

    instance: str
    age_seconds: int
    runs_while_open: int


STEP_TYPES = (Tick, Run, Erase, SoftDelete, ChangePlan, BulkUpdate, DeleteOrganization,
              LateCommit, KillPlan)


def parse_sequence(text: str) -> list[object]:
    """The steps of a printed sequence (only the classes above may appear)."""
    tree = ast.parse(text.strip(), mode="eval")
    allowed = {cls.__name__ for cls in STEP_TYPES} | {"None", "True", "False"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise ValueError(f"unexpected name {node.id!r} in a fault sequence")
        if isinstance(node, ast.Attribute):
            raise ValueError("attributes are not allowed in a fault sequence")
    namespace = {cls.__name__: cls for cls in STEP_TYPES}
    return list(eval(compile(tree, "<sequence>", "eval"), {"__builtins__": {}}, namespace))
