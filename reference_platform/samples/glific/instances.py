"""The sample Glific instances: Tech4Dev's hosted platform and two self-hosted deployments, one
application database each. Glific stores UTC wall-clock time in its naive timestamp columns (Ecto
`utc_datetime`), so every instance's stored zone is UTC; `time_zone` is the instance's own
calendar (new organizations are counted by it), as in `platforms/glific/seeds/glific_instances.csv`.

Organization zones are drawn per instance; NULL means the application's default (Asia/Kolkata)
and the others are traps: +05:45 (Kathmandu), zones with DST (New York, London), zones west of UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from reference_platform.samples.runner import known_instance

DEFAULT_ORGANIZATION_TIME_ZONE = "Asia/Kolkata"  # Glific's Organization schema default
# What an admin form let through once: not a zone name (quarantines the organization).
INVALID_TIME_ZONE = "India Standard Time"


@dataclass(frozen=True)
class GlificInstance:
    instance_id: str
    time_zone: str
    organization_time_zones: tuple[tuple[str | None, float], ...]
    phone_prefix: str
    language_id: int


INSTANCES: dict[str, GlificInstance] = {
    "br": GlificInstance("br", "America/Sao_Paulo",
                         (("America/Sao_Paulo", 0.6), ("America/Manaus", 0.2),
                          ("America/Noronha", 0.1), ("America/New_York", 0.1)), "55", 3),
    "in": GlificInstance("in", "Asia/Kolkata",
                         (("Asia/Kolkata", 0.6), (None, 0.2), ("Asia/Kathmandu", 0.1),
                          ("Asia/Dhaka", 0.1)), "91", 1),
    "ng": GlificInstance("ng", "Africa/Lagos",
                         (("Africa/Lagos", 0.7), ("Africa/Nairobi", 0.2),
                          ("Europe/London", 0.1)), "234", 2),
}


def get_instance(instance_id: str) -> GlificInstance:
    return known_instance(INSTANCES, instance_id, "glific")
