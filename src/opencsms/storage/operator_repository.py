"""Dashboard operators, their sessions and the security-event log over
SQLAlchemy Core.

Sessions are found by their id, the SHA-256 of the cookie's token (see
:mod:`opencsms.domain.operators`): the token itself is never stored. The row
mappings live here rather than in ``rows.py`` because nothing else reads
these tables.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opencsms.domain.model import ApiRole, Operator, OperatorSession, SecurityEvent
from opencsms.domain.ports import OperatorExists
from opencsms.storage.pending import Executor
from opencsms.storage.tables import operator_sessions, operators, security_events

__all__ = ["SqlOperatorRepository", "SqlSecurityEventRepository"]


def _operator(row: Row[Any]) -> Operator:
    m = row._mapping
    return Operator(
        name=m["name"],
        role=ApiRole(m["role"]),
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        disabled_at=m["disabled_at"],
    )


def _session(row: Row[Any]) -> OperatorSession:
    m = row._mapping
    return OperatorSession(
        id=m["id"],
        operator=m["operator"],
        role=ApiRole(m["role"]),
        csrf_token=m["csrf_token"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_seen_at=m["last_seen_at"],
    )


def _event(row: Row[Any]) -> SecurityEvent:
    m = row._mapping
    return SecurityEvent(
        id=m["id"],
        at=m["at"],
        kind=m["kind"],
        subject=m["subject"],
        remote=m["remote"],
        detail=m["detail"],
    )


class SqlOperatorRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(self, operator: Operator) -> None:
        values = {
            "name": operator.name,
            "role": str(operator.role),
            "password_hash": operator.password_hash,
            "created_at": operator.created_at,
            "disabled_at": operator.disabled_at,
        }
        # A savepoint keeps a duplicate from aborting the caller's transaction.
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(operators).values(values))
        except IntegrityError as exc:
            raise OperatorExists(operator.name) from exc

    async def get(self, name: str) -> Operator | None:
        row = (await self._conn.execute(select(operators).where(operators.c.name == name))).first()
        return None if row is None else _operator(row)

    async def list(self) -> builtins.list[Operator]:
        result = await self._conn.execute(select(operators).order_by(operators.c.name))
        return [_operator(row) for row in result]

    async def set_password_hash(self, name: str, password_hash: str) -> bool:
        result = await self._conn.execute(
            update(operators).where(operators.c.name == name).values(password_hash=password_hash)
        )
        return bool(result.rowcount > 0)

    async def disable(self, name: str, at: datetime) -> bool:
        if await self.get(name) is None:
            return False
        await self._conn.execute(
            update(operators)
            .where(operators.c.name == name, operators.c.disabled_at.is_(None))
            .values(disabled_at=at)
        )
        return True

    async def enable(self, name: str) -> bool:
        result = await self._conn.execute(
            update(operators).where(operators.c.name == name).values(disabled_at=None)
        )
        return bool(result.rowcount > 0)

    async def add_session(self, session: OperatorSession) -> None:
        await self._conn.execute(
            insert(operator_sessions).values(
                id=session.id,
                operator=session.operator,
                role=str(session.role),
                csrf_token=session.csrf_token,
                created_at=session.created_at,
                expires_at=session.expires_at,
                last_seen_at=session.last_seen_at,
            )
        )

    async def get_session(self, session_id: str) -> OperatorSession | None:
        stmt = select(operator_sessions).where(operator_sessions.c.id == session_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _session(row)

    async def touch_session(self, session_id: str, at: datetime) -> None:
        await self._conn.execute(
            update(operator_sessions)
            .where(operator_sessions.c.id == session_id)
            .values(last_seen_at=at)
        )

    async def remove_session(self, session_id: str) -> bool:
        result = await self._conn.execute(
            delete(operator_sessions).where(operator_sessions.c.id == session_id)
        )
        return bool(result.rowcount > 0)

    async def remove_sessions_of(self, name: str) -> int:
        result = await self._conn.execute(
            delete(operator_sessions).where(operator_sessions.c.operator == name)
        )
        return int(result.rowcount)

    async def remove_expired_sessions(self, now: datetime) -> int:
        result = await self._conn.execute(
            delete(operator_sessions).where(operator_sessions.c.expires_at <= now)
        )
        return int(result.rowcount)


class SqlSecurityEventRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(self, event: SecurityEvent) -> SecurityEvent:
        result = await self._conn.execute(
            insert(security_events)
            .values(
                at=event.at,
                kind=event.kind,
                subject=event.subject,
                remote=event.remote,
                detail=event.detail,
            )
            .returning(security_events.c.id)
        )
        return SecurityEvent(
            id=int(result.scalar_one()),
            at=event.at,
            kind=event.kind,
            subject=event.subject,
            remote=event.remote,
            detail=event.detail,
        )

    async def recent(
        self, limit: int, before_id: int | None = None, kind: str | None = None
    ) -> builtins.list[SecurityEvent]:
        c = security_events.c
        stmt = select(security_events)
        if before_id is not None:
            stmt = stmt.where(c.id < before_id)
        if kind is not None:
            stmt = stmt.where(c.kind == kind)
        result = await self._conn.execute(stmt.order_by(c.id.desc()).limit(limit))
        return [_event(row) for row in result]
