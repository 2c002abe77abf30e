"""The reservation and local-list ports over SQLAlchemy Core.

Choices the ports leave open:

* ``ReservationRepository.update`` keeps ``transaction_id`` and ``detail``
  when they are given as None, and returns None for an unknown id.
* the reservation id is the table's auto-increment key, so it is unique
  system-wide (OCPP wants a reservationId per station at least) and fits the
  32-bit integer of the wire.
* a local list is a version row plus one row per id tag; a Full update
  deletes the station's entries and inserts the new ones, a Differential one
  upserts entries with a status and deletes those without. A Full list entry
  without a status is refused (:class:`ValueError`): OCPP requires the
  idTagInfo there.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from opencsms.domain.model import (
    LocalList,
    LocalListEntry,
    Reservation,
    ReservationState,
    TagStatus,
)
from opencsms.storage.pending import Executor, upsert
from opencsms.storage.tables import local_list_entries, local_lists, reservations

_OPEN = (ReservationState.REQUESTED.value, ReservationState.ACTIVE.value)
_ENTRY_COLUMNS = ["station_id", "id_tag", "status", "expiry_date", "parent_id_tag"]


def _reservation_from_row(row: Row[Any]) -> Reservation:
    m = row._mapping
    return Reservation(
        id=m["id"],
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        id_tag=m["id_tag"],
        expiry_date=m["expiry_date"],
        state=ReservationState(m["state"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        parent_id_tag=m["parent_id_tag"],
        transaction_id=m["transaction_id"],
        detail=m["detail"],
    )


class SqlReservationRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def create(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        expiry_date: datetime,
        created_at: datetime,
    ) -> Reservation:
        row = (
            await self._conn.execute(
                insert(reservations)
                .values(
                    station_id=station_id,
                    connector_id=connector_id,
                    id_tag=id_tag,
                    parent_id_tag=parent_id_tag,
                    expiry_date=expiry_date,
                    state=ReservationState.REQUESTED.value,
                    created_at=created_at,
                    updated_at=created_at,
                )
                .returning(reservations)
            )
        ).one()
        return _reservation_from_row(row)

    async def get(self, reservation_id: int) -> Reservation | None:
        row = (
            await self._conn.execute(
                select(reservations).where(reservations.c.id == reservation_id)
            )
        ).first()
        return None if row is None else _reservation_from_row(row)

    async def update(
        self,
        reservation_id: int,
        state: ReservationState,
        at: datetime,
        transaction_id: int | None = None,
        detail: str | None = None,
    ) -> Reservation | None:
        values: dict[str, Any] = {"state": state.value, "updated_at": at}
        if transaction_id is not None:
            values["transaction_id"] = transaction_id
        if detail is not None:
            values["detail"] = detail
        row = (
            await self._conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id)
                .values(**values)
                .returning(reservations)
            )
        ).first()
        return None if row is None else _reservation_from_row(row)

    async def list(
        self, station_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> builtins.list[Reservation]:
        c = reservations.c
        stmt = select(reservations)
        if station_id is not None:
            stmt = stmt.where(c.station_id == station_id)
        if open_only:
            stmt = stmt.where(c.state.in_(_OPEN))
        result = await self._conn.execute(stmt.order_by(c.id.desc()).limit(limit))
        return [_reservation_from_row(row) for row in result]

    async def due_to_expire(self, now: datetime) -> builtins.list[Reservation]:
        c = reservations.c
        result = await self._conn.execute(
            select(reservations)
            .where(c.state.in_(_OPEN), c.expiry_date <= now)
            .order_by(c.expiry_date, c.id)
        )
        return [_reservation_from_row(row) for row in result]


def _entry_values(station_id: str, entry: LocalListEntry) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "id_tag": entry.id_tag,
        "status": entry.status,
        "expiry_date": entry.expiry_date,
        "parent_id_tag": entry.parent_id_tag,
    }


class SqlLocalListRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def get(self, station_id: str) -> LocalList | None:
        head = (
            await self._conn.execute(
                select(local_lists).where(local_lists.c.station_id == station_id)
            )
        ).first()
        if head is None:
            return None
        c = local_list_entries.c
        result = await self._conn.execute(
            select(local_list_entries).where(c.station_id == station_id).order_by(c.id_tag)
        )
        entries = tuple(
            LocalListEntry(
                id_tag=row.id_tag,
                status=TagStatus(row.status),
                expiry_date=row.expiry_date,
                parent_id_tag=row.parent_id_tag,
            )
            for row in result
        )
        return LocalList(station_id, head.version, entries, head.updated_at)

    async def replace(
        self, station_id: str, version: int, entries: Sequence[LocalListEntry], at: datetime
    ) -> LocalList:
        if any(entry.status is None for entry in entries):
            raise ValueError("a full local list needs a status for every id tag")
        await self._conn.execute(
            delete(local_list_entries).where(local_list_entries.c.station_id == station_id)
        )
        if entries:
            rows = [_entry_values(station_id, entry) for entry in entries]
            await self._conn.execute(insert(local_list_entries), rows)
        return await self._set_version(station_id, version, at)

    async def apply_update(
        self, station_id: str, version: int, entries: Sequence[LocalListEntry], at: datetime
    ) -> LocalList:
        c = local_list_entries.c
        removed = [entry.id_tag for entry in entries if entry.status is None]
        if removed:
            await self._conn.execute(
                delete(local_list_entries).where(c.station_id == station_id, c.id_tag.in_(removed))
            )
        put = [_entry_values(station_id, entry) for entry in entries if entry.status is not None]
        if put:
            stmt = upsert(
                self._conn.dialect.name,
                local_list_entries,
                ["station_id", "id_tag"],
                _ENTRY_COLUMNS,
            )
            await self._conn.execute(stmt, put)
        return await self._set_version(station_id, version, at)

    async def _set_version(self, station_id: str, version: int, at: datetime) -> LocalList:
        values = {"station_id": station_id, "version": version, "updated_at": at}
        stmt = upsert(
            self._conn.dialect.name, local_lists, ["station_id"], ["version", "updated_at"]
        )
        await self._conn.execute(stmt, values)
        got = await self.get(station_id)
        assert got is not None
        return got
