"""The :class:`~opencsms.domain.ports.WebhookRepository` over SQLAlchemy Core.

Webhooks and their delivery log. A delivery is a row, not a task in memory:
whatever is pending when the server stops is found by ``due_deliveries`` after
the restart and sent then.

Choices the port leaves open:

* ``remove`` deletes the webhook but keeps its delivery log (the audit trail of
  what was sent where) and marks its still pending deliveries failed with the
  error "webhook removed", so they are never attempted against a gone hook.
* ``due_deliveries`` skips deliveries of inactive webhooks; "oldest first" is by
  ``next_attempt_at``, then id (retries do not overtake each other).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, or_, select, update

from opencsms.domain.model import DeliveryState, Webhook, WebhookDelivery
from opencsms.storage.pending import Executor
from opencsms.storage.tables import webhook_deliveries, webhooks


def webhook_from_row(row: Row[Any]) -> Webhook:
    m = row._mapping
    return Webhook(
        id=m["id"],
        url=m["url"],
        secret=m["secret"],
        event_types=tuple(m["event_types"]),
        created_at=m["created_at"],
        active=m["active"],
    )


def delivery_from_row(row: Row[Any]) -> WebhookDelivery:
    m = row._mapping
    return WebhookDelivery(
        id=m["id"],
        webhook_id=m["webhook_id"],
        event_id=m["event_id"],
        event_type=m["event_type"],
        payload=m["payload"],
        state=DeliveryState(m["state"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        created_at=m["created_at"],
        last_status_code=m["last_status_code"],
        last_error=m["last_error"],
        delivered_at=m["delivered_at"],
    )


class SqlWebhookRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(
        self, url: str, secret: str, event_types: Sequence[str], created_at: datetime
    ) -> Webhook:
        row = (
            await self._conn.execute(
                insert(webhooks)
                .values(
                    url=url,
                    secret=secret,
                    event_types=list(event_types),
                    created_at=created_at,
                    active=True,
                )
                .returning(webhooks)
            )
        ).one()
        return webhook_from_row(row)

    async def get(self, webhook_id: int) -> Webhook | None:
        row = (
            await self._conn.execute(select(webhooks).where(webhooks.c.id == webhook_id))
        ).first()
        return None if row is None else webhook_from_row(row)

    async def list(self) -> builtins.list[Webhook]:
        result = await self._conn.execute(select(webhooks).order_by(webhooks.c.id))
        return [webhook_from_row(row) for row in result]

    async def remove(self, webhook_id: int) -> bool:
        d = webhook_deliveries.c
        await self._conn.execute(
            update(webhook_deliveries)
            .where(d.webhook_id == webhook_id, d.state == DeliveryState.PENDING.value)
            .values(
                state=DeliveryState.FAILED.value, next_attempt_at=None, last_error="webhook removed"
            )
        )
        result = await self._conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
        return bool(result.rowcount > 0)

    async def add_delivery(
        self,
        webhook_id: int,
        event_id: str,
        event_type: str,
        payload: dict[str, object],
        created_at: datetime,
    ) -> WebhookDelivery:
        row = (
            await self._conn.execute(
                insert(webhook_deliveries)
                .values(
                    webhook_id=webhook_id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=payload,
                    state=DeliveryState.PENDING.value,
                    attempts=0,
                    next_attempt_at=created_at,
                    created_at=created_at,
                )
                .returning(webhook_deliveries)
            )
        ).one()
        return delivery_from_row(row)

    async def due_deliveries(
        self, now: datetime, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        d = webhook_deliveries.c
        result = await self._conn.execute(
            select(webhook_deliveries)
            .join(webhooks, webhooks.c.id == d.webhook_id)
            .where(
                d.state == DeliveryState.PENDING.value,
                d.next_attempt_at <= now,
                webhooks.c.active.is_(True),
            )
            .order_by(d.next_attempt_at, d.id)
            .limit(limit)
        )
        return [delivery_from_row(row) for row in result]

    async def record_attempt(
        self,
        delivery_id: int,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: datetime | None,
        status_code: int | None,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        await self._conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                state=state.value,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_status_code=status_code,
                last_error=error,
                delivered_at=delivered_at,
            )
        )

    async def deliveries(
        self, webhook_id: int | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[WebhookDelivery]:
        d = webhook_deliveries.c
        query = select(webhook_deliveries).order_by(d.created_at.desc(), d.id.desc()).limit(limit)
        if webhook_id is not None:
            query = query.where(d.webhook_id == webhook_id)
        if before_id is not None:  # the page after that delivery, in this order
            cursor = select(d.created_at).where(d.id == before_id).scalar_subquery()
            query = query.where(
                or_(d.created_at < cursor, and_(d.created_at == cursor, d.id < before_id))
            )
        result = await self._conn.execute(query)
        return [delivery_from_row(row) for row in result]


__all__ = ["SqlWebhookRepository", "delivery_from_row", "webhook_from_row"]
