"""Webhook deliveries against a real HTTP receiver on 127.0.0.1: signed, retried
on a fake clock (no sleeping), logged, and still sent after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.events import Event, EventBus
from opencsms.domain.model import DeliveryState, WebhookDelivery
from opencsms.domain.webhooks import InvalidWebhook, WebhookService, verify_signature
from opencsms.storage import SqlUnitOfWork, create_engine
from opencsms.testing import free_port
from opencsms.webhook_sender import HttpxSender
from webhook_receiver import receiver

SECRET = "0123456789abcdef-secret"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def service(uow: SqlUnitOfWork, clock: FakeClock) -> AsyncIterator[WebhookService]:
    webhooks = WebhookService(
        uow,
        EventBus(clock),
        HttpxSender(timeout=5),
        clock=clock,
        backoff=(timedelta(seconds=10), timedelta(seconds=30)),
        jitter=lambda: 1.0,
    )
    yield webhooks
    await webhooks.stop()


async def delivered(service: WebhookService, webhook_id: int) -> list[WebhookDelivery]:
    """The log once every delivery is delivered (the row is written after the POST)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        log = await service.deliveries(webhook_id)
        if log and all(d.state is DeliveryState.DELIVERED for d in log):
            return log
        assert loop.time() < deadline, log
        await asyncio.sleep(0.02)


def event(type: str = "connector.status", station: str = "CP1") -> Event:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return Event(type, station, {"connector_id": 1, "status": "Charging"}, at)


async def test_a_published_event_arrives_signed(service: WebhookService) -> None:
    async with receiver() as target:
        hook = await service.register(target.url, SECRET, ["connector.status"])
        await service.start()
        bus = service._events
        bus.publish("meter.values", "CP1", {"values": []})  # filtered out
        sent = bus.publish("connector.status", "CP1", {"connector_id": 1, "status": "Charging"})
        (request,) = await target.wait_for(1)

    h = request.headers
    assert request.method == "POST" and request.path == "/hook"
    assert h["content-type"] == "application/json"
    assert h["x-opencsms-event"] == "connector.status"
    assert h["x-opencsms-signature"].startswith("sha256=")
    now = service._clock().timestamp()
    assert verify_signature(
        SECRET, h["x-opencsms-timestamp"], request.body, h["x-opencsms-signature"], now=now
    )
    assert not verify_signature(
        "another-secret-123", h["x-opencsms-timestamp"], request.body, h["x-opencsms-signature"]
    )
    assert not verify_signature(
        SECRET, h["x-opencsms-timestamp"], request.body + b" ", h["x-opencsms-signature"], now=now
    )
    body = json.loads(request.body)
    assert body == sent.as_dict()

    log = await delivered(service, hook.id)
    assert [(d.event_type, d.attempts, d.last_status_code) for d in log] == [
        ("connector.status", 1, 200)
    ]
    assert log[0].state is DeliveryState.DELIVERED
    assert h["x-opencsms-delivery"] == str(log[0].id)


async def test_a_failing_receiver_gets_it_on_retry_after_the_back_off(
    service: WebhookService, clock: FakeClock
) -> None:
    async with receiver([500]) as target:
        hook = await service.register(target.url, SECRET)
        (row,) = await service.record(event())
        assert await service.deliver_due() == 1
        (failed,) = await service.deliveries(hook.id)
        assert failed.state is DeliveryState.PENDING
        assert (failed.attempts, failed.last_status_code, failed.last_error) == (1, 500, "HTTP 500")
        assert failed.next_attempt_at == clock.now + timedelta(seconds=10)

        clock.advance(9)
        assert await service.deliver_due() == 0  # not due yet
        clock.advance(1)
        assert await service.deliver_due() == 1
        first, second = await target.wait_for(2)

    assert first.body == second.body
    assert first.headers["x-opencsms-delivery"] == second.headers["x-opencsms-delivery"]
    assert int(second.headers["x-opencsms-timestamp"]) == int(clock.now.timestamp())
    (done,) = await service.deliveries(hook.id)
    assert done.id == row.id and done.state is DeliveryState.DELIVERED
    assert (done.attempts, done.last_status_code, done.last_error) == (2, 200, None)
    assert done.delivered_at == clock.now


async def test_gives_up_after_the_last_retry_and_records_transport_errors(
    service: WebhookService, clock: FakeClock
) -> None:
    hook = await service.register(f"http://127.0.0.1:{free_port()}/nobody", SECRET)
    await service.record(event())
    for wait in (0, 10, 30):
        clock.advance(wait)
        assert await service.deliver_due() == 1
    (gone,) = await service.deliveries(hook.id)
    assert gone.state is DeliveryState.FAILED and gone.attempts == 3
    assert gone.next_attempt_at is None and gone.last_status_code is None
    assert gone.last_error is not None and gone.last_error.startswith("ConnectError")
    clock.advance(3600)
    assert await service.deliver_due() == 0


async def test_ping_sends_at_once_and_returns_the_record(service: WebhookService) -> None:
    async with receiver([503]) as target:
        hook = await service.register(target.url)  # secret generated
        assert len(hook.secret) >= 32
        delivery = await service.ping(hook.id)
        assert delivery is not None
        (request,) = await target.wait_for(1)
    assert delivery.event_type == "webhook.ping" and delivery.attempts == 1
    assert delivery.last_status_code == 503 and delivery.state is DeliveryState.PENDING
    assert json.loads(request.body)["data"] == {"webhook_id": hook.id}
    assert verify_signature(
        hook.secret,
        request.headers["x-opencsms-timestamp"],
        request.body,
        request.headers["x-opencsms-signature"],
        now=service._clock().timestamp(),
    )
    assert await service.ping(hook.id + 1000) is None


@pytest.mark.parametrize(
    ("url", "secret", "types", "message"),
    [
        ("ftp://example.com/x", None, (), "http(s) URL"),
        ("/relative", None, (), "http(s) URL"),
        ("https://example.com/x", "short", (), "secret"),
        ("https://example.com/x", None, ("connector.status", "nope"), "unknown event types"),
    ],
)
async def test_invalid_registrations_store_nothing(
    service: WebhookService, url: str, secret: str | None, types: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidWebhook, match=message.replace("(", r"\(").replace(")", r"\)")):
        await service.register(url, secret, types)
    assert await service.list() == []


async def test_pending_deliveries_survive_a_restart(database_url: str, clock: FakeClock) -> None:
    from opencsms.storage import migrate

    async def open_uow() -> SqlUnitOfWork:
        engine = create_engine(database_url)
        await migrate(engine)
        unit = SqlUnitOfWork(engine, owns_engine=True)
        await unit.start()
        return unit

    async with receiver() as target:
        first = await open_uow()
        before = WebhookService(first, EventBus(), HttpxSender(), clock=clock)
        hook = await before.register(target.url, SECRET)
        await before.record(event("transaction.started"))
        await before.stop()
        await first.close()  # the server stops before anything was sent

        second = await open_uow()
        after = WebhookService(second, EventBus(), HttpxSender(), clock=clock)
        try:
            await after.start()  # its first sweep finds the pending row
            (request,) = await target.wait_for(1)
            assert request.headers["x-opencsms-event"] == "transaction.started"
            (done,) = await delivered(after, hook.id)
            assert done.attempts == 1
        finally:
            await after.stop()
            await second.close()


async def test_removed_webhook_gets_nothing_more(service: WebhookService) -> None:
    async with receiver() as target:
        hook = await service.register(target.url, SECRET)
        await service.record(event())
        assert await service.remove(hook.id)
        assert await service.deliver_due() == 0
        assert await service.record(event()) == []
        assert target.requests == []
    (log,) = await service.deliveries(hook.id)
    assert log.state is DeliveryState.FAILED and log.last_error == "webhook removed"
