"""The sample Open Food Network instances: one application database each, like the real
national deployments (Australia, France, the UK), each with its currency and time zone.

`stored_time_zone` is the zone of the wall-clock values in the naive `timestamp` columns. Rails
writes UTC there by default (`active_record.default_timezone = :utc`), which `au` and `uk` keep;
`fr` deliberately models a deployment that writes local time (`default_timezone = :local`), the
case `source_time_zone` in tables.yml exists for. The seed `platforms/ofn/seeds/ofn_instances.csv`
holds the same currencies and zones for the warehouse (a test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_platform.samples.runner import known_instance


@dataclass(frozen=True)
class OfnInstance:
    instance_id: str
    currency: str
    time_zone: str
    stored_time_zone: str
    # Catalogue prices (minor units) scale by this factor.
    price_factor: float
    email_domain: str
    phone_prefix: str
    locale: str


INSTANCES: dict[str, OfnInstance] = {
    "au": OfnInstance("au", "AUD", "Australia/Melbourne", "UTC", 1.9, "example.com.au",
                      "+61 4", "en_AU"),
    "fr": OfnInstance("fr", "EUR", "Europe/Paris", "Europe/Paris", 1.15, "example.fr",
                      "+33 6", "fr"),
    "uk": OfnInstance("uk", "GBP", "Europe/London", "UTC", 1.0, "example.co.uk",
                      "+44 7", "en_GB"),
}


def get_instance(instance_id: str) -> OfnInstance:
    return known_instance(INSTANCES, instance_id, "ofn")
