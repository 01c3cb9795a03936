"""Who may log in: tenant and operator principals, their password hashes, the declared tenants.

Passwords are never kept in clear: a salted scrypt hash per login in
`$TW_HOME/tenants/credentials.json` (directory 0700, file 0600), replaced atomically. The
PostgreSQL role of a tenant keeps its own SCRAM verifier (postgres_access.py); this file is what
the web dashboard and exports check.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.config import load_tenants_config
from tenant_warehouse.tenants.errors import TenantError
from tenant_warehouse.tenants.ids import normalize_tenant_id, role_name

# scrypt cost: 2^14 x 8 x 1 is ~16 MiB and ~50 ms here: slow for guessing, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES = 2**14, 8, 1, 32
OPERATOR_LOGIN_PREFIX = "tw_tenant_"  # an operator login may not look like a tenant role
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class Principal:
    login: str                              # e.g. "tw_tenant_uk_42" or an operator name
    kind: Literal["tenant", "operator"]
    tenant_id: str | None                   # None for operators


def declared_tenants(settings: Settings) -> list[str]:
    """Tenant ids declared in tenants.yml (TW_TENANTS_FILE), in file order."""
    return load_tenants_config().tenant_ids()


def verify_login(settings: Settings, login: str, password: str) -> Principal | None:
    """The principal when `password` matches the stored hash of `login`; None otherwise.
    An unknown login costs the same scrypt as a known one (no timing oracle on names)."""
    entry = _read(settings).get(login)
    stored = entry["password"] if entry else _dummy_hash()
    ok = _check(stored, password)
    if not entry or not ok:
        return None
    return Principal(login=login, kind=entry["kind"], tenant_id=entry.get("tenant_id"))


def tenant_principal(tenant_id: str) -> Principal:
    tenant_id = normalize_tenant_id(tenant_id)
    return Principal(login=role_name(tenant_id), kind="tenant", tenant_id=tenant_id)


def operator_principal(login: str) -> Principal:
    if not login or not login.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise TenantError(f"operator {login!r}: use letters, digits, '.', '_' or '-'")
    if login.startswith(OPERATOR_LOGIN_PREFIX):
        raise TenantError(f"operator {login!r}: names starting {OPERATOR_LOGIN_PREFIX} are tenants")
    return Principal(login=login, kind="operator", tenant_id=None)


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def store_password(settings: Settings, principal: Principal, password: str) -> None:
    """Create or replace the login's hash."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise TenantError(
            f"{principal.login}: password too short ({len(password)} characters, "
            f"at least {MIN_PASSWORD_LENGTH})"
        )
    with _locked(settings):
        entries = _read(settings)
        entries[principal.login] = {
            "kind": principal.kind,
            "tenant_id": principal.tenant_id,
            "password": _hash(password),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        _write(settings, entries)


def remove_login(settings: Settings, login: str) -> bool:
    """Forget a login; True when it existed."""
    with _locked(settings):
        entries = _read(settings)
        existed = entries.pop(login, None) is not None
        if existed:
            _write(settings, entries)
    return existed


def registered_principals(settings: Settings) -> list[tuple[Principal, str]]:
    """(principal, updated_at) of every stored login, sorted by login."""
    return [
        (Principal(login, entry["kind"], entry.get("tenant_id")), entry.get("updated_at", ""))
        for login, entry in sorted(_read(settings).items())
    ]


# --- storage -------------------------------------------------------------------------------------


def credentials_path(settings: Settings) -> Path:
    return settings.home / "tenants" / "credentials.json"


def _read(settings: Settings) -> dict[str, dict[str, Any]]:
    path = credentials_path(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise TenantError(f"{path}: credentials file is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TenantError(f"{path}: credentials file is not a mapping")
    return document


def _write(settings: Settings, entries: dict[str, dict[str, Any]]) -> None:
    path = credentials_path(settings)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(entries, handle, indent=2, sort_keys=True)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    directory = credentials_path(settings).parent
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    with open(directory / "credentials.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES
    )
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def _check(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        expected = base64.b64decode(key)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hash(secrets.token_urlsafe(16))
