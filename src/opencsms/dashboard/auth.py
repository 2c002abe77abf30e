"""Who is looking at the dashboard: cookie sessions, roles and CSRF checks.

An operator logs in with a name and password
(:class:`opencsms.domain.operators.OperatorService`); the session token goes
to the browser in an ``HttpOnly``, ``SameSite=Lax`` cookie scoped to
``/dashboard`` (``Secure`` over HTTPS), and only its hash is stored, so a
stolen database holds no usable session.

Pages declare what they need, as the API's routes do::

    @router.get("/stations")
    async def fleet(request: Request, operator: Viewer): ...     # any operator

    @router.post("/stations/{id}/commands/{action}")
    async def send(request: Request, operator: Admin): ...       # admin + CSRF

Every state-changing request (POST, PUT, PATCH, DELETE) must carry the
session's CSRF token, as the form field ``csrf_token`` or the
``X-CSRF-Token`` header (htmx sends it from ``hx-headers`` on ``<body>``).
SameSite already stops most cross-site posts; the token also covers older
browsers and same-site subdomains. The login form, which has no session
yet, uses a double-submit cookie instead (against login CSRF).

Without a valid session a page request is redirected to the login page
(303, with ``next``); an htmx request gets 401 with ``HX-Redirect`` so the
whole page goes there rather than a fragment being swapped for the form.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from opencsms.api.auth import Principal
from opencsms.api.context import ApiContext, api_context
from opencsms.domain.model import ApiRole, OperatorSession

SESSION_COOKIE = "opencsms_session"
LOGIN_CSRF_COOKIE = "opencsms_login_csrf"
COOKIE_PATH = "/dashboard"
LOGIN_PATH = "/dashboard/login"
HOME_PATH = "/dashboard/"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No valid session: the exception handler sends the browser to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


async def _session(
    request: Request, ctx: Annotated[ApiContext, Depends(api_context)]
) -> OperatorSession:
    token = request.cookies.get(SESSION_COOKIE)
    session = await ctx.services.operators.session(token) if token else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.operator = session
    if request.method in _UNSAFE:
        await _check_csrf(request, session.csrf_token)
    return session


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get("x-csrf-token")
    form = None
    if sent is None:
        # parsed once: Starlette caches it for the route, whose Form() parameters close it
        form = await request.form()
        field = form.get("csrf_token")
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        if form is not None:
            await form.close()  # the route never runs: its uploads' temporary files go now
        raise HTTPException(403, "the form has expired or did not come from this dashboard; reload")


async def _admin(session: Annotated[OperatorSession, Depends(_session)]) -> OperatorSession:
    if session.role is not ApiRole.ADMIN:
        raise HTTPException(403, f"operator {session.operator!r} is read-only")
    return session


Viewer = Annotated[OperatorSession, Depends(_session)]
"""Any logged-in operator (admin or read-only); unsafe methods also need the CSRF token."""

Admin = Annotated[OperatorSession, Depends(_admin)]
"""An admin operator (and, for unsafe methods, the CSRF token)."""


def principal(session: OperatorSession) -> Principal:
    """The caller as the domain's audit records name it: ``operator:<name>``."""
    return Principal(
        key_id=session.id[:16], name=session.operator, role=session.role, kind="operator"
    )


def safe_next(target: str | None) -> str:
    """Where to go after login: only a dashboard path of this site (no open redirect)."""
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        if "\\" not in target and "\r" not in target and "\n" not in target:
            return target
    return HOME_PATH


def login_redirect(request: Request, next_url: str) -> Response:
    location = f"{LOGIN_PATH}?next={quote(next_url, safe='/')}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
