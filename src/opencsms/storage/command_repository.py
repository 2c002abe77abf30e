"""The :class:`~opencsms.domain.ports.CommandRepository` over SQLAlchemy Core.

One table is both the audit trail and the durable per-station queue: a
queued command is simply a row in state ``queued``, so a restart loses
nothing and the order is the id order (the ``(station_id, state, id)`` index
serves the queue scan). Choices the port leaves open:

* ``add`` takes ``queued`` for a command about to be sent too: ``mark_sent``
  only moves ``queued`` to ``sent`` (a command is never sent twice) and
  raises :class:`LookupError` otherwise.
* ``finish`` only moves a command that is not final yet; finishing a final
  one raises :class:`LookupError` too (the sweep and a delivery racing for
  the same queued command must not both win).
* ``expire_queued`` uses ``expires_at <= now``.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from opencsms.domain.model import Command, CommandState
from opencsms.storage.pending import Executor
from opencsms.storage.tables import commands

_UNFINISHED = (CommandState.QUEUED.value, CommandState.SENT.value)


def command_from_row(row: Row[Any]) -> Command:
    return Command(
        id=row.id,
        station_id=row.station_id,
        action=row.action,
        payload=row.payload,
        requested_by=row.requested_by,
        created_at=row.created_at,
        state=CommandState(row.state),
        expires_at=row.expires_at,
        sent_at=row.sent_at,
        finished_at=row.finished_at,
        status=row.status,
        response=row.response,
        error=row.error,
    )


class SqlCommandRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(
        self,
        station_id: str,
        action: str,
        payload: dict[str, object],
        requested_by: str,
        created_at: datetime,
        state: CommandState,
        expires_at: datetime | None = None,
    ) -> Command:
        row = (
            await self._conn.execute(
                insert(commands)
                .values(
                    station_id=station_id,
                    action=action,
                    payload=payload,
                    requested_by=requested_by,
                    created_at=created_at,
                    state=state.value,
                    expires_at=expires_at,
                )
                .returning(commands)
            )
        ).one()
        return command_from_row(row)

    async def get(self, command_id: int) -> Command | None:
        row = (
            await self._conn.execute(select(commands).where(commands.c.id == command_id))
        ).first()
        return None if row is None else command_from_row(row)

    async def mark_sent(self, command_id: int, at: datetime) -> None:
        result = await self._conn.execute(
            update(commands)
            .where(commands.c.id == command_id, commands.c.state == CommandState.QUEUED.value)
            .values(state=CommandState.SENT.value, sent_at=at)
        )
        if result.rowcount == 0:
            raise LookupError(f"no queued command {command_id}")

    async def finish(
        self,
        command_id: int,
        state: CommandState,
        at: datetime,
        status: str | None = None,
        response: dict[str, object] | None = None,
        error: str | None = None,
    ) -> Command:
        if not state.final:
            raise ValueError(f"{state} is not a final state")
        c = commands.c
        row = (
            await self._conn.execute(
                update(commands)
                .where(c.id == command_id, c.state.in_(_UNFINISHED))
                .values(
                    state=state.value,
                    finished_at=at,
                    status=status,
                    response=response,
                    error=error,
                )
                .returning(commands)
            )
        ).first()
        if row is None:
            raise LookupError(f"no unfinished command {command_id}")
        return command_from_row(row)

    async def queued(self, station_id: str) -> builtins.list[Command]:
        c = commands.c
        result = await self._conn.execute(
            select(commands)
            .where(c.station_id == station_id, c.state == CommandState.QUEUED.value)
            .order_by(c.id)
        )
        return [command_from_row(row) for row in result]

    async def stations_with_queued(self) -> builtins.list[str]:
        c = commands.c
        result = await self._conn.execute(
            select(c.station_id)
            .where(c.state == CommandState.QUEUED.value)
            .distinct()
            .order_by(c.station_id)
        )
        return [row.station_id for row in result]

    async def expire_queued(self, now: datetime) -> builtins.list[Command]:
        c = commands.c
        result = await self._conn.execute(
            update(commands)
            .where(
                c.state == CommandState.QUEUED.value,
                c.expires_at.is_not(None),
                c.expires_at <= now,
            )
            .values(state=CommandState.EXPIRED.value, finished_at=now, error="time-to-live passed")
            .returning(commands)
        )
        return sorted((command_from_row(row) for row in result), key=lambda cmd: cmd.id)

    async def fail_unfinished(self, at: datetime, error: str) -> int:
        result = await self._conn.execute(
            update(commands)
            .where(commands.c.state == CommandState.SENT.value)
            .values(state=CommandState.FAILED.value, finished_at=at, error=error)
        )
        return int(result.rowcount)

    async def list(
        self,
        station_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> builtins.list[Command]:
        c = commands.c
        stmt = select(commands)
        if station_id is not None:
            stmt = stmt.where(c.station_id == station_id)
        if action is not None:
            stmt = stmt.where(c.action == action)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        result = await self._conn.execute(stmt.order_by(c.id.desc()).limit(limit))
        return [command_from_row(row) for row in result]
