"""Scheduled delivery of tenant dumps: to a folder per tenant and by email through Apprise.

`deliver` decides per (delivery, tenant) what is due: `after_cycle` deliveries when the
tenant's data fingerprint differs from the last one delivered, `monthly` ones once per calendar
month (UTC), and any earlier failure on every run until it succeeds. A delivery that fails after
its in-run retries stays pending in the state (TW_HOME/deliveries/state.json), raises an alert
through the alert machinery's Notifier (Apprise URLs of alerts.yml, or the console) once per
failure streak, and a note when it recovers. Nothing is silently skipped: every (delivery,
tenant) ends as delivered, unchanged, not due or failed in the report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenant_warehouse.exports.delivery_config import (
    DeliveriesConfig,
    Delivery,
    EmailTarget,
    load_deliveries,
)
from tenant_warehouse.exports.dump import export_tenant, tenant_slug
from tenant_warehouse.exports.fingerprint import tenant_fingerprints
from tenant_warehouse.exports.result import ExportProgress, ExportResult
from tenant_warehouse.settings import Settings

STATE_FILE = "state.json"
LOCK_FILE = "deliveries.lock"
Log = Callable[[str], None]


@dataclass
class DeliveryOutcome:
    delivery: str
    tenant_id: str
    status: str  # delivered | unchanged | not_due | failed
    detail: str = ""
    exports: list[ExportResult] = field(default_factory=list)
    attempts: int = 0


@dataclass
class DeliveryReport:
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    alerts_sent: int = 0

    @property
    def failed(self) -> list[DeliveryOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


def deliveries_dir(settings: Settings) -> Path:
    return settings.home / "deliveries"


def load_state(settings: Settings) -> dict[str, dict[str, Any]]:
    path = deliveries_dir(settings) / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise RuntimeError(f"{path}: delivery state is not valid JSON ({exc}); fix or remove it") from exc


def _save_state(settings: Settings, state: dict[str, dict[str, Any]]) -> None:
    directory = deliveries_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{STATE_FILE}.partial"
    partial.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, directory / STATE_FILE)


def warehouse_tenants(settings: Settings, warehouse: str, include_deleted: bool = False) -> list[str]:
    """Every organization of the warehouse, soft-deleted ones only when asked: what `tenants:
    all` means for dumps (live organizations); statements include deleted ones (they still owe
    their past months)."""
    from tenant_warehouse.monitoring.store import open_warehouse

    live = "" if include_deleted else " where not is_deleted"
    with open_warehouse(settings, warehouse, read_only=True) as store:
        rows = store.query(
            f"select tenant_id from marts.dim_organizations{live}"
            " order by instance_id, organization_id"
        )
    return [row["tenant_id"] for row in rows]


def deliver(
    settings: Settings,
    warehouse: str,
    schedules: Sequence[str] = ("after_cycle", "monthly"),
    names: Sequence[str] | None = None,
    tenants: Sequence[str] | None = None,
    force: bool = False,
    config: DeliveriesConfig | None = None,
    log: Log | None = None,
    progress: ExportProgress | None = None,
    now: dt.datetime | None = None,
) -> DeliveryReport:
    """Run the configured deliveries that are due (all of them with `force`)."""
    from ingestion.lock import RunLock

    config = config or load_deliveries()
    log = log or (lambda message: None)
    now = now or dt.datetime.now(dt.UTC)
    report = DeliveryReport()
    selected = [
        d for d in config.deliveries
        if (names is None or d.name in names)
        and (d.schedule in schedules or force or names is not None)
    ]  # fmt: skip
    if names is not None:
        unknown = set(names) - {d.name for d in config.deliveries}
        if unknown:
            raise ValueError(f"{config.path}: no delivery named {', '.join(sorted(unknown))}")
    deliveries_dir(settings).mkdir(parents=True, exist_ok=True)
    with RunLock(deliveries_dir(settings) / LOCK_FILE, what="delivery (warehouse deliver)"):
        state = load_state(settings)
        pending = [d for d in config.deliveries if d not in selected and _has_pending(state, d)]
        everyone: list[str] | None = None
        fingerprints: dict[str, str] = {}
        for delivery in [*selected, *pending]:
            if delivery.tenants is None and everyone is None:
                everyone = warehouse_tenants(settings, warehouse)
            targets = list(delivery.tenants if delivery.tenants is not None else everyone or [])
            if tenants is not None:
                targets = [t for t in targets if t in tenants]
            missing = [t for t in targets if t not in fingerprints]
            if missing:
                # One grouped scan per mart for every tenant at once (exports.fingerprint).
                fingerprints.update(tenant_fingerprints(settings, warehouse, missing))
            for tenant_id in targets:
                key = f"{delivery.name}|{tenant_id}"
                entry = state.setdefault(key, {})
                outcome = _deliver_one(
                    settings, warehouse, delivery, tenant_id, entry, fingerprints, now,
                    force=force, retry_only=delivery in pending, log=log, progress=progress,
                )  # fmt: skip
                report.outcomes.append(outcome)
                report.alerts_sent += _alert(delivery, tenant_id, entry, outcome, now, log)
                _save_state(settings, state)  # after each tenant: a crash loses nothing done
    return report


def _has_pending(state: dict[str, dict[str, Any]], delivery: Delivery) -> bool:
    prefix = f"{delivery.name}|"
    return any(k.startswith(prefix) and v.get("failing_since") for k, v in state.items())


def _deliver_one(
    settings: Settings,
    warehouse: str,
    delivery: Delivery,
    tenant_id: str,
    entry: dict[str, Any],
    fingerprints: dict[str, str],
    now: dt.datetime,
    force: bool,
    retry_only: bool,
    log: Log,
    progress: ExportProgress | None,
) -> DeliveryOutcome:
    period = f"{now:%Y-%m}"
    failing = bool(entry.get("failing_since"))
    if retry_only and not failing:
        return DeliveryOutcome(delivery.name, tenant_id, "not_due", "no pending failure")
    fingerprint = fingerprints[tenant_id]
    if not (force or failing):
        delivered = (entry.get("fingerprint"), entry.get("precheck"))
        if delivery.schedule == "after_cycle" and fingerprint in delivered:
            return DeliveryOutcome(delivery.name, tenant_id, "unchanged", "data unchanged since last delivery")
        if delivery.schedule == "monthly" and entry.get("period") == period:
            return DeliveryOutcome(delivery.name, tenant_id, "not_due", f"already delivered for {period}")
    attempts, error = 0, None
    exports: list[ExportResult] = []
    for attempt in range(delivery.retries + 1):
        attempts = attempt + 1
        try:
            exports = _export_all(settings, warehouse, delivery, tenant_id, fingerprint, progress)
            if delivery.email is not None:
                error = _send_email(settings, delivery, delivery.email, tenant_id, exports, now)
            else:
                error = None
        except Exception as exc:  # any failure of this tenant is reported, the others go on
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            break
        log(f"delivery {delivery.name} to {tenant_id}: attempt {attempts} failed: {error}")
        if attempt < delivery.retries:
            time.sleep(delivery.retry_seconds * (attempt + 1))
    if error is not None:
        return _failed(delivery, tenant_id, entry, now, error, attempts)
    recovered = bool(entry.get("failing_since"))
    # The failure streak that just ended, for the RESOLVED note (only when it was alerted).
    ended_streak = entry.get("failing_since") if entry.get("alerted") else None
    entry.update({
        "fingerprint": exports[0].fingerprint if exports else fingerprint,
        "precheck": fingerprint, "period": period, "delivered_at": now.isoformat(timespec="seconds"),
        "failing_since": None, "last_error": None, "attempts": 0,
        "recovered": ended_streak, "alerted": False,
        "files": [str(f.path) for e in exports for f in e.files],
    })  # fmt: skip
    rows = sum(e.total_rows for e in exports)
    return DeliveryOutcome(
        delivery.name, tenant_id, "delivered",
        f"{', '.join(delivery.formats)}: {rows:,} rows" + (" (retried)" if recovered else ""),
        exports, attempts,
    )


def _failed(
    delivery: Delivery, tenant_id: str, entry: dict[str, Any], now: dt.datetime, error: str,
    attempts: int,
) -> DeliveryOutcome:
    entry.setdefault("alerted", False)
    if not entry.get("failing_since"):
        entry["failing_since"] = now.isoformat(timespec="seconds")
        entry["alerted"] = False
    entry["last_error"] = error[:2000]
    entry["attempts"] = int(entry.get("attempts") or 0) + max(attempts, 1)
    return DeliveryOutcome(delivery.name, tenant_id, "failed", error, attempts=attempts)


def _export_all(
    settings: Settings, warehouse: str, delivery: Delivery, tenant_id: str, precheck: str,
    progress: ExportProgress | None,
) -> list[ExportResult]:
    root = delivery.folder or deliveries_dir(settings) / "outbox" / delivery.name
    base = root / tenant_slug(tenant_id)
    return [
        export_tenant(settings, warehouse, tenant_id, fmt, base / fmt, progress,
                      precheck_fingerprint=precheck)
        for fmt in delivery.formats
    ]


# --- email --------------------------------------------------------------------------------------


def _send_email(
    settings: Settings, delivery: Delivery, email: EmailTarget, tenant_id: str,
    exports: list[ExportResult], now: dt.datetime,
) -> str | None:
    """Send the dump to the tenant's recipients; None when the server accepted it."""
    import logging

    import apprise

    recipients = email.to.get(tenant_id)
    if recipients is None:
        return None  # this tenant gets the folder only
    base_url = os.environ.get(email.url_env, "").strip()
    if not base_url:
        return f"environment variable {email.url_env} (the Apprise email URL) is not set"
    # Zips are built outside the delivered folder, which holds exactly what its manifest lists.
    scratch = deliveries_dir(settings) / "attachments" / delivery.name
    scratch.mkdir(parents=True, exist_ok=True)
    files = [_attachment(result, scratch) for result in exports]
    size_mb = sum(path.stat().st_size for path in files) / 1_000_000
    links: list[str] = []
    if size_mb > email.attach_max_mb:
        if email.link_base is None or delivery.folder is None:
            return (
                f"dump of {size_mb:.1f} MB exceeds attach_max_mb {email.attach_max_mb:g} and no"
                f" folder/link_base is configured to link it instead"
            )
        links = [
            f"{email.link_base}/{tenant_slug(tenant_id)}/{r.format}/{f.path.name}"
            for r in exports for f in r.files
        ]
        files = []
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}to={urllib.parse.quote(recipients, safe='@,')}"
    service = apprise.Apprise()
    if not service.add(url):
        return f"{email.url_env}: not a valid Apprise URL"
    attach = apprise.AppriseAttachment()
    for path in files:
        attach.add(str(path))
    title = f"Your data: {tenant_id}, {', '.join(delivery.formats)} ({now:%Y-%m-%d})"
    body = _email_body(tenant_id, exports, links)
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = service.notify(
            title=title, body=body, body_format=apprise.NotifyFormat.TEXT,
            attach=attach if files else None,
        )  # fmt: skip
    if not ok:
        return " ".join(captured.getvalue().split())[:500] or "the email server refused the message"
    return None


def _attachment(result: ExportResult, scratch: Path) -> Path:
    """One file per format: the workbook or database itself, or a zip of the CSV/Parquet files
    with manifest.json and SHA256SUMS."""
    if len(result.files) == 1 and result.format in ("xlsx", "duckdb"):
        return result.files[0].path
    archive = scratch / f".{tenant_slug(result.tenant_id)}-{result.format}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for file in result.files:
            bundle.write(file.path, file.path.name)
        for extra in ("manifest.json", "SHA256SUMS"):
            if (result.output_dir / extra).exists():
                bundle.write(result.output_dir / extra, extra)
    named = archive.with_name(f"{tenant_slug(result.tenant_id)}-{result.format}.zip")
    os.replace(archive, named)
    return named


def _email_body(tenant_id: str, exports: list[ExportResult], links: list[str]) -> str:
    lines = ["Hello,", "", f"attached is the data of {tenant_id} as of today."]
    if links:
        lines[-1] = f"the data of {tenant_id} is too large to attach; download it here:"
        lines += [f"  {link}" for link in links]
    lines += ["", "Tables and rows:"]
    first = exports[0]
    lines += [f"  {name}: {rows:,}" for name, rows in sorted(first.rows.items())]
    lines += ["", "Checksums (sha256):"]
    lines += [f"  {f.sha256}  {f.path.name}" for e in exports for f in e.files]
    return "\n".join(lines)


# --- alerts -------------------------------------------------------------------------------------


def _alert(
    delivery: Delivery, tenant_id: str, entry: dict[str, Any], outcome: DeliveryOutcome,
    now: dt.datetime, log: Log,
) -> int:
    """Alert once per failure streak (retried when the alert itself could not be sent) and
    once when a failed delivery recovered."""
    from tenant_warehouse.monitoring.alert_config import load_alert_config
    from tenant_warehouse.monitoring.alerts import Alert, Notifier

    if outcome.status == "failed" and entry.get("alerted"):
        return 0
    ended_streak = entry.pop("recovered", None)
    if outcome.status != "failed" and not ended_streak:
        return 0
    config = load_alert_config()
    since = dt.datetime.fromisoformat(entry.get("failing_since") or ended_streak or now.isoformat())
    alert = Alert(
        key=f"delivery_failed:{delivery.name}:{tenant_id}:{since:%Y%m%dT%H%M%S}",
        rule="delivery_failed", severity="error",
        what=f"delivery {delivery.name} of tenant {tenant_id} failed",
        where=f"tenant {tenant_id}; delivery {delivery.name} ({', '.join(delivery.formats)},"
              f" {delivery.schedule})",
        since=since,
        investigate=f"warehouse deliver --name {delivery.name} --tenant {tenant_id}"
                    f" (retried automatically on the next run)",
        tenant_id=tenant_id,
        details=f"{entry.get('attempts', 0)} attempt(s). Error: {entry.get('last_error')}",
    )  # fmt: skip
    notifier = Notifier(config.urls(), config.title_prefix)
    if outcome.status == "failed":
        title, body, severity = alert.title, alert.body, "error"
    else:
        title = f"RESOLVED {alert.title}"
        body = f"Delivered: {now:%Y-%m-%d %H:%M:%S} UTC (after a failure).\n\n{alert.body}"
        severity = "resolved"
    if not notifier.configured:
        log(f"alert {title}\n{body}")
        error = None
    else:
        error = notifier.send(title, body, severity)
    if outcome.status == "failed":
        entry["alerted"] = error is None
    if error:
        log(f"alert about delivery {delivery.name} to {tenant_id} not sent: {error}")
        return 0
    return 1


def deliver_after_cycle(settings: Settings, warehouse: str, log: Log | None = None) -> bool:
    """The cycle's last step: due deliveries and retries of failed ones. Never raises: a
    broken deliveries.yml or a crash alerts instead (the cycle's data is fine)."""
    from tenant_warehouse.exports.delivery_config import deliveries_path

    log = log or print
    try:
        config = load_deliveries()
        if not config.deliveries:
            return True
        report = deliver(settings, warehouse, config=config, log=log)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        log(f"deliveries crashed: {message}")
        _alert_crash(message, deliveries_path(), log)
        return False
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    log("deliveries: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none due"))
    for outcome in report.failed:
        log(f"delivery {outcome.delivery} to {outcome.tenant_id} failed: {outcome.detail}")
    return report.ok


def _alert_crash(message: str, path: Path, log: Log) -> None:
    from tenant_warehouse.monitoring.alert_config import load_alert_config
    from tenant_warehouse.monitoring.alerts import Alert, Notifier

    config = load_alert_config()
    alert = Alert(
        key="delivery_failed:crash", rule="delivery_failed", severity="error",
        what="the delivery step crashed: no tenant dump was delivered",
        where=f"deliveries ({path})", since=dt.datetime.now(dt.UTC),
        investigate="warehouse deliver (prints the error); check deliveries.yml",
        details=message[:2000],
    )  # fmt: skip
    notifier = Notifier(config.urls(), config.title_prefix)
    if notifier.configured:
        error = notifier.send(alert.title, alert.body, "error")
        if error:
            log(f"alert about the delivery crash not sent: {error}")
    else:
        log(f"alert {alert.title}\n{alert.body}")
