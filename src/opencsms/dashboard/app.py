"""Mount the dashboard on the API's application, under ``/dashboard``.

The dashboard is served by the API process: the pages read the same
services the REST routes do (``request.app.state.context``) and never the
stations' sockets. Its own concerns live here: the static files (vendored
htmx and uPlot, our CSS and JS), the login redirect, HTML error pages, and
the security headers of every dashboard response.

Content-Security-Policy allows scripts and styles from this origin only, so
an id tag or vendor string that slipped past autoescaping still could not
run. htmx's indicator styles are switched off (``htmx-config`` meta) because
it would inject an inline ``<style>``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opencsms.dashboard.auth import HOME_PATH, LoginRequired, login_redirect
from opencsms.dashboard.live import router as live_router
from opencsms.dashboard.pages import (
    fleet,
    jobs,
    login,
    security,
    sessions,
    smart_charging,
    station,
    webhooks,
)
from opencsms.dashboard.templating import STATIC, render

PREFIX = "/dashboard"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def mount_dashboard(app: FastAPI) -> None:
    for module in (login, fleet, station, sessions, smart_charging, jobs, security, webhooks):
        app.include_router(module.router, prefix=PREFIX, include_in_schema=False)
    app.include_router(live_router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")

    @app.get(PREFIX, include_in_schema=False)
    async def dashboard_root() -> Response:
        return RedirectResponse(HOME_PATH, status_code=308)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request, exc.next_url)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Dashboard pages get an HTML error page (a fragment for htmx); the API keeps JSON."""
        if not is_dashboard(request):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
        return error_page(request, exc.status_code, detail)

    app.add_middleware(DashboardHeaders)


def is_dashboard(request: Request) -> bool:
    return request.url.path.startswith(PREFIX + "/")


def error_page(request: Request, status_code: int, detail: str) -> Response:
    """An error as the dashboard shows it: a page, or a fragment for htmx."""
    template = "_error.html" if request.headers.get("hx-request") == "true" else "error.html"
    return render(
        request, template, {"detail": detail, "status": status_code}, status_code=status_code
    )


class DashboardHeaders:
    """Adds :data:`SECURITY_HEADERS` (and ``Cache-Control: no-store`` on pages:
    they show live state and an operator's data) to every dashboard response.
    Plain ASGI rather than ``@app.middleware``: that wraps streaming responses,
    and the event streams must pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PREFIX):
            await self._app(scope, receive, send)
            return
        static = path.startswith(f"{PREFIX}/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not static and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self._app(scope, receive, send_with_headers)
