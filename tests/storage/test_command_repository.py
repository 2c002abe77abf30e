"""The commands table as audit trail and durable queue, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.model import Command, CommandState
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def add(
    uow: SqlUnitOfWork,
    station_id: str = "CP-1",
    action: str = "Reset",
    state: CommandState = CommandState.QUEUED,
    expires_at: datetime | None = None,
    created: float = 0,
) -> Command:
    payload: dict[str, object] = {"type": "Soft", "nested": {"list": [1, 2.5, None]}}
    return await uow.run(
        lambda r: r.commands.add(station_id, action, payload, "apikey:ops", at(created), state,
                                 expires_at)
    )  # fmt: skip


async def test_round_trip_send_and_answer(uow: SqlUnitOfWork) -> None:
    command = await add(uow)
    assert command.id > 0
    assert command.state is CommandState.QUEUED
    assert command.payload == {"type": "Soft", "nested": {"list": [1, 2.5, None]}}
    assert command.requested_by == "apikey:ops"
    assert command.created_at == T0 and command.sent_at is None

    await uow.run(lambda r: r.commands.mark_sent(command.id, at(1)))
    sent = await uow.read(lambda r: r.commands.get(command.id))
    assert sent is not None and sent.state is CommandState.SENT and sent.sent_at == at(1)

    finished = await uow.run(
        lambda r: r.commands.finish(
            command.id, CommandState.ANSWERED, at(2), status="Accepted",
            response={"status": "Accepted"},
        )
    )  # fmt: skip
    assert finished.state is CommandState.ANSWERED
    assert finished.status == "Accepted"
    assert finished.response == {"status": "Accepted"}
    assert finished.finished_at == at(2)
    assert finished.finished_at.tzinfo is not None
    assert finished.error is None
    assert await uow.read(lambda r: r.commands.get(command.id)) == finished
    assert await uow.read(lambda r: r.commands.get(command.id + 1000)) is None


async def test_a_final_command_does_not_move_again(uow: SqlUnitOfWork) -> None:
    command = await add(uow)
    await uow.run(lambda r: r.commands.finish(command.id, CommandState.FAILED, at(1), error="x"))
    with pytest.raises(LookupError):
        await uow.run(lambda r: r.commands.mark_sent(command.id, at(2)))
    with pytest.raises(LookupError):
        await uow.run(lambda r: r.commands.finish(command.id, CommandState.ANSWERED, at(2)))
    with pytest.raises(LookupError):
        await uow.run(lambda r: r.commands.mark_sent(99999, at(2)))
    with pytest.raises(ValueError, match="not a final state"):
        await uow.run(lambda r: r.commands.finish(command.id, CommandState.SENT, at(2)))
    stored = await uow.read(lambda r: r.commands.get(command.id))
    assert stored is not None and stored.state is CommandState.FAILED and stored.error == "x"


async def test_queue_order_per_station_and_expiry(uow: SqlUnitOfWork) -> None:
    first = await add(uow, expires_at=at(100))
    other = await add(uow, station_id="CP-2", expires_at=at(10))
    second = await add(uow, action="ClearCache", expires_at=at(10))
    third = await add(uow, action="Reset", expires_at=None)
    assert [c.id for c in await uow.read(lambda r: r.commands.queued("CP-1"))] == [
        first.id,
        second.id,
        third.id,
    ]
    assert await uow.read(lambda r: r.commands.stations_with_queued()) == ["CP-1", "CP-2"]

    assert await uow.run(lambda r: r.commands.expire_queued(at(9))) == []
    expired = await uow.run(lambda r: r.commands.expire_queued(at(10)))
    assert [c.id for c in expired] == [other.id, second.id]
    assert all(c.state is CommandState.EXPIRED and c.finished_at == at(10) for c in expired)
    assert [c.id for c in await uow.read(lambda r: r.commands.queued("CP-1"))] == [
        first.id,
        third.id,
    ]
    assert await uow.read(lambda r: r.commands.stations_with_queued()) == ["CP-1"]


async def test_fail_unfinished_only_touches_sent(uow: SqlUnitOfWork) -> None:
    queued = await add(uow)
    sent = await add(uow)
    await uow.run(lambda r: r.commands.mark_sent(sent.id, at(1)))
    assert await uow.run(lambda r: r.commands.fail_unfinished(at(5), "node stopped")) == 1
    got = await uow.read(lambda r: r.commands.get(sent.id))
    assert got is not None and got.state is CommandState.FAILED and got.error == "node stopped"
    assert got.finished_at == at(5)
    still = await uow.read(lambda r: r.commands.get(queued.id))
    assert still is not None and still.state is CommandState.QUEUED


async def test_list_newest_first_with_filters_and_paging(uow: SqlUnitOfWork) -> None:
    ids = [
        (await add(uow, station_id=s, action=a, created=n)).id
        for n, (s, a) in enumerate(
            [("CP-1", "Reset"), ("CP-2", "Reset"), ("CP-1", "ClearCache"), ("CP-1", "Reset")]
        )
    ]

    async def listed(r: Repositories, **kwargs: object) -> list[int]:
        return [c.id for c in await r.commands.list(**kwargs)]  # type: ignore[arg-type]

    assert await uow.read(lambda r: listed(r)) == ids[::-1]
    assert await uow.read(lambda r: listed(r, station_id="CP-1")) == [ids[3], ids[2], ids[0]]
    assert await uow.read(lambda r: listed(r, action="Reset")) == [ids[3], ids[1], ids[0]]
    assert await uow.read(lambda r: listed(r, station_id="CP-1", action="Reset")) == [
        ids[3],
        ids[0],
    ]
    assert await uow.read(lambda r: listed(r, limit=2)) == [ids[3], ids[2]]
    assert await uow.read(lambda r: listed(r, limit=2, before_id=ids[2])) == [ids[1], ids[0]]
