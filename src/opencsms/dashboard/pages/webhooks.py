"""Webhooks (``/dashboard/webhooks``): the registered receivers and their deliveries.

Every operator sees the webhooks (URL, event types, state) with their latest
deliveries; one webhook's page (``/dashboard/webhooks/{id}``) pages through
its whole delivery log. Admins add a webhook (the signing secret is shown
once, in the answer, as the REST API does), remove one (after a second
click) and ping one, which answers with the delivery's outcome: the
receiver's status code or the error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Admin, Viewer
from opencsms.dashboard.templating import render
from opencsms.domain.model import Webhook
from opencsms.domain.webhooks import EVENT_TYPES, InvalidWebhook

router = APIRouter()

RECENT = 5
"""Deliveries shown per webhook on the list."""
PAGE_SIZE = 50
Context = Annotated[ApiContext, Depends(api_context)]
WebhookId = Annotated[int, Path(ge=1)]


async def _listing(ctx: ApiContext) -> dict[str, Any]:
    hooks = await ctx.services.webhooks.list()
    recent = {hook.id: await ctx.services.webhooks.deliveries(hook.id, RECENT) for hook in hooks}
    return {"webhooks": hooks, "recent": recent, "event_types": sorted(EVENT_TYPES)}


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(request: Request, operator: Viewer, ctx: Context) -> HTMLResponse:
    return render(request, "webhooks.html", await _listing(ctx), nav="webhooks")


async def _webhook(ctx: ApiContext, webhook_id: int) -> Webhook:
    webhook = await ctx.services.webhooks.get(webhook_id)
    if webhook is None:
        raise HTTPException(404, f"No webhook {webhook_id}.")
    return webhook


@router.get("/webhooks/{webhook_id}", response_class=HTMLResponse)
async def webhook_page(
    request: Request,
    operator: Viewer,
    ctx: Context,
    webhook_id: WebhookId,
    after: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """One webhook and its delivery log, newest first, paged."""
    webhook = await _webhook(ctx, webhook_id)
    deliveries = await ctx.services.webhooks.deliveries(webhook_id, PAGE_SIZE + 1, after)
    context = {
        "webhook": webhook,
        "deliveries": deliveries[:PAGE_SIZE],
        "after": after,
        "next_cursor": deliveries[PAGE_SIZE - 1].id if len(deliveries) > PAGE_SIZE else None,
    }
    return render(request, "webhooks_detail.html", context, nav="webhooks")


@router.post("/webhooks", response_class=HTMLResponse)
async def add_webhook(
    request: Request,
    operator: Admin,
    ctx: Context,
    url: Annotated[str, Form()] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """Register a webhook; the answer shows its secret, once, and the new list."""
    url = url.strip()
    if not url:
        raise HTTPException(422, "URL: enter the receiver's http(s) URL.")
    try:
        webhook = await ctx.services.webhooks.register(url, None, event_types or [])
    except InvalidWebhook as exc:
        raise HTTPException(422, f"Not added: {exc}.") from None
    context = {"created": webhook, **await _listing(ctx)}
    template = "webhooks_created.html" if request.headers.get("hx-request") == "true" else None
    # without htmx, the whole page, with the secret on it
    return render(request, template or "webhooks.html", context, nav="webhooks", status_code=201)


@router.post("/webhooks/{webhook_id}/delete", response_class=HTMLResponse)
async def delete_webhook(
    request: Request, operator: Admin, ctx: Context, webhook_id: WebhookId
) -> Response:
    """Remove the webhook (its pending deliveries fail; the log stays)."""
    if not await ctx.services.webhooks.remove(webhook_id):
        raise HTTPException(404, f"No webhook {webhook_id}.")
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/dashboard/webhooks", status_code=303)
    return render(request, "webhooks_list.html", await _listing(ctx), nav="webhooks")


@router.post("/webhooks/{webhook_id}/ping", response_class=HTMLResponse)
async def ping_webhook(
    request: Request, operator: Admin, ctx: Context, webhook_id: WebhookId
) -> HTMLResponse:
    """Send a ``webhook.ping`` now; answer with how the receiver took it."""
    delivery = await ctx.services.webhooks.ping(webhook_id)
    if delivery is None:
        raise HTTPException(404, f"No webhook {webhook_id}.")
    return render(request, "webhooks_ping.html", {"delivery": delivery}, nav="webhooks")
