"""deliveries.yml: which tenants get which dumps, where, and when.

```yaml
version: 1
deliveries:
  - name: ngo-monthly              # a name of your choice (state and alerts use it)
    tenants: [uk:12, fr:7]         # or `all` (every organization in the warehouse)
    formats: [xlsx, csv]           # csv, xlsx, parquet, duckdb
    schedule: monthly              # after_cycle (when the tenant's data changed) or monthly
    folder: /srv/tw/deliveries     # <folder>/<tenant>/<format>/ with manifest.json, SHA256SUMS
    email:                         # optional: Apprise, the files attached or linked
      url_env: TW_DELIVERY_EMAIL_URL   # mailtos://user:pass@smtp.example.com?from=... (env only)
      to: {uk:12: data@ngo-twelve.org, fr:7: "a@b.org, c@d.org"}
      attach_max_mb: 10            # larger dumps are linked instead (needs link_base)
      link_base: https://files.example.com/deliveries   # the public URL of `folder`
    retries: 2                     # extra attempts within a run (then: the next run)
```

Every mistake raises DeliveryConfigError naming the file and the dotted key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tenant_warehouse.exports.result import FORMATS
from tenant_warehouse.settings import PROJECT_DIR

PATH_ENV = "TW_DELIVERIES_FILE"
DEFAULT_PATH = PROJECT_DIR / "deliveries.yml"
SCHEDULES = ("after_cycle", "monthly")
_KEYS = {"name", "tenants", "formats", "schedule", "folder", "email", "retries", "retry_seconds"}
_EMAIL_KEYS = {"url_env", "to", "attach_max_mb", "link_base"}


class DeliveryConfigError(ValueError):
    """deliveries.yml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class EmailTarget:
    url_env: str
    to: dict[str, str]  # tenant id -> recipients ("a@b.org, c@d.org")
    attach_max_mb: float = 10.0
    link_base: str | None = None


@dataclass(frozen=True)
class Delivery:
    name: str
    tenants: tuple[str, ...] | None  # None: every tenant of the warehouse
    formats: tuple[str, ...]
    schedule: str
    folder: Path | None
    email: EmailTarget | None = None
    retries: int = 2
    retry_seconds: float = 5.0


@dataclass(frozen=True)
class DeliveriesConfig:
    path: Path
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)


def deliveries_path() -> Path:
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


def load_deliveries(path: Path | None = None) -> DeliveriesConfig:
    """The configured deliveries; none when the default file does not exist (an explicit
    TW_DELIVERIES_FILE that does not exist is an error)."""
    source = path or deliveries_path()
    if not source.exists():
        if path is None and PATH_ENV not in os.environ:
            return DeliveriesConfig(path=source)
        raise DeliveryConfigError(f"{source}: deliveries file not found")
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DeliveryConfigError(f"{source}: cannot read: {str(exc).splitlines()[0]}") from exc
    return parse_deliveries(document, source)


def parse_deliveries(document: Any, source: Path) -> DeliveriesConfig:
    def fail(key: str, why: str) -> DeliveryConfigError:
        return DeliveryConfigError(f"{source}: {key}: {why}")

    if not isinstance(document, dict) or set(document) - {"version", "deliveries"}:
        raise fail("(top level)", "expected a mapping with `version` and `deliveries`")
    items = document.get("deliveries") or []
    if not isinstance(items, list):
        raise fail("deliveries", "expected a list")
    deliveries, names = [], set()
    for index, item in enumerate(items):
        delivery = _delivery(item, f"deliveries[{index}]", fail)
        if delivery.name in names:
            raise fail(f"deliveries[{index}].name", f"{delivery.name!r} is used twice")
        names.add(delivery.name)
        deliveries.append(delivery)
    return DeliveriesConfig(path=source, deliveries=tuple(deliveries))


def _delivery(item: Any, where: str, fail: Any) -> Delivery:
    from tenant_warehouse.tenants.errors import TenantError
    from tenant_warehouse.tenants.ids import normalize_tenant_id

    if not isinstance(item, dict):
        raise fail(where, "expected a mapping")
    unknown = set(item) - _KEYS
    if unknown:
        raise fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or "|" in name:
        raise fail(f"{where}.name", "a non-empty name (no `|`) is required")
    tenants_value = item.get("tenants")
    tenants: tuple[str, ...] | None
    if tenants_value == "all":
        tenants = None
    elif isinstance(tenants_value, list) and tenants_value:
        try:
            tenants = tuple(normalize_tenant_id(str(t)) for t in tenants_value)
        except TenantError as exc:
            raise fail(f"{where}.tenants", str(exc)) from exc
    else:
        raise fail(f"{where}.tenants", "`all` or a list of tenant ids such as [uk:12, fr:7]")
    formats = item.get("formats", ["xlsx"])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or any(f not in FORMATS for f in formats):
        raise fail(f"{where}.formats", f"a list of {', '.join(FORMATS)}; got {formats!r}")
    schedule = item.get("schedule", "after_cycle")
    if schedule not in SCHEDULES:
        raise fail(f"{where}.schedule", f"{schedule!r} is not one of {', '.join(SCHEDULES)}")
    folder = item.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder.strip()):
        raise fail(f"{where}.folder", "a directory path")
    email = _email(item.get("email"), f"{where}.email", fail, tenants) if "email" in item else None
    if folder is None and email is None:
        raise fail(where, "say where to deliver: `folder` and/or `email`")
    retries = item.get("retries", 2)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise fail(f"{where}.retries", "an integer from 0 to 10")
    retry_seconds = item.get("retry_seconds", 5)
    if not isinstance(retry_seconds, (int, float)) or isinstance(retry_seconds, bool) or retry_seconds < 0:
        raise fail(f"{where}.retry_seconds", "a number of seconds >= 0")
    return Delivery(
        name=name.strip(), tenants=tenants, formats=tuple(dict.fromkeys(formats)),
        schedule=schedule, folder=Path(folder).expanduser() if folder else None, email=email,
        retries=retries, retry_seconds=float(retry_seconds),
    )


def _email(value: Any, where: str, fail: Any, tenants: tuple[str, ...] | None) -> EmailTarget:
    from tenant_warehouse.tenants.errors import TenantError
    from tenant_warehouse.tenants.ids import normalize_tenant_id

    if not isinstance(value, dict):
        raise fail(where, "expected a mapping with url_env and to")
    unknown = set(value) - _EMAIL_KEYS
    if unknown:
        raise fail(where, f"unknown key(s) {', '.join(sorted(unknown))}")
    url_env = value.get("url_env", "TW_DELIVERY_EMAIL_URL")
    if not isinstance(url_env, str) or not url_env.isidentifier():
        raise fail(f"{where}.url_env", "the name of an environment variable holding the Apprise URL")
    to = value.get("to")
    if not isinstance(to, dict) or not to:
        raise fail(f"{where}.to", "a mapping tenant id -> recipient address(es)")
    recipients: dict[str, str] = {}
    for tenant, address in to.items():
        try:
            tenant_id = normalize_tenant_id(str(tenant))
        except TenantError as exc:
            raise fail(f"{where}.to", str(exc)) from exc
        if not isinstance(address, str) or "@" not in address:
            raise fail(f"{where}.to.{tenant_id}", f"{address!r} is not an email address")
        if tenants is not None and tenant_id not in tenants:
            raise fail(f"{where}.to.{tenant_id}", "this tenant is not in the delivery's tenants")
        recipients[tenant_id] = address
    attach_max = value.get("attach_max_mb", 10)
    if not isinstance(attach_max, (int, float)) or isinstance(attach_max, bool) or attach_max < 0:
        raise fail(f"{where}.attach_max_mb", "a size in MB >= 0")
    link_base = value.get("link_base")
    if link_base is not None and not (isinstance(link_base, str) and "://" in link_base):
        raise fail(f"{where}.link_base", "a URL such as https://files.example.com/deliveries")
    return EmailTarget(url_env=url_env, to=recipients, attach_max_mb=float(attach_max),
                       link_base=link_base.rstrip("/") if link_base else None)
