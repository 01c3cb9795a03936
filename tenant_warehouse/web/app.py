"""The dashboard application: routes, sessions and the rules that keep tenants apart.

Who is asking is known only from the server-side session (see security.py). Tenant pages call
the data layer with the session's tenant; they take no query parameters at all, and every path
parameter (a statement month, an export format or file) is looked up within that tenant's data.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tenant_warehouse.exports import ExportError
from tenant_warehouse.monitoring.store import MonitoringUnavailable
from tenant_warehouse.settings import Settings
from tenant_warehouse.tenants.errors import TenantAccessError, TenantError
from tenant_warehouse.web import charts, downloads, pages
from tenant_warehouse.web.security import (
    SECURITY_HEADERS,
    SESSION_SECONDS,
    LoginThrottle,
    SessionStore,
    SessionUser,
    same_token,
    session_secret,
)

log = logging.getLogger("tenant_warehouse.web")
HERE = Path(__file__).parent
SESSION_COOKIE = "tw_dashboard"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
SUPPORTED_WAREHOUSES = ("duckdb", "postgres")
FORBIDDEN = {
    "tenant": "this page is a tenant's; operators use /operator",
    "operator": "this page is for operators",
}
# Failures a user can act on (or wait out), and what the page says; the details go to the log.
UNAVAILABLE: tuple[tuple[type[Exception], str], ...] = (
    (TenantError, "Your access is not set up on this warehouse yet; ask the operator."),
    (TenantAccessError, "The warehouse cannot be read right now (a build may hold it); "
                        "try again in a minute."),
    (MonitoringUnavailable, "The warehouse cannot be read right now (a build may hold it); "
                            "try again in a minute."),
    (ExportError, "Your export could not be written; the operator has the details."),
)


class SecurityHeaders:
    """Adds the security headers to every response; no caching of anything but static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings, warehouse: str = "duckdb", secure_cookie: bool = False
) -> Starlette:
    """The ASGI app serving `warehouse`'s dashboards (DuckDB file or PostgreSQL)."""
    if warehouse not in SUPPORTED_WAREHOUSES:
        raise ValueError(
            f"the dashboard reads a DuckDB or PostgreSQL warehouse, not {warehouse}"
        )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(money=pages.format_money, rate=pages.format_rate)
    sessions = SessionStore()
    throttle = LoginThrottle()

    def current_user(request: Request) -> SessionUser | None:
        return sessions.get(request.session.get("sid"))

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(
            request, name, {"user": current_user(request), **context}, status_code=status
        )

    def guarded(
        kind: str, handler: Callable[[Request, SessionUser], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """The route for logged-in users of `kind` (tenant or operator) only."""

        async def endpoint(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                return _login_redirect(request)
            if user.kind != kind or (kind == "tenant" and not user.tenant_id):
                raise HTTPException(403, FORBIDDEN[kind])
            if request.query_params:
                # The tenant is the session's: a page that would take `?tenant_id=` says so
                # instead of ignoring it, so nobody believes a parameter changed what they see.
                raise HTTPException(
                    400, "this page takes no parameters: the tenant comes from your login"
                )
            if not await run_in_threadpool(pages.login_is_registered, settings, user.login):
                sessions.close_login(user.login)  # revoked since: every session of it ends
                request.session.clear()
                return _login_redirect(request)
            return await handler(request, user)

        return endpoint

    def tenant_page(
        handler: Callable[[Request, SessionUser], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        return guarded("tenant", handler)

    def operator_page(
        handler: Callable[[Request, SessionUser], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        return guarded("operator", handler)

    # --- login and logout ---------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        if current_user(request) is not None:
            return RedirectResponse("/", status_code=303)
        return _login_page(request, render)

    async def login(request: Request) -> Response:
        form = await request.form()
        if not same_token(request.session.get("login_csrf"), form.get("csrf_token")):
            return _login_page(request, render, "Your login form expired; please try again.", 400)
        login_name = str(form.get("login") or "").strip()
        password = str(form.get("password") or "")
        address = request.client.host if request.client else "unknown"
        wait = throttle.retry_after(address, login_name)
        if wait:
            return _login_page(
                request, render, f"Too many failed logins; try again in {wait} s.", 429
            )
        principal = None
        if login_name and password:
            principal = await run_in_threadpool(pages.verify, settings, login_name, password)
        if principal is None:
            throttle.failed(address, login_name)
            log.warning("refused login %r from %s", login_name, address)
            return _login_page(request, render, "Wrong login or password.", 401)
        throttle.succeeded(login_name)
        sessions.close(request.session.get("sid"))
        session_id, _ = sessions.open(principal.login, principal.kind, principal.tenant_id)
        request.session.clear()  # a new session: nothing from before the login survives
        request.session["sid"] = session_id
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        user = current_user(request)
        form = await request.form()
        if user is not None and not same_token(user.csrf_token, form.get("csrf_token")):
            raise HTTPException(400, "logout needs the form's token")
        sessions.close(request.session.get("sid"))
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return _login_redirect(request)
        return RedirectResponse("/operator" if user.kind == "operator" else "/dashboard", 303)

    # --- tenant pages -------------------------------------------------------------------------

    async def dashboard(request: Request, user: SessionUser) -> Response:
        # Two independent reads (each its own connection through the tenant door), side by side.
        board, statements = await asyncio.gather(
            run_in_threadpool(pages.load_tenant_dashboard, settings, warehouse, user.tenant_id),
            run_in_threadpool(pages.statement_lines, settings, warehouse, user.tenant_id),
        )
        return render(
            request, "tenant.html", board=board, figures=pages.tenant_figures(board),
            statements=statements, formats=downloads.FORMATS,
        )  # fmt: skip

    async def dashboard_api(request: Request, user: SessionUser) -> Response:
        board = await run_in_threadpool(
            pages.load_tenant_dashboard, settings, warehouse, user.tenant_id
        )
        return JSONResponse(_plain(board))

    async def statements_api(request: Request, user: SessionUser) -> Response:
        lines = await run_in_threadpool(pages.statement_lines, settings, warehouse, user.tenant_id)
        return JSONResponse([_plain(line) for line in lines])

    async def statement(request: Request, user: SessionUser) -> Response:
        month = request.path_params.get("month")
        if month is not None and not MONTH.match(month):
            raise HTTPException(404, "no such statement: months are written YYYY-MM")
        document = await run_in_threadpool(
            pages.statement_document, settings, warehouse, user.tenant_id, month
        )
        if document is None:
            raise HTTPException(404, f"no statement for {month}" if month else "no billed month yet")
        return HTMLResponse(document)

    async def export_files(request: Request, user: SessionUser) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in downloads.FORMATS:
            raise HTTPException(404, f"no such export format ({', '.join(downloads.FORMATS)})")
        files = await run_in_threadpool(
            downloads.tenant_export, settings, warehouse, user.tenant_id, fmt
        )
        return render(request, "downloads.html", fmt=fmt, files=files, formats=downloads.FORMATS)

    async def export_file(request: Request, user: SessionUser) -> Response:
        fmt, name = request.path_params["fmt"], request.path_params["name"]
        if fmt not in downloads.FORMATS:
            raise HTTPException(404, f"no such export format ({', '.join(downloads.FORMATS)})")
        files = await run_in_threadpool(
            downloads.tenant_export, settings, warehouse, user.tenant_id, fmt
        )
        found = downloads.find_file(files, name)
        if found is None:
            raise HTTPException(404, f"your {fmt} export has no such file")
        return FileResponse(found, media_type=downloads.media_type(found), filename=found.name)

    # --- operator pages -----------------------------------------------------------------------

    async def operator(request: Request, user: SessionUser) -> Response:
        board = await run_in_threadpool(pages.load_operator_dashboard, settings, warehouse)
        return render(
            request, "operator.html", board=board, figures=pages.operator_figures(board)
        )

    async def operator_api(request: Request, user: SessionUser) -> Response:
        board = await run_in_threadpool(pages.load_operator_dashboard, settings, warehouse)
        return JSONResponse(_plain(board))

    # --- plumbing -----------------------------------------------------------------------------

    async def plotly_js(request: Request) -> Response:
        return FileResponse(charts.plotly_js_path(), media_type="text/javascript")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return render(request, "error.html", exc.status_code, message=exc.detail)

    async def unavailable(request: Request, exc: Exception) -> Response:
        # Expected failures: one line in the log, a message the user can act on, no traceback.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        message = next(text for kind, text in UNAVAILABLE if isinstance(exc, kind))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=503)
        return render(request, "error.html", 503, message=message)

    async def server_error(request: Request, exc: Exception) -> Response:
        # The cause goes to the server log, never to the browser (it may name other tenants'
        # relations or the warehouse's paths).
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
        message = "The dashboard could not read the warehouse; the operator has the details."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=500)
        return HTMLResponse(templates.get_template("error.html").render(
            user=None, message=message, request=request,
        ), status_code=500)  # fmt: skip

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/dashboard", tenant_page(dashboard)),
        Route("/api/dashboard", tenant_page(dashboard_api)),
        Route("/api/statements", tenant_page(statements_api)),
        Route("/statements", tenant_page(statement)),
        Route("/statements/{month}", tenant_page(statement)),
        Route("/downloads/{fmt}", tenant_page(export_files)),
        Route("/downloads/{fmt}/{name}", tenant_page(export_file)),
        Route("/operator", operator_page(operator)),
        Route("/api/operator", operator_page(operator_api)),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        Route("/healthz", healthz),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware, secret_key=session_secret(settings), session_cookie=SESSION_COOKIE,
            max_age=SESSION_SECONDS, same_site="lax", https_only=secure_cookie,
        ),
    ]
    return Starlette(
        routes=routes, middleware=middleware,
        exception_handlers={
            HTTPException: http_error, Exception: server_error,
            **{kind: unavailable for kind, _ in UNAVAILABLE},
        },
    )  # fmt: skip


def _login_redirect(request: Request) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "log in first"}, status_code=401)
    return RedirectResponse("/login", status_code=303)


def _login_page(
    request: Request, render: Callable[..., Response], error: str | None = None, status: int = 200
) -> Response:
    token = request.session.get("login_csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["login_csrf"] = token
    return render(request, "login.html", status, csrf_token=token, error=error)


def _plain(value: Any) -> Any:
    """Dataclasses, dates and decimals as JSON-ready values."""
    import datetime as dt
    import decimal

    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Path):
        return value.name
    return value
