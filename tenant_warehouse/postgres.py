"""Find a PostgreSQL server, or start a private one, for tests and for the `warehouse` command.

Order (see `discover_server`):
1. `TENANT_WAREHOUSE_PG_URL` (explicit; an unreachable URL is an error, never silently replaced);
2. a server on 127.0.0.1:5432, connecting as `postgres`, then as the current OS user;
3. a private cluster: `initdb` in a temporary directory and `pg_ctl start` on a free port, with
   its socket in that directory and TCP on 127.0.0.1 only, so it touches nothing else.

`TENANT_WAREHOUSE_PG_PRIVATE=1` skips 1 and 2 (isolation on a shared machine, or to test step 3).
As root, initdb and the server run as the `postgres` OS account (PostgreSQL refuses root).

CLI use: `with discover_server(private_dir=settings.home / "postgres") as server:` keeps a
private cluster under TW_HOME, running between commands; `PrivateCluster(base_dir=...).stop()`
stops it. `server.warehouse_env(db)` gives the TW_PG_* variables profiles.yml reads.
"""

from __future__ import annotations

import getpass
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import parse_dsn

URL_ENV = "TENANT_WAREHOUSE_PG_URL"
FORCE_PRIVATE_ENV = "TENANT_WAREHOUSE_PG_PRIVATE"
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432
# The private cluster's superuser. Fixed (not the OS user) so URLs look the same everywhere.
PRIVATE_SUPERUSER = "postgres"
CONNECT_TIMEOUT_SECONDS = 3


class PostgresUnavailable(RuntimeError):
    """No server could be found or started; the message says what was tried and why it failed."""


class PostgresConfigError(RuntimeError):
    """The user pointed us at a server explicitly and it does not work."""


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str = ""
    # Which rule found it: "env", "local" or "private". Shown in skip messages and logs.
    origin: str = "local"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL (the psycopg2 driver: SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3)."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{quote(database, safe='')}"

    def connect(self, database: str = "postgres", autocommit: bool = True) -> PgConnection:
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=database,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        conn.autocommit = autocommit
        return conn

    def warehouse_env(self, database: str) -> dict[str, str]:
        """The TW_PG_* variables that point profiles.yml and the CLI at `database` on this server."""
        return {
            "TW_PG_HOST": self.host,
            "TW_PG_PORT": str(self.port),
            "TW_PG_USER": self.user,
            "TW_PG_PASSWORD": self.password,
            "TW_PG_DATABASE": database,
        }


# --- probing -----------------------------------------------------------------------------------


def _probe(server: PgServer) -> str | None:
    """None when `server` accepts us and lets us create databases; else the reason it does not."""
    try:
        conn = server.connect()
    except psycopg2.Error as exc:
        return f"{server.user}@{server.host}:{server.port}: {str(exc).strip().splitlines()[0]}"
    try:
        with conn.cursor() as cur:
            cur.execute("select rolsuper or rolcreatedb from pg_roles where rolname = current_user")
            row = cur.fetchone()
    finally:
        conn.close()
    if not row or not row[0]:
        return f"{server.user}@{server.host}:{server.port}: role may not create databases"
    return None


def server_from_url(url: str) -> PgServer:
    """Parse a libpq URL (postgresql://, postgres://, or a SQLAlchemy postgresql+driver://)."""
    libpq_url = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    try:
        parts = parse_dsn(libpq_url)
    except psycopg2.ProgrammingError as exc:
        raise PostgresConfigError(f"{URL_ENV} is not a valid PostgreSQL URL: {exc}") from exc
    return PgServer(
        host=parts.get("host", LOCAL_HOST),
        port=int(parts.get("port", LOCAL_PORT)),
        user=parts.get("user", getpass.getuser()),
        password=parts.get("password", ""),
        origin="env",
    )


def find_running_server() -> tuple[PgServer | None, list[str]]:
    """The explicit URL or a local server on 5432; also every reason a candidate was rejected."""
    url = os.environ.get(URL_ENV)
    if url:
        server = server_from_url(url)
        reason = _probe(server)
        if reason:
            raise PostgresConfigError(f"{URL_ENV} is set but unusable: {reason}")
        return server, []
    reasons: list[str] = []
    users = dict.fromkeys(["postgres", getpass.getuser()])  # ordered, without duplicates
    for user in users:
        candidate = PgServer(LOCAL_HOST, LOCAL_PORT, user, origin="local")
        reason = _probe(candidate)
        if reason is None:
            return candidate, reasons
        reasons.append(reason)
    return None, reasons


# --- private cluster ---------------------------------------------------------------------------


def find_pg_bin_dir() -> Path | None:
    """Directory holding initdb and pg_ctl: PATH first, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    candidates = [p for p in candidates if (p / "initdb").exists() and (p / "pg_ctl").exists()]

    def major(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(candidates, key=major) if candidates else None


def free_port() -> int:
    # The port may be taken between here and pg_ctl; start() retries once on a fresh port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The account to run initdb/pg_ctl as: none needed unless we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailable(
            "running as root and there is no `postgres` OS user to own a private cluster"
        ) from exc


@dataclass
class PrivateCluster:
    """A throwaway (or, with `base_dir`, reusable) cluster owned by this process.

    Used as a context manager it is stopped, and its directory removed when it was temporary.
    """

    base_dir: Path | None = None
    port: int | None = None
    bin_dir: Path | None = None
    _temporary: bool = field(default=False, init=False)

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "socket"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "server.log"

    @property
    def server(self) -> PgServer:
        assert self.port is not None
        return PgServer(LOCAL_HOST, self.port, PRIVATE_SUPERUSER, origin="private")

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        account = _run_as()
        kwargs: dict[str, Any] = {}
        if account is not None:
            kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = env["LANG"] = "C.UTF-8"
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=self.base_dir,
            **kwargs,
        )

    def _prepare_dirs(self) -> None:
        assert self.base_dir is not None
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        account = _run_as()
        if account is not None:
            # The postgres account must own everything it writes; mkdtemp gives root-only 0700.
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, account.pw_uid, account.pw_gid)
            # Its parents must be traversable by that account too (pytest's tmp dirs are 0700).
            if self._run(["test", "-w", str(self.base_dir)]).returncode != 0:
                raise PostgresUnavailable(
                    f"the postgres OS user cannot write {self.base_dir}; "
                    "use a directory it can reach (for example under /tmp)"
                )

    def start(self) -> PgServer:
        self.bin_dir = self.bin_dir or find_pg_bin_dir()
        if self.bin_dir is None:
            raise PostgresUnavailable(
                "no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin "
                "(install the postgresql server package, or set " + URL_ENV + ")"
            )
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="tw_pg_"))
            self._temporary = True
        self._prepare_dirs()
        running_port = self._running_port()
        if running_port is not None:
            # A reusable cluster (CLI) that an earlier command left running: adopt it.
            self.port = running_port
            return self.server
        if not (self.data_dir / "PG_VERSION").exists():
            init = self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    PRIVATE_SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
            if init.returncode != 0:
                raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout}")
        fixed_port = self.port is not None
        for attempt in range(2):
            if not fixed_port:
                self.port = free_port()
            started = self._pg_ctl_start()
            if started.returncode == 0:
                return self.server
            if fixed_port or attempt == 1:
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise PostgresUnavailable(
                    f"pg_ctl start failed on port {self.port}: "
                    f"{started.stderr.strip() or started.stdout.strip()}\n{log[-2000:]}"
                )
        raise AssertionError("unreachable")

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        assert self.bin_dir is not None
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={LOCAL_HOST} "
            # A test server: durability is not needed, speed is.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        return self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ]
        )

    def _running_port(self) -> int | None:
        if not self.is_running():
            return None
        # postmaster.pid: line 4 is the port (documented layout, stable since PostgreSQL 9.1).
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def is_running(self) -> bool:
        if self.bin_dir is None or self.base_dir is None or not self.data_dir.exists():
            return False
        status = self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"])
        return status.returncode == 0

    def stop(self) -> None:
        if self.is_running():
            assert self.bin_dir is not None
            self._run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            )
        if self._temporary and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the one entry point -----------------------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def discover_server(
    force_private: bool | None = None, private_dir: Path | None = None
) -> Iterator[PgServer]:
    """Yield a usable server (see the module docstring for the order).

    The private cluster lives in a temporary directory and is stopped and removed when the block
    ends; with `private_dir` (the CLI passes $TW_HOME/postgres) it is kept there, left running,
    and adopted by the next call.

    Raises PostgresConfigError when TENANT_WAREHOUSE_PG_URL is set but unusable, and
    PostgresUnavailable (naming every candidate and why it failed) when nothing works.
    """
    if force_private is None:
        force_private = _truthy(os.environ.get(FORCE_PRIVATE_ENV))
    reasons: list[str] = []
    if not force_private:
        server, reasons = find_running_server()
        if server is not None:
            yield server
            return
    cluster = PrivateCluster(base_dir=private_dir)
    try:
        server = cluster.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as exc:
        tried = "; ".join([*reasons, f"private cluster: {exc}"])
        raise PostgresUnavailable(f"no PostgreSQL server available ({tried})") from exc
    try:
        yield server
    finally:
        if private_dir is None:
            cluster.stop()


# --- databases ---------------------------------------------------------------------------------


def unique_database_name(prefix: str = "tw") -> str:
    """prefix_pid_random, lowercase and within PostgreSQL's 63-byte identifier limit."""
    clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower()).strip("_") or "tw"
    suffix = f"_{os.getpid()}_{secrets.token_hex(3)}"
    return clean[: 63 - len(suffix)] + suffix


def create_database(server: PgServer, name: str) -> None:
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(server: PgServer, name: str) -> None:
    """Drop `name`, first terminating its sessions (a leaked dbt or dlt connection would block)."""
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
    finally:
        conn.close()
