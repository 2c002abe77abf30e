"""Reservations and local authorization lists, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.model import LocalListEntry, Reservation, ReservationState, TagStatus
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def reserve(
    uow: SqlUnitOfWork, station_id: str = "CP-1", expiry: datetime | None = None
) -> Reservation:
    return await uow.run(
        lambda r: r.reservations.create(station_id, 1, "TAG1", "PARENT", expiry or at(30), T0)
    )


async def test_reservation_ids_are_unique_across_stations(uow: SqlUnitOfWork) -> None:
    a = await reserve(uow, "CP-1")
    b = await reserve(uow, "CP-2")
    assert a.id != b.id
    assert a.state is ReservationState.REQUESTED
    assert (a.connector_id, a.id_tag, a.parent_id_tag) == (1, "TAG1", "PARENT")
    assert a.expiry_date == at(30) and a.created_at == a.updated_at == T0
    assert await uow.read(lambda r: r.reservations.get(a.id)) == a
    assert await uow.read(lambda r: r.reservations.get(a.id + b.id + 100)) is None


async def test_update_keeps_fields_not_given(uow: SqlUnitOfWork) -> None:
    res = await reserve(uow)
    rejected = await uow.run(
        lambda r: r.reservations.update(res.id, ReservationState.ACTIVE, at(1), detail="ok")
    )
    assert rejected is not None and rejected.detail == "ok"
    used = await uow.run(
        lambda r: r.reservations.update(res.id, ReservationState.USED, at(2), transaction_id=42)
    )
    assert used is not None
    assert (used.state, used.transaction_id, used.detail, used.updated_at) == (
        ReservationState.USED,
        42,
        "ok",
        at(2),
    )
    assert await uow.run(lambda r: r.reservations.update(999999, ReservationState.USED, T0)) is None


async def test_list_and_due_to_expire(uow: SqlUnitOfWork) -> None:
    early = await reserve(uow, "CP-1", at(5))
    late = await reserve(uow, "CP-1", at(60))
    other = await reserve(uow, "CP-2", at(5))
    done = await reserve(uow, "CP-1", at(1))
    await uow.run(lambda r: r.reservations.update(done.id, ReservationState.CANCELLED, T0))
    await uow.run(lambda r: r.reservations.update(late.id, ReservationState.ACTIVE, T0))

    listed = await uow.read(lambda r: r.reservations.list("CP-1"))
    assert [x.id for x in listed] == [done.id, late.id, early.id]
    open_ = await uow.read(lambda r: r.reservations.list("CP-1", open_only=True))
    assert [x.id for x in open_] == [late.id, early.id]
    everything = await uow.read(lambda r: r.reservations.list(limit=2))
    assert [x.id for x in everything] == [done.id, other.id]

    due = await uow.read(lambda r: r.reservations.due_to_expire(at(10)))
    assert [x.id for x in due] == [early.id, other.id]
    due = await uow.read(lambda r: r.reservations.due_to_expire(at(60)))
    assert [x.id for x in due] == [early.id, other.id, late.id]


def tag(id_tag: str, status: TagStatus | None = TagStatus.ACCEPTED, **kw: object) -> LocalListEntry:
    return LocalListEntry(id_tag, status, **kw)  # type: ignore[arg-type]


async def test_local_list_full_then_differential(uow: SqlUnitOfWork) -> None:
    assert await uow.read(lambda r: r.local_lists.get("CP-1")) is None
    full = [
        tag("B", TagStatus.BLOCKED),
        tag("A", expiry_date=at(100), parent_id_tag="P"),
        tag("C"),
    ]
    got = await uow.run(lambda r: r.local_lists.replace("CP-1", 1, full, T0))
    assert got.version == 1 and got.updated_at == T0
    assert [(e.id_tag, e.status) for e in got.entries] == [
        ("A", TagStatus.ACCEPTED),
        ("B", TagStatus.BLOCKED),
        ("C", TagStatus.ACCEPTED),
    ]
    assert got.entries[0].expiry_date == at(100) and got.entries[0].parent_id_tag == "P"

    diff = [tag("B", None), tag("C", TagStatus.EXPIRED), tag("D"), tag("Z", None)]
    got = await uow.run(lambda r: r.local_lists.apply_update("CP-1", 2, diff, at(1)))
    assert got.version == 2 and got.updated_at == at(1)
    assert [(e.id_tag, e.status) for e in got.entries] == [
        ("A", TagStatus.ACCEPTED),
        ("C", TagStatus.EXPIRED),
        ("D", TagStatus.ACCEPTED),
    ]
    assert await uow.read(lambda r: r.local_lists.get("CP-1")) == got

    empty = await uow.run(lambda r: r.local_lists.replace("CP-1", 3, [], at(2)))
    assert empty.entries == () and empty.version == 3


async def test_local_lists_are_per_station(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.local_lists.replace("CP-1", 1, [tag("A")], T0))
    await uow.run(lambda r: r.local_lists.apply_update("CP-2", 5, [tag("B")], T0))
    one = await uow.read(lambda r: r.local_lists.get("CP-1"))
    two = await uow.read(lambda r: r.local_lists.get("CP-2"))
    assert one is not None and [e.id_tag for e in one.entries] == ["A"]
    assert two is not None and two.version == 5 and [e.id_tag for e in two.entries] == ["B"]


async def test_full_list_entry_without_status_is_refused(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.local_lists.replace("CP-1", 1, [tag("A")], T0))
    with pytest.raises(ValueError):
        await uow.run(lambda r: r.local_lists.replace("CP-1", 2, [tag("B", None)], T0))
    got = await uow.read(lambda r: r.local_lists.get("CP-1"))
    assert got is not None and got.version == 1 and [e.id_tag for e in got.entries] == ["A"]
