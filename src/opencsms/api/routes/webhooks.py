"""Webhooks (admin only): register, list, remove, the delivery log, a test ping.

The secret signs every delivery (see :mod:`opencsms.domain.webhooks` for the
headers and how a receiver verifies them). It is shown once, in the answer to
the POST that created the webhook, as an API key is; listing webhooks does not
repeat it. Deliveries are the audit trail: attempts, last HTTP status or
error, next attempt, final state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.domain.model import DeliveryState, Webhook, WebhookDelivery
from opencsms.domain.webhooks import EVENT_TYPES, InvalidWebhook

router = APIRouter(tags=["webhooks"])

Admin = Annotated[Principal, Depends(require_admin)]
Context = Annotated[ApiContext, Depends(api_context)]
WebhookId = Annotated[int, Path(ge=1)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such webhook"}
}


class WebhookCreate(BaseModel):
    url: str = Field(examples=["https://integrator.example/opencsms"], max_length=2000)
    secret: str | None = Field(
        None, min_length=16, max_length=255, description="generated when left out"
    )
    event_types: list[str] = Field(
        default_factory=list,
        description=f"empty: every event; else some of {sorted(EVENT_TYPES)}",
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    created_at: datetime
    active: bool

    @classmethod
    def from_record(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id,
            url=webhook.url,
            event_types=list(webhook.event_types),
            created_at=webhook.created_at,
            active=webhook.active,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="shown only here: keep it to verify signatures")


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    payload: dict[str, object]

    @classmethod
    def from_record(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            webhook_id=delivery.webhook_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            state=delivery.state,
            attempts=delivery.attempts,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            payload=delivery.payload,
        )


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    responses={422: {"model": Problem, "description": "bad URL, secret or event type"}},
)
async def create_webhook(body: WebhookCreate, ctx: Context, _: Admin) -> WebhookCreated:
    try:
        webhook = await ctx.services.webhooks.register(body.url, body.secret, body.event_types)
    except InvalidWebhook as exc:
        raise HTTPException(422, str(exc)) from None
    return WebhookCreated(**WebhookOut.from_record(webhook).model_dump(), secret=webhook.secret)


@router.get("/webhooks")
async def list_webhooks(ctx: Context, _: Admin) -> list[WebhookOut]:
    return [WebhookOut.from_record(w) for w in await ctx.services.webhooks.list()]


@router.get("/webhooks/{webhook_id}", responses=NOT_FOUND)
async def get_webhook(webhook_id: WebhookId, ctx: Context, _: Admin) -> WebhookOut:
    webhook = await ctx.services.webhooks.get(webhook_id)
    if webhook is None:
        raise HTTPException(404, f"no webhook {webhook_id}")
    return WebhookOut.from_record(webhook)


@router.delete(
    "/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def delete_webhook(webhook_id: WebhookId, ctx: Context, _: Admin) -> Response:
    """Remove the webhook; its pending deliveries fail, the log stays."""
    if not await ctx.services.webhooks.remove(webhook_id):
        raise HTTPException(404, f"no webhook {webhook_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", responses=NOT_FOUND)
async def list_deliveries(
    webhook_id: WebhookId,
    ctx: Context,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """The delivery log of one webhook, newest first (kept after the webhook is removed)."""
    deliveries = await ctx.services.webhooks.deliveries(webhook_id, limit)
    if not deliveries and await ctx.services.webhooks.get(webhook_id) is None:
        raise HTTPException(404, f"no webhook {webhook_id}")
    return [DeliveryOut.from_record(d) for d in deliveries]


@router.post("/webhooks/{webhook_id}/ping", responses=NOT_FOUND)
async def ping_webhook(webhook_id: WebhookId, ctx: Context, _: Admin) -> DeliveryOut:
    """Send a ``webhook.ping`` now and answer with its delivery record (the
    receiver's status or the error); a failed ping is retried like any delivery."""
    delivery = await ctx.services.webhooks.ping(webhook_id)
    if delivery is None:
        raise HTTPException(404, f"no webhook {webhook_id}")
    return DeliveryOut.from_record(delivery)
