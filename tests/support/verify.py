"""Compare the warehouse with the truth computed independently from the source databases.

Marts are compared with the oracle of the platform's demo package (its `truth` hook, plain
Python over the application databases, loaded through the entry point group
`tenant_warehouse.platforms`: tenant_warehouse/platforms.py), raw tables with the sources'
current rows (its `current_rows` hook). Money compares in cents, counts exactly, rates to 4
decimals. Test-only (the oracle, fault, cross-warehouse and profile tests), so it lives apart
from the product package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tenant_warehouse.settings import Settings
from tenant_warehouse.warehouse_sql import connect, query

# The grain of every compared mart (docs/architecture.md, "Mart shapes").
MART_KEYS: dict[str, tuple[str, ...]] = {
    "turnover_by_organization_month": ("tenant_id", "month_start"),
    "turnover_by_instance_month": ("instance_id", "month_start"),
    "turnover_global_month": ("month_start",),
    "active_users_by_organization": ("tenant_id", "period", "period_start"),
    "active_users_by_instance": ("instance_id", "period", "period_start"),
    "active_users_global": ("period", "period_start"),
    "new_organizations_by_month": ("instance_id", "month_start", "kind"),
    "billing_by_organization_month": ("tenant_id", "month_start"),
    "message_delivery_by_organization_month": ("tenant_id", "month_start"),
    "dq_quarantined_rows": ("instance_id", "table_name", "row_id"),
}
MART_SCHEMA = {"dq_quarantined_rows": "marts"}


@dataclass
class MartComparison:
    mart: str
    expected_rows: int
    actual_rows: int
    missing: list[tuple[Any, ...]] = field(default_factory=list)
    unexpected: list[tuple[Any, ...]] = field(default_factory=list)
    different: list[tuple[tuple[Any, ...], str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.different)

    def describe(self, limit: int = 5) -> str:
        if self.ok:
            return f"{self.mart}: {self.actual_rows} rows match"
        lines = [
            f"{self.mart}: expected {self.expected_rows} rows, found {self.actual_rows}; "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.different)} different"
        ]
        lines += [f"  missing {key}" for key in self.missing[:limit]]
        lines += [f"  unexpected {key}" for key in self.unexpected[:limit]]
        lines += [
            f"  {key} {column}: expected {expected!r}, found {actual!r}"
            for key, column, expected, actual in self.different[:limit]
        ]
        return "\n".join(lines)


def normalise(value: Any) -> Any:
    """One representation per value whatever the adapter returned (Decimal, float, date...)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float | Decimal):
        number = Decimal(str(value)) if isinstance(value, float) else value
        return number.quantize(Decimal("0.0001"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    return value


def compare_rows(
    mart: str, keys: tuple[str, ...], expected: list[Mapping[str, Any]],
    actual: list[Mapping[str, Any]],
) -> MartComparison:
    def index(rows: list[Mapping[str, Any]]) -> dict[tuple[Any, ...], Mapping[str, Any]]:
        return {tuple(normalise(row[key]) for key in keys): row for row in rows}

    expected_by_key, actual_by_key = index(expected), index(actual)
    comparison = MartComparison(mart, len(expected), len(actual))
    comparison.missing = sorted(set(expected_by_key) - set(actual_by_key), key=repr)
    comparison.unexpected = sorted(set(actual_by_key) - set(expected_by_key), key=repr)
    for key in sorted(set(expected_by_key) & set(actual_by_key), key=repr):
        want, got = expected_by_key[key], actual_by_key[key]
        for column, value in want.items():
            if column in keys:
                continue
            if normalise(value) != normalise(got.get(column)):
                comparison.different.append((key, column, value, got.get(column)))
    return comparison


def read_mart(connection: Any, mart: str, columns: list[str]) -> list[dict[str, Any]]:
    schema = MART_SCHEMA.get(mart, "marts")
    rows = query(connection, f"select {', '.join(columns)} from {schema}.{mart}")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def compare_marts(
    settings: Settings, warehouse: str, source_urls: Mapping[str, str],
    marts: Iterable[str] | None = None,
) -> list[MartComparison]:
    """Every mart of MART_KEYS (or `marts`) against the platform's oracle; a mart the oracle
    does not compute is an error (KeyError), never a silent pass."""
    from tenant_warehouse.platforms import demo_hooks

    truth = demo_hooks(settings.platform).truth(dict(source_urls))
    results: list[MartComparison] = []
    with connect(settings, warehouse) as connection:
        for mart in MART_KEYS if marts is None else marts:
            keys = MART_KEYS[mart]
            expected = truth[mart]
            columns = list(expected[0]) if expected else list(keys)
            actual = read_mart(connection, mart, columns)
            results.append(compare_rows(mart, keys, expected, actual))
    return results


def compare_raw(
    settings: Settings, warehouse: str, source_urls: Mapping[str, str], tables: tuple[str, ...]
) -> list[MartComparison]:
    """Raw (one row per key after merges) against each source's current rows, on the columns
    that are not personal data (those are hashed or dropped and checked by the privacy tests)."""
    from tenant_warehouse.platforms import PlatformError, demo_hooks

    latest_rows = demo_hooks(settings.platform).current_rows
    if latest_rows is None:
        raise PlatformError(f"platform {settings.platform!r}: its demo has no raw-layer oracle")
    personal = {"name", "email", "phone", "body"}
    results: list[MartComparison] = []
    with connect(settings, warehouse) as connection:
        for table in tables:
            expected: list[dict[str, Any]] = []
            for instance, url in source_urls.items():
                for row in latest_rows(url, table):
                    kept = {k: v for k, v in row.items() if k not in personal}
                    expected.append({"instance_id": instance, **kept})
            columns = list(expected[0]) if expected else ["instance_id", "id"]
            actual = [
                dict(zip(columns, row, strict=True))
                for row in query(connection, f"select {', '.join(columns)} from raw.{table}")
            ]
            results.append(compare_rows(f"raw.{table}", ("instance_id", "id"), expected, actual))
    return results
