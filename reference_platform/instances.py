"""The three regional instances of the reference platform and what makes each one local."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    currency: str
    time_zone: str
    # (IANA zone, weight) for organizations. Non-primary zones are deliberate traps: zones west
    # of UTC (23:30 local lands in the next UTC day), half-hour offsets, zones without DST.
    organization_time_zones: tuple[tuple[str, float], ...]
    languages: tuple[tuple[str, float], ...]
    phone_prefix: str
    email_domain: str
    # Prices in minor units scale by this factor from the shared catalogue.
    price_factor: float


INSTANCES: dict[str, Instance] = {
    "uk": Instance(
        instance_id="uk",
        name="United Kingdom",
        currency="GBP",
        time_zone="Europe/London",
        organization_time_zones=(
            ("Europe/London", 0.85),
            ("Europe/Gibraltar", 0.08),
            ("Atlantic/Stanley", 0.07),
        ),
        languages=(("en", 0.9), ("cy", 0.05), ("pl", 0.05)),
        phone_prefix="+44 7",
        email_domain="example.co.uk",
        price_factor=1.0,
    ),
    "au": Instance(
        instance_id="au",
        name="Australia",
        currency="AUD",
        time_zone="Australia/Sydney",
        organization_time_zones=(
            ("Australia/Sydney", 0.5),
            ("Australia/Perth", 0.2),
            ("Australia/Brisbane", 0.2),
            ("Australia/Adelaide", 0.1),
        ),
        languages=(("en", 0.85), ("zh", 0.1), ("vi", 0.05)),
        phone_prefix="+61 4",
        email_domain="example.com.au",
        price_factor=1.9,
    ),
    "fr": Instance(
        instance_id="fr",
        name="France",
        currency="EUR",
        time_zone="Europe/Paris",
        organization_time_zones=(
            ("Europe/Paris", 0.8),
            ("Indian/Reunion", 0.1),
            ("America/Martinique", 0.1),
        ),
        languages=(("fr", 0.9), ("en", 0.05), ("ar", 0.05)),
        phone_prefix="+33 6",
        email_domain="example.fr",
        price_factor=1.15,
    ),
}

# Values a careless admin form lets through; none is an IANA name (the last one only differs by
# case, which PostgreSQL would accept but the warehouse's seed list does not).
INVALID_TIME_ZONES = ("Europe/Londres", "Australia/Sidney", "GMT+25", "Paris", "europe/paris")


def get_instance(instance_id: str) -> Instance:
    try:
        return INSTANCES[instance_id]
    except KeyError:
        known = ", ".join(sorted(INSTANCES))
        raise ValueError(f"unknown instance {instance_id!r} (known: {known})") from None
