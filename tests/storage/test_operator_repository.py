"""Operators, their sessions and security events on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.model import ApiRole, Operator, OperatorSession, SecurityEvent
from opencsms.domain.ports import OperatorExists, Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def operator(name: str, role: ApiRole = ApiRole.ADMIN) -> Operator:
    return Operator(name, role, f"scrypt$4$8$1$salt-of-{name}$hash", T0)


def session(session_id: str, name: str, hours: float = 12) -> OperatorSession:
    return OperatorSession(
        id=session_id,
        operator=name,
        role=ApiRole.ADMIN,
        csrf_token="c" * 43,
        created_at=T0,
        expires_at=T0 + timedelta(hours=hours),
        last_seen_at=T0,
    )


async def test_operators_add_get_list_password_disable_enable(uow: SqlUnitOfWork) -> None:
    bob, alice = operator("bob", ApiRole.READ_ONLY), operator("alice")

    async def add(r: Repositories) -> None:
        await r.operators.add(bob)
        await r.operators.add(alice)

    await uow.run(add)
    assert await uow.read(lambda r: r.operators.list()) == [alice, bob]
    assert await uow.read(lambda r: r.operators.get("bob")) == bob
    assert await uow.read(lambda r: r.operators.get("carol")) is None

    async def duplicate(r: Repositories) -> str:
        with pytest.raises(OperatorExists):
            await r.operators.add(replace(alice, role=ApiRole.READ_ONLY))
        # the savepoint kept the transaction usable (PostgreSQL)
        found = await r.operators.get("alice")
        assert found is not None
        return found.role

    assert await uow.run(duplicate) == ApiRole.ADMIN

    assert await uow.run(lambda r: r.operators.set_password_hash("bob", "scrypt$new"))
    assert not await uow.run(lambda r: r.operators.set_password_hash("carol", "x"))
    later = T0 + timedelta(days=1)
    assert await uow.run(lambda r: r.operators.disable("bob", later))
    assert await uow.run(lambda r: r.operators.disable("bob", later + timedelta(days=1)))
    assert not await uow.run(lambda r: r.operators.disable("carol", later))
    assert await uow.read(lambda r: r.operators.get("bob")) == replace(
        bob, password_hash="scrypt$new", disabled_at=later
    )
    assert await uow.run(lambda r: r.operators.enable("bob"))
    assert await uow.run(lambda r: r.operators.enable("alice"))  # never disabled: still true
    assert not await uow.run(lambda r: r.operators.enable("carol"))
    assert await uow.read(lambda r: r.operators.list()) == [
        alice,
        replace(bob, password_hash="scrypt$new"),
    ]


async def test_sessions_add_touch_remove_expire(uow: SqlUnitOfWork) -> None:
    async def setup(r: Repositories) -> None:
        await r.operators.add(operator("alice"))
        await r.operators.add(operator("bob"))
        await r.operators.add_session(session("a" * 64, "alice"))
        await r.operators.add_session(session("b" * 64, "alice", hours=1))
        await r.operators.add_session(session("c" * 64, "bob"))

    await uow.run(setup)
    assert await uow.read(lambda r: r.operators.get_session("a" * 64)) == session("a" * 64, "alice")
    assert await uow.read(lambda r: r.operators.get_session("d" * 64)) is None

    seen = T0 + timedelta(minutes=5)
    await uow.run(lambda r: r.operators.touch_session("a" * 64, seen))
    touched = await uow.read(lambda r: r.operators.get_session("a" * 64))
    assert touched is not None and touched.last_seen_at == seen

    assert (
        await uow.run(lambda r: r.operators.remove_expired_sessions(T0 + timedelta(hours=1))) == 1
    )
    assert await uow.read(lambda r: r.operators.get_session("b" * 64)) is None
    assert await uow.run(lambda r: r.operators.remove_sessions_of("alice")) == 1
    assert await uow.read(lambda r: r.operators.get_session("a" * 64)) is None
    assert await uow.run(lambda r: r.operators.remove_session("c" * 64))
    assert not await uow.run(lambda r: r.operators.remove_session("c" * 64))


async def test_security_events_add_and_page(uow: SqlUnitOfWork) -> None:
    kinds = ["station.login_failed", "operator.login", "station.login_failed", "operator.logout"]

    async def add(r: Repositories) -> list[SecurityEvent]:
        return [
            await r.security_events.add(
                SecurityEvent(None, T0 + timedelta(seconds=i), kind, f"s{i}", None, "why")
            )
            for i, kind in enumerate(kinds)
        ]

    stored = await uow.run(add)
    ids = [e.id for e in stored]
    assert all(i is not None for i in ids) and ids == sorted(ids)
    assert stored[1] == SecurityEvent(
        ids[1], T0 + timedelta(seconds=1), kinds[1], "s1", None, "why"
    )
    newest = await uow.read(lambda r: r.security_events.recent(10))
    assert newest == stored[::-1]
    assert await uow.read(lambda r: r.security_events.recent(2, before_id=ids[2])) == [
        stored[1],
        stored[0],
    ]
    failed = await uow.read(lambda r: r.security_events.recent(10, kind="station.login_failed"))
    assert failed == [stored[2], stored[0]]
    assert await uow.read(
        lambda r: r.security_events.recent(10, before_id=ids[2], kind="station.login_failed")
    ) == [stored[0]]
