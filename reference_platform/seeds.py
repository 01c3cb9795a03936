"""The reference seeds as Python values, for the oracle: the profile's own (instances, plans in
platforms/reference/seeds) and the product's (fx_rates, time_zones in seeds/)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
PROFILE_SEEDS_DIR = Path(__file__).resolve().parent.parent / "platforms" / "reference" / "seeds"


@dataclass(frozen=True)
class InstanceSeed:
    instance_id: str
    instance_name: str
    currency: str
    time_zone: str


@dataclass(frozen=True)
class Price:
    monthly_fee_cents: int
    turnover_rate_bps: int


@dataclass(frozen=True)
class Seeds:
    instances: dict[str, InstanceSeed]
    plans: dict[tuple[str, str], Price]  # (plan, currency)
    fx_rates: dict[tuple[date, str], Decimal]  # (month_start, currency) -> rate to EUR
    time_zones: frozenset[str]

    @classmethod
    def load(cls, seeds_dir: Path | None = None) -> Seeds:
        """Every seed from `seeds_dir` when given, else from where the dbt project has them."""
        folder = Path(seeds_dir or SEEDS_DIR)
        own = Path(seeds_dir or PROFILE_SEEDS_DIR)
        instances = {r["instance_id"]: InstanceSeed(**r) for r in _read(own / "instances.csv")}
        plans = {
            (r["plan"], r["currency"]): Price(int(r["monthly_fee_cents"]),
                                              int(r["turnover_rate_bps"]))
            for r in _read(own / "plans.csv")
        }
        fx_rates = {
            (date.fromisoformat(r["month_start"]), r["currency"]): Decimal(r["rate_to_eur"])
            for r in _read(folder / "fx_rates.csv")
        }
        time_zones = frozenset(r["time_zone"] for r in _read(folder / "time_zones.csv"))
        return cls(instances, plans, fx_rates, time_zones)

    def rate_to_eur(self, month: date, currency: str) -> Decimal:
        try:
            return self.fx_rates[(month, currency)]
        except KeyError:
            raise KeyError(f"fx_rates.csv has no rate for {currency} in {month:%Y-%m}") from None

    def price(self, plan: str, currency: str) -> Price:
        try:
            return self.plans[(plan, currency)]
        except KeyError:
            raise KeyError(f"plans.csv has no price for plan {plan!r} in {currency}") from None


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
