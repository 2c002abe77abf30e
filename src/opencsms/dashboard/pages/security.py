"""Security (``/dashboard/security``): the security event log, API keys, operators.

Every operator sees the event log (logins, failed logins of operators and
stations, account changes), filtered by kind and paged by id, newest first;
it refreshes itself on ``security.*`` events. The API keys and the operators
are an admin's business: read-only operators neither see them nor may act on
them (403). Revoking a key or disabling an operator takes a second click (the
button opens a confirm form), is CSRF-checked like every post, and lands in
the log with the operator who did it. An admin cannot disable themself: the
last admin would lock everyone out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Admin, Viewer
from opencsms.dashboard.templating import render
from opencsms.domain.model import ApiRole
from opencsms.domain.operators import UnknownOperator
from opencsms.domain.webhooks import EVENT_TYPES

router = APIRouter()

PAGE_SIZE = 50
KINDS = tuple(sorted(t.removeprefix("security.") for t in EVENT_TYPES if t.startswith("security.")))
"""The kinds offered in the filter (see :mod:`opencsms.domain.security_events`)."""

Context = Annotated[ApiContext, Depends(api_context)]
Kind = Annotated[str, Query(max_length=64)]
Cursor = Annotated[int | None, Query(ge=1)]


async def _events(ctx: ApiContext, kind: str, after: int | None) -> dict[str, Any]:
    events = await ctx.services.security.recent(PAGE_SIZE + 1, after, kind or None)
    page = events[:PAGE_SIZE]
    return {
        "events": page,
        "kind": kind,
        "kinds": KINDS,
        "after": after,
        "next_cursor": page[-1].id if len(events) > PAGE_SIZE else None,
    }


async def _accounts(ctx: ApiContext) -> dict[str, Any]:
    return {
        "keys": await ctx.services.api_keys.list(),
        "operators": await ctx.services.operators.list(),
    }


@router.get("/security", response_class=HTMLResponse)
async def security_page(
    request: Request, operator: Viewer, ctx: Context, kind: Kind = "", after: Cursor = None
) -> HTMLResponse:
    context: dict[str, Any] = {"log": await _events(ctx, kind.strip(), after)}
    admin = operator.role is ApiRole.ADMIN
    context.update(await _accounts(ctx) if admin else {"keys": [], "operators": []})
    return render(request, "security.html", context, nav="security")


@router.get("/security/events", response_class=HTMLResponse)
async def events_fragment(
    request: Request, operator: Viewer, ctx: Context, kind: Kind = "", after: Cursor = None
) -> HTMLResponse:
    """The event table alone: what the live refresh swaps in."""
    log = await _events(ctx, kind.strip(), after)
    return render(request, "security_events.html", {"log": log}, nav="security")


def _done(request: Request, fragment: HTMLResponse) -> Response:
    """htmx gets the fragment; a plain form post goes back to the page."""
    if request.headers.get("hx-request") == "true":
        return fragment
    return RedirectResponse("/dashboard/security", status_code=303)


@router.post("/security/keys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(
    request: Request,
    operator: Admin,
    ctx: Context,
    key_id: Annotated[str, Path(max_length=64)],
) -> Response:
    key = await ctx.services.api_keys.get(key_id)
    if key is None:
        raise HTTPException(404, f"No API key {key_id!r}.")
    remote = request.client.host if request.client else None
    await ctx.services.api_keys.revoke(key_id, f"operator {operator.operator}", remote)
    accounts = await _accounts(ctx)
    fragment = render(request, "security_keys.html", accounts, nav="security")
    return _done(request, fragment)


@router.post("/security/operators/{name}/disable", response_class=HTMLResponse)
async def disable_operator(
    request: Request,
    operator: Admin,
    ctx: Context,
    name: Annotated[str, Path(max_length=64)],
) -> Response:
    if name == operator.operator:
        raise HTTPException(422, "You cannot disable your own account.")
    target = await ctx.services.operators.get(name)
    if target is None:
        raise HTTPException(404, f"No operator {name!r}.")
    if target.disabled_at is None:
        try:
            await ctx.services.operators.disable(name)
        except UnknownOperator:
            raise HTTPException(404, f"No operator {name!r}.") from None
    accounts = await _accounts(ctx)
    fragment = render(request, "security_operators.html", accounts, nav="security")
    return _done(request, fragment)
