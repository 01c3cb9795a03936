"""Run the dashboard with uvicorn (`warehouse serve`)."""

from __future__ import annotations

import ipaddress
import logging
import socket

from rich.console import Console

from tenant_warehouse.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
EXIT_USAGE = 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def startup_problem(settings: Settings, warehouse: str, host: str, port: int) -> str | None:
    """Why the dashboard cannot start as asked (one line), or None."""
    from tenant_warehouse.web.app import SUPPORTED_WAREHOUSES

    if warehouse not in SUPPORTED_WAREHOUSES:
        return (f"--warehouse {warehouse}: the dashboard reads a DuckDB or PostgreSQL warehouse "
                f"(on BigQuery, point a BI tool at the marts)")  # fmt: skip
    if not 0 < port < 65536:
        return f"--port {port}: not a TCP port (1-65535)"
    if warehouse == "duckdb" and not settings.duckdb_path.exists():
        return (f"duckdb warehouse {settings.duckdb_path} does not exist yet "
                "(run `warehouse demo` or `warehouse run` first, or set TW_DUCKDB_PATH)")  # fmt: skip
    if warehouse == "postgres":
        problem = _postgres_problem()
        if problem:
            return problem
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _postgres_problem() -> str | None:
    import psycopg2

    from tenant_warehouse.warehouse_sql import postgres_dsn

    try:
        psycopg2.connect(postgres_dsn(), connect_timeout=5).close()
    except psycopg2.Error as exc:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        return f"postgres warehouse (TW_PG_* variables): cannot connect: {cause}"
    return None


def serve_command(
    settings: Settings, warehouse: str, host: str, port: int, secure_cookie: bool,
    console: Console,
) -> int:  # fmt: skip
    """`warehouse serve`: checks, then serves until interrupted; 2 on a usage mistake."""
    import uvicorn

    from tenant_warehouse.tenants.errors import TenantError
    from tenant_warehouse.web.app import create_app
    from tenant_warehouse.web.security import DashboardConfigError

    problem = startup_problem(settings, warehouse, host, port)
    if problem is None:
        try:
            app = create_app(settings, warehouse, secure_cookie=secure_cookie)
        except (DashboardConfigError, TenantError, OSError) as exc:
            problem = str(exc)
    if problem is not None:
        console.print(f"[red]serve:[/red] {problem}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    if not is_loopback(host) and not secure_cookie:
        console.print(
            f"[yellow]listening on {host}: put an HTTPS proxy in front and pass --secure-cookie, "
            "or passwords and session cookies travel in clear[/yellow]", soft_wrap=True,
        )  # fmt: skip
    console.print(f"dashboard on [bold]http://{host}:{port}/[/bold] ({warehouse}); Ctrl-C stops it",
                  highlight=False)  # fmt: skip
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        app, host=host, port=port, log_level="info", server_header=False,
        proxy_headers=True, forwarded_allow_ips="127.0.0.1",
    )  # fmt: skip
    return 0
