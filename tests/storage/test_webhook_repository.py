"""Webhooks and their delivery log, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.domain.model import DeliveryState, Webhook, WebhookDelivery
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_webhook_round_trip_and_remove(uow: SqlUnitOfWork) -> None:
    async def add(r: Repositories) -> tuple[Webhook, Webhook]:
        first = await r.webhooks.add("https://a.example/hook", "s1", [], T0)
        second = await r.webhooks.add(
            "https://b.example/hook", "s2", ["connector.status", "meter.values"], at(1)
        )
        return first, second

    first, second = await uow.run(add)
    assert first.id != second.id
    assert first.event_types == () and first.active
    assert second.event_types == ("connector.status", "meter.values")

    async def read(r: Repositories) -> tuple[Webhook | None, list[Webhook]]:
        return await r.webhooks.get(second.id), await r.webhooks.list()

    got, listed = await uow.read(read)
    assert got == second
    assert listed == [first, second]

    async def remove(r: Repositories) -> tuple[bool, bool]:
        return await r.webhooks.remove(first.id), await r.webhooks.remove(first.id)

    assert await uow.run(remove) == (True, False)
    _, listed = await uow.read(read)
    assert listed == [second]


async def test_deliveries_due_attempts_and_log(uow: SqlUnitOfWork) -> None:
    async def setup(r: Repositories) -> tuple[Webhook, WebhookDelivery, WebhookDelivery]:
        hook = await r.webhooks.add("https://a.example/hook", "s", [], T0)
        one = await r.webhooks.add_delivery(hook.id, "e1", "connector.status", {"a": 1}, at(0))
        two = await r.webhooks.add_delivery(hook.id, "e2", "meter.values", {"b": [1.5]}, at(1))
        return hook, one, two

    hook, one, two = await uow.run(setup)
    assert one.state is DeliveryState.PENDING and one.attempts == 0
    assert one.next_attempt_at == at(0) and one.payload == {"a": 1}

    async def due(now: datetime) -> list[WebhookDelivery]:
        async def work(r: Repositories) -> list[WebhookDelivery]:
            return await r.webhooks.due_deliveries(now)

        return await uow.read(work)

    assert [d.id for d in await due(at(0.5))] == [one.id]
    assert [d.id for d in await due(at(5))] == [one.id, two.id]

    async def attempt(r: Repositories) -> None:
        await r.webhooks.record_attempt(
            one.id, DeliveryState.PENDING, 1, at(40), 500, "HTTP 500", None
        )
        await r.webhooks.record_attempt(two.id, DeliveryState.DELIVERED, 1, None, 204, None, at(2))

    await uow.run(attempt)
    assert await due(at(5)) == []
    (retried,) = await due(at(40))
    assert retried.attempts == 1 and retried.last_status_code == 500
    assert retried.last_error == "HTTP 500" and retried.next_attempt_at == at(40)

    async def log(r: Repositories) -> tuple[list[WebhookDelivery], list[WebhookDelivery]]:
        return await r.webhooks.deliveries(hook.id), await r.webhooks.deliveries(hook.id + 99)

    newest_first, other = await uow.read(log)
    assert [d.id for d in newest_first] == [two.id, one.id]
    assert newest_first[0].state is DeliveryState.DELIVERED
    assert newest_first[0].delivered_at == at(2)
    assert other == []


async def test_removing_a_webhook_fails_its_pending_deliveries_and_keeps_the_log(
    uow: SqlUnitOfWork,
) -> None:
    async def setup(r: Repositories) -> WebhookDelivery:
        hook = await r.webhooks.add("https://a.example/hook", "s", [], T0)
        delivery = await r.webhooks.add_delivery(hook.id, "e1", "station.connected", {}, T0)
        await r.webhooks.remove(hook.id)
        return delivery

    delivery = await uow.run(setup)

    async def read(r: Repositories) -> tuple[list[WebhookDelivery], list[WebhookDelivery]]:
        return await r.webhooks.due_deliveries(at(3600)), await r.webhooks.deliveries()

    due, log = await uow.read(read)
    assert due == []
    assert [(d.id, d.state, d.last_error) for d in log] == [
        (delivery.id, DeliveryState.FAILED, "webhook removed")
    ]


async def test_deliveries_page_by_cursor_newest_first(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> tuple[list[int], list[list[int]], list[int]]:
        hook = await r.webhooks.add("https://a.example/hook", "s1", [], T0)
        other = await r.webhooks.add("https://b.example/hook", "s2", [], T0)
        ids = [
            (await r.webhooks.add_delivery(hook.id, f"e{i}", "webhook.ping", {}, at(t))).id
            for i, t in enumerate((0, 5, 5, 9))
        ]
        await r.webhooks.add_delivery(other.id, "x", "webhook.ping", {}, at(7))
        pages: list[list[int]] = []
        cursor: int | None = None
        while True:
            page = await r.webhooks.deliveries(hook.id, 3, cursor)
            if not page:
                return ids, pages, [d.id for d in await r.webhooks.deliveries(None, 10, ids[2])]
            pages.append([d.id for d in page])
            cursor = page[-1].id

    ids, pages, across = await uow.run(work)
    assert pages == [[ids[3], ids[2], ids[1]], [ids[0]]]
    assert across == [ids[1], ids[0]]
