"""SecurityEventLog on a real database: stored, published as
``security.<kind>``, paged newest first by id, and ``record_soon`` bounded
(repeats inside 10 s folded into a count, writes in flight capped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.domain import security_events
from opencsms.domain.events import EventBus
from opencsms.domain.security_events import SecurityEventLog
from opencsms.domain.webhooks import EVENT_TYPES
from opencsms.storage import SqlUnitOfWork


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_record_stores_and_publishes(uow: SqlUnitOfWork) -> None:
    clock = FakeClock()
    bus = EventBus(clock)
    log = SecurityEventLog(uow, clock, bus)
    with bus.subscribe() as subscription:
        await log.record("operator.login", "alice", "192.0.2.1", "logged in")
        await log.record("station.login_failed", "CP1", "192.0.2.2", "wrong key")
        first, second = await subscription.get(), await subscription.get()
    [_, operator] = await log.recent()
    assert (operator.kind, operator.subject, operator.remote, operator.detail, operator.at) == (
        "operator.login",
        "alice",
        "192.0.2.1",
        "logged in",
        clock.now,
    )
    assert first.type == "security.operator.login" and first.station_id is None
    assert first.data == {
        "id": operator.id,
        "kind": "operator.login",
        "subject": "alice",
        "remote": "192.0.2.1",
        "detail": "logged in",
    }
    assert second.type == "security.station.login_failed" and second.station_id == "CP1"
    assert {first.type, second.type} <= EVENT_TYPES


async def test_recent_pages_newest_first_and_filters_by_kind(uow: SqlUnitOfWork) -> None:
    log = SecurityEventLog(uow, FakeClock())
    for i in range(7):
        kind = "operator.login" if i % 2 else "operator.login_failed"
        await log.record(kind, f"op{i}", None, f"event {i}")
    page = await log.recent(limit=3)
    assert [e.subject for e in page] == ["op6", "op5", "op4"]
    page = await log.recent(limit=3, before_id=page[-1].id)
    assert [e.subject for e in page] == ["op3", "op2", "op1"]
    page = await log.recent(limit=3, before_id=page[-1].id)
    assert [e.subject for e in page] == ["op0"]
    logins = await log.recent(kind="operator.login")
    assert [e.subject for e in logins] == ["op5", "op3", "op1"]
    older = await log.recent(limit=2, before_id=logins[0].id, kind="operator.login")
    assert [e.subject for e in older] == ["op3", "op1"]
    assert await log.recent(kind="nothing.like.it") == []


async def test_record_soon_folds_repeats_within_ten_seconds(uow: SqlUnitOfWork) -> None:
    clock = FakeClock()
    log = SecurityEventLog(uow, clock)
    for _ in range(50):
        log.record_soon("station.login_failed", "CP1", "192.0.2.9", "wrong key")
    log.record_soon("station.login_failed", "CP1", "192.0.2.10", "wrong key")  # other address
    log.record_soon("station.login_failed", "CP2", "192.0.2.9", "unknown station id")
    await log.flush()
    assert len(await log.recent()) == 3
    assert log.suppressed == 49

    clock.now += timedelta(seconds=10)
    log.record_soon("station.login_failed", "CP1", "192.0.2.9", "wrong key")
    await log.flush()
    newest = (await log.recent(limit=1))[0]
    assert newest.detail == "wrong key (49 more like it in the 10 s before)"
    assert log.dropped == 0


async def test_record_soon_drops_beyond_the_pending_bound(uow: SqlUnitOfWork) -> None:
    log = SecurityEventLog(uow, FakeClock())
    bound = security_events.MAX_PENDING
    for i in range(bound + 25):  # all distinct: no folding, only the bound
        log.record_soon("station.login_failed", f"CP{i}", "192.0.2.9", "unknown station id")
    assert log.dropped == 25
    await log.flush()
    assert len(await log.recent(limit=500)) == bound


async def test_long_subjects_are_cut_to_the_column(uow: SqlUnitOfWork) -> None:
    log = SecurityEventLog(uow, FakeClock())
    await log.record("station.login_failed", "X" * 1000, "r" * 300, "unknown station id")
    [event] = await log.recent()
    assert event.subject == "X" * 255 and event.remote == "r" * 255
