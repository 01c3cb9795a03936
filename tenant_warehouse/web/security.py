"""Sessions, login throttling, CSRF tokens and the session-cookie secret of the dashboard.

The signed cookie carries only a random session id; who is logged in (login, kind, tenant) lives
in this process's memory. So logging out really ends a session (a copied cookie is worthless
afterwards), the tenant can never be edited on the client, and a restart logs everyone out.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tenant_warehouse.settings import Settings

SECRET_ENV = "TW_DASHBOARD_SECRET"
SESSION_SECONDS = 8 * 3600
# Failed logins allowed per client address and per login name inside the window.
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 300.0
MAX_TRACKED_KEYS = 10_000


class DashboardConfigError(ValueError):
    """A dashboard setting is unusable (names the variable or file and the cause)."""


def session_secret(settings: Settings) -> str:
    """TW_DASHBOARD_SECRET, else a random secret generated once and kept 0600 under TW_HOME."""
    explicit = os.environ.get(SECRET_ENV)
    if explicit is not None:
        if len(explicit) < 32:
            raise DashboardConfigError(
                f"{SECRET_ENV} is {len(explicit)} characters long: use at least 32 random ones"
            )
        return explicit
    path = settings.home / "dashboard_secret"
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise DashboardConfigError(
            f"{path} is readable by others (mode {mode:o}): chmod 600 it, or set {SECRET_ENV}"
        )
    return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass(frozen=True)
class SessionUser:
    login: str
    kind: str  # "tenant" | "operator"
    tenant_id: str | None  # None for operators
    csrf_token: str
    expires_at: float


@dataclass
class SessionStore:
    """Server-side sessions by random id; thread-safe (sync routes run in a thread pool)."""

    lifetime: float = SESSION_SECONDS
    _sessions: dict[str, SessionUser] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, login: str, kind: str, tenant_id: str | None) -> tuple[str, SessionUser]:
        session_id = secrets.token_urlsafe(32)
        user = SessionUser(
            login, kind, tenant_id, secrets.token_urlsafe(32), time.time() + self.lifetime
        )
        with self._lock:
            self._drop_expired()
            self._sessions[session_id] = user
        return session_id, user

    def get(self, session_id: object) -> SessionUser | None:
        if not isinstance(session_id, str):
            return None
        with self._lock:
            user = self._sessions.get(session_id)
            if user is not None and user.expires_at < time.time():
                del self._sessions[session_id]
                return None
            return user

    def close(self, session_id: object) -> None:
        if isinstance(session_id, str):
            with self._lock:
                self._sessions.pop(session_id, None)

    def close_login(self, login: str) -> None:
        """End every session of a login (it was removed from the registry)."""
        with self._lock:
            for key in [k for k, u in self._sessions.items() if u.login == login]:
                del self._sessions[key]

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [k for k, u in self._sessions.items() if u.expires_at < now]:
            del self._sessions[key]


@dataclass
class LoginThrottle:
    """Refuses logins from an address, or for a login name, after repeated failures.

    Counting per name too stops a distributed guess at one tenant's password; counting per
    address stops one client from walking through names.
    """

    max_failures: int = MAX_FAILURES
    window: float = FAILURE_WINDOW_SECONDS
    # Injected so tests can move time without sleeping (a loaded machine makes sleeps lie).
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, address: str, login: str) -> int:
        """Seconds until this address and login may try again (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in (f"addr:{address}", f"login:{login.lower()}"):
                recent = self._recent(key, now)
                if len(recent) >= self.max_failures:
                    wait = max(wait, recent[0] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, address: str, login: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_TRACKED_KEYS:
                # Guesses at many names must not grow memory forever: forget the stale ones.
                for key in list(self._failures):
                    if not self._recent(key, now):
                        del self._failures[key]
            for key in (f"addr:{address}", f"login:{login.lower()}"):
                self._recent(key, now).append(now)

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._failures.pop(f"login:{login.lower()}", None)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] + self.window < now:
            recent.popleft()
        return recent


def same_token(expected: str | None, given: object) -> bool:
    """Constant-time comparison of a CSRF token."""
    return (
        isinstance(expected, str) and isinstance(given, str) and bool(expected)
        and secrets.compare_digest(expected.encode(), given.encode())
    )


# Sent with every response. Scripts only from this server (plotly.js and the page script);
# plotly adds <style> elements at run time, hence 'unsafe-inline' for styles only.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
