"""Webhooks: domain events POSTed to integrators, signed, retried, logged.

Why deliveries are rows: an event is written as one ``webhook_deliveries`` row
per matching webhook before anything is sent, and a sender sweeps the due rows.
A receiver that is down, or a server restart, loses nothing: the rows are still
pending and the next sweep (after the restart, the first one) sends them. Every
attempt updates its row (attempt count, last HTTP status or error, next
attempt), which is the delivery log the API shows.

What a receiver gets and how it verifies the signature:
:mod:`opencsms.domain.webhook_signing`. Any 2xx answer counts as delivered;
anything else (other status, timeout, refused connection; redirects are not
followed) is retried after :data:`DEFAULT_BACKOFF` (10 s, 30 s, 2 min, 10 min,
1 h), each delay scaled by a random jitter of +-20 % so that a fleet of
failures does not retry in lockstep, and marked ``failed`` after the last.

The HTTP client is injected (a :class:`Sender`; the composition root passes
:class:`opencsms.webhook_sender.HttpxSender`), as are the clock and the
jitter: the domain knows no HTTP library, and tests drive retries with a fake
clock and no sleeping, against a real HTTP receiver.

Limits: events reach the dispatcher through a bounded subscription; if writing
rows falls that far behind, the oldest events are dropped and logged. One node
sweeps; with several nodes on one database each would send every due row (the
cluster work adds a lease).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import Event, EventBus, Subscription
from opencsms.domain.model import DeliveryState, Webhook, WebhookDelivery
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.webhook_signing import sign, verify_signature

log = structlog.get_logger("opencsms.webhooks")

__all__ = ["EVENT_TYPES", "InvalidWebhook", "Sender", "WebhookService", "sign", "verify_signature"]

DEFAULT_BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
"""Delay before each retry; after the last one fails the delivery is ``failed``."""

EVENT_TYPES = frozenset(
    {
        "station.connected",
        "station.disconnected",
        "station.booted",
        "connector.status",
        "transaction.started",
        "transaction.stopped",
        "meter.values",
        "command.finished",
        "provisioning.changed",
        "reservation.changed",
        "firmware.status",
        "diagnostics.status",
        "security.station.login_failed",
        "security.operator.login",
        "security.operator.login_failed",
        "security.operator.logout",
        "security.operator.created",
        "security.operator.password_changed",
        "security.operator.disabled",
        "security.operator.enabled",
        "security.api_key.created",
        "security.api_key.revoked",
    }
)
"""What a webhook may filter on (see :mod:`opencsms.domain.events`)."""

PING = "webhook.ping"
"""The event type of a test delivery (``WebhookService.ping``)."""

MIN_SECRET = 16
MAX_URL = 2000
SEND_CONCURRENCY = 16
SWEEP_BATCH = 64
RECORD_CONCURRENCY = 32


class InvalidWebhook(ValueError):
    """A URL, secret or event type filter we refuse; nothing was stored."""


class Sender(Protocol):
    """POSTs one body; returns the HTTP status, raises on a transport failure."""

    async def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int: ...


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhook(f"url must be an absolute http(s) URL of at most {MAX_URL} chars")


@dataclass(frozen=True, slots=True)
class _Attempt:
    state: DeliveryState
    status_code: int | None
    error: str | None


class WebhookService:
    """Registration, the delivery log, and the dispatcher (``start``/``stop``)."""

    def __init__(
        self,
        uow: UnitOfWork,
        events: EventBus,
        sender: Sender,
        *,
        clock: Clock = utc_now,
        backoff: Sequence[timedelta] = DEFAULT_BACKOFF,
        jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2),
        sweep_interval: float = 5.0,
    ) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock
        self._sender = sender
        self._backoff = tuple(backoff)
        self._jitter = jitter
        self._sweep_interval = sweep_interval
        self._hooks: list[Webhook] = []
        """Cache of the webhooks, so the bus filter needs no database read."""
        self._in_flight: dict[int, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- registration ---------------------------------------------------------

    async def register(
        self, url: str, secret: str | None = None, event_types: Sequence[str] = ()
    ) -> Webhook:
        """Add a webhook (every event when ``event_types`` is empty); a secret is
        generated when none is given. Raises :class:`InvalidWebhook`."""
        check_url(url)
        if secret is not None and not MIN_SECRET <= len(secret) <= 255:
            raise InvalidWebhook(f"secret must have {MIN_SECRET} to 255 characters")
        unknown = sorted(set(event_types) - EVENT_TYPES)
        if unknown:
            raise InvalidWebhook(f"unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        chosen = secret if secret is not None else secrets.token_urlsafe(32)
        types = sorted(set(event_types))
        now = self._clock()

        async def work(repos: Repositories) -> Webhook:
            return await repos.webhooks.add(url, chosen, types, now)

        webhook = await self._uow.run(work)
        await self.refresh()
        return webhook

    async def remove(self, webhook_id: int) -> bool:
        async def work(repos: Repositories) -> bool:
            return await repos.webhooks.remove(webhook_id)

        removed = await self._uow.run(work)
        await self.refresh()
        return removed

    async def get(self, webhook_id: int) -> Webhook | None:
        async def work(repos: Repositories) -> Webhook | None:
            return await repos.webhooks.get(webhook_id)

        return await self._uow.read(work)

    async def list(self) -> builtins.list[Webhook]:
        async def work(repos: Repositories) -> builtins.list[Webhook]:
            return await repos.webhooks.list()

        return await self._uow.read(work)

    async def deliveries(
        self, webhook_id: int | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[WebhookDelivery]:
        """The delivery log, newest first; ``before_id`` is the last delivery of
        the previous page."""

        async def work(repos: Repositories) -> builtins.list[WebhookDelivery]:
            return await repos.webhooks.deliveries(webhook_id, limit, before_id)

        return await self._uow.read(work)

    async def refresh(self) -> None:
        """Reload the cached webhooks (after a change, and at every sweep), and
        narrow the subscription to their event types: with no webhooks, the
        services build no event data for us."""
        self._hooks = [hook for hook in await self.list() if hook.active]
        if self._subscription is not None:
            self._subscription.types = self._types()

    def _types(self) -> frozenset[str] | None:
        if any(not hook.event_types for hook in self._hooks):
            return None
        return frozenset(t for hook in self._hooks for t in hook.event_types)

    # -- from events to rows ----------------------------------------------------

    def _matching(self, event_type: str) -> builtins.list[Webhook]:
        return [h for h in self._hooks if not h.event_types or event_type in h.event_types]

    def _wanted(self, event: Event) -> bool:
        return bool(self._matching(event.type))

    async def record(self, event: Event) -> builtins.list[WebhookDelivery]:
        """Write one pending delivery per matching webhook and wake the sender."""
        hooks = self._matching(event.type)
        if not hooks:
            return []
        payload = _json_ready(event.as_dict())
        now = self._clock()

        async def work(repos: Repositories) -> builtins.list[WebhookDelivery]:
            return [
                await repos.webhooks.add_delivery(hook.id, event.id, event.type, payload, now)
                for hook in hooks
            ]

        rows = await self._uow.run(work)
        self._wake.set()
        return rows

    async def ping(self, webhook_id: int) -> WebhookDelivery | None:
        """Send a ``webhook.ping`` to one webhook now; its record after the attempt
        (retried like any delivery if it failed). None for an unknown webhook."""
        if await self.get(webhook_id) is None:
            return None
        event = Event(PING, None, {"webhook_id": webhook_id}, self._clock())
        now = self._clock()

        async def work(repos: Repositories) -> WebhookDelivery:
            return await repos.webhooks.add_delivery(
                webhook_id, event.id, PING, _json_ready(event.as_dict()), now
            )

        delivery = await self._uow.run(work)
        await self._attempt_once(delivery)
        found = [d for d in await self.deliveries(webhook_id, limit=20) if d.id == delivery.id]
        return found[0] if found else delivery

    # -- sending ------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Attempt every delivery due now; return how many were attempted."""
        attempted: set[int] = set()
        while True:
            found = await self._due(SWEEP_BATCH)
            # each delivery at most once per call, even if it is due again at once
            due = [d for d in found if d.id not in self._in_flight and d.id not in attempted]
            if not due:
                return len(attempted)
            await self._send_all(due)
            attempted.update(d.id for d in due)
            if len(found) < SWEEP_BATCH:
                return len(attempted)

    async def _due(self, limit: int) -> builtins.list[WebhookDelivery]:
        now = self._clock()

        async def work(repos: Repositories) -> builtins.list[WebhookDelivery]:
            return await repos.webhooks.due_deliveries(now, limit)

        return await self._uow.read(work)

    async def _send_all(self, due: builtins.list[WebhookDelivery]) -> None:
        hooks = {hook.id: hook for hook in await self.list()}
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def one(delivery: WebhookDelivery) -> None:
            async with gate:
                await self._attempt_once(delivery, hooks.get(delivery.webhook_id))

        await asyncio.gather(*(one(d) for d in due))

    async def _attempt_once(
        self, delivery: WebhookDelivery, webhook: Webhook | None = None
    ) -> None:
        """Attempt ``delivery`` unless another task is attempting it (then wait for that)."""
        running = self._in_flight.get(delivery.id)
        if running is not None:
            await asyncio.shield(running)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[delivery.id] = done
        try:
            if webhook is None:
                webhook = await self.get(delivery.webhook_id)
            await self._attempt(delivery, webhook)
        finally:
            del self._in_flight[delivery.id]
            done.set_result(None)

    async def _attempt(self, delivery: WebhookDelivery, webhook: Webhook | None) -> None:
        attempts = delivery.attempts + 1
        if webhook is None or not webhook.active:
            outcome = _Attempt(DeliveryState.FAILED, None, "webhook removed")
        else:
            outcome = await self._post(delivery, webhook)
        now = self._clock()
        state, next_at = outcome.state, None
        if state is DeliveryState.PENDING:
            if attempts > len(self._backoff):
                state = DeliveryState.FAILED
            else:
                next_at = now + self._backoff[attempts - 1] * self._jitter()
        delivered_at = now if state is DeliveryState.DELIVERED else None

        async def work(repos: Repositories) -> None:
            await repos.webhooks.record_attempt(
                delivery.id,
                state,
                attempts,
                next_at,
                outcome.status_code,
                outcome.error,
                delivered_at,
            )

        await self._uow.run(work)
        log.info(
            "webhook attempt",
            delivery=delivery.id,
            webhook=delivery.webhook_id,
            attempt=attempts,
            state=state.value,
            status=outcome.status_code,
            error=outcome.error,
        )

    async def _post(self, delivery: WebhookDelivery, webhook: Webhook) -> _Attempt:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = str(int(self._clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "opencsms-webhooks",
            "X-OpenCSMS-Event": delivery.event_type,
            "X-OpenCSMS-Delivery": str(delivery.id),
            "X-OpenCSMS-Timestamp": timestamp,
            "X-OpenCSMS-Signature": sign(webhook.secret, timestamp, body),
        }
        try:
            status = await self._sender(webhook.url, headers, body)
        except Exception as exc:  # any transport failure is a failed attempt, retried
            return _Attempt(DeliveryState.PENDING, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return _Attempt(DeliveryState.DELIVERED, status, None)
        return _Attempt(DeliveryState.PENDING, status, f"HTTP {status}")

    # -- the dispatcher --------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the bus and run the recorder and the sender in the background."""
        await self.refresh()
        self._subscription = self._events.subscribe(self._wanted, types=self._types())
        self._spawn(self._record_loop(self._subscription), "opencsms-webhook-recorder")
        self._spawn(self._send_loop(), "opencsms-webhook-sender")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        closer: Callable[[], Awaitable[None]] | None = getattr(self._sender, "aclose", None)
        if closer is not None:
            await closer()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_loop(self, subscription: Subscription) -> None:
        gate = asyncio.Semaphore(RECORD_CONCURRENCY)
        pending: set[asyncio.Task[None]] = set()
        dropped = 0
        try:
            async for event in subscription:
                if subscription.dropped != dropped:
                    log.warning("webhook events dropped", count=subscription.dropped - dropped)
                    dropped = subscription.dropped
                await gate.acquire()
                task = asyncio.create_task(self._record_guarded(event, gate))
                pending.add(task)
                task.add_done_callback(pending.discard)
        finally:
            for task in pending:
                task.cancel()

    async def _record_guarded(self, event: Event, gate: asyncio.Semaphore) -> None:
        try:
            await self.record(event)
        except Exception:
            log.exception("webhook deliveries not recorded", event=event.id, type=event.type)
        finally:
            gate.release()

    async def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.refresh()
                await self.deliver_due()
            except Exception:
                log.exception("webhook sweep failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self._sweep_interval)
            except TimeoutError:
                pass


def _json_ready(value: dict[str, object]) -> dict[str, object]:
    """The payload as stored and sent: anything not JSON (a datetime) as text."""
    ready: dict[str, object] = json.loads(json.dumps(value, default=str))
    return ready
