"""Log in and out (``/dashboard/login``, ``/dashboard/logout``).

The login form carries a random token that must equal the one in a
short-lived cookie set with the form (double submit): another site cannot
read the cookie, so it cannot post a form that logs the browser in as the
attacker's account (login CSRF). A wrong name or password gets one message
for both, so the form does not tell which names exist; the service throttles
repeated failures and records them as security events.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import (
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    Viewer,
    clear_session_cookie,
    safe_next,
    set_session_cookie,
)
from opencsms.dashboard.templating import render

router = APIRouter()

LOGIN_FORM_TTL_S = 3600


def _form(request: Request, next_url: str, error: str | None, status_code: int) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"login_token": token, "next": next_url, "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_FORM_TTL_S,
        path=LOGIN_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _form(request, safe_next(next), None, 200)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    ctx: Annotated[ApiContext, Depends(api_context)],
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_token.encode()):
        return _form(request, target, "The form had expired. Please try again.", 403)
    if not username or not password:
        return _form(request, target, "Enter your name and password.", 422)
    remote = request.client.host if request.client else None
    logged_in = await ctx.services.operators.login(username.strip(), password, remote)
    if logged_in is None:
        return _form(request, target, "Wrong name or password.", 401)
    response = RedirectResponse(target, status_code=303)
    ttl = logged_in.session.expires_at - logged_in.session.created_at
    set_session_cookie(request, response, logged_in.token, int(ttl.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> Response:
    await ctx.services.operators.logout(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response)
    return response
