"""The dashboard's Jinja2 environment: templates, filters, and ``render``.

Templates live in ``dashboard/templates`` and are packaged with the code (no
build step). Autoescaping is on for every template: station ids, id tags and
vendor strings come from chargers and must never become markup.

Every page gets, besides what its route passes: ``operator`` (the logged-in
:class:`OperatorSession`, or None on the login page), ``csrf_token`` (for
forms and htmx's ``X-CSRF-Token`` header), ``is_admin`` and ``nav`` (the
current section, for ``aria-current``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from opencsms.domain.model import ApiRole, OperatorSession
from opencsms.domain.webhooks import EVENT_TYPES

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _kw(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f} kW"


def _kwh(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f} kWh"


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _when(value: datetime | None) -> str:
    """UTC, to the second: operators compare it with station logs, which are UTC."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, coarse ("42 s ago", "5 min ago", "3 h ago", "2 d ago")."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds // 86400)} d ago"


def _duration(value: timedelta | float | None) -> str:
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def _redacted_url(url: str) -> str:
    """A URL without its user info, query and fragment: receivers often carry a
    token there, and read-only operators see webhooks but not their secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    hidden = " (query hidden)" if parts.query or parts.username else ""
    return urlunsplit((parts.scheme, host, parts.path, "", "")) + hidden


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt variable fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        kw=_kw,
        kwh=_kwh,
        number=_number,
        when=_when,
        ago=_ago,
        duration=_duration,
        redacted_url=_redacted_url,
    )
    return env


templates = Jinja2Templates(env=_environment())
templates.env.globals["event_types"] = " ".join(sorted(EVENT_TYPES))
"""On <body data-event-types>: the SSE event names dashboard.js listens to."""


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    nav: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``name`` with the common page context (see the module docstring)."""
    operator: OperatorSession | None = getattr(request.state, "operator", None)
    page: dict[str, Any] = {
        "operator": operator,
        "csrf_token": operator.csrf_token if operator is not None else "",
        "is_admin": operator is not None and operator.role is ApiRole.ADMIN,
        "nav": nav,
    }
    page.update(context or {})
    return templates.TemplateResponse(request, name, page, status_code=status_code, headers=headers)
