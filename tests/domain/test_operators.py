"""OperatorService on a real database: accounts, logins (right, wrong,
unknown, disabled, throttled), sessions (absolute expiry and idle timeout on
a fake clock, at most one write a minute), logout, password changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.model import ApiRole
from opencsms.domain.operators import (
    LoggedIn,
    OperatorExists,
    OperatorService,
    UnknownOperator,
    hash_password,
    verify_password,
)
from opencsms.domain.security_events import SecurityEventLog
from opencsms.security.throttle import LoginThrottle
from opencsms.storage import SqlUnitOfWork

COST = 4
PASSWORD = "correct horse battery"
ADDR = "203.0.113.9"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Harness:
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self.uow = uow
        self.clock = FakeClock()
        self.mono = 0.0
        self.sleeps: list[float] = []
        self.security = SecurityEventLog(uow, self.clock)
        self.operators = OperatorService(
            uow,
            self.clock,
            security=self.security,
            hash_cost=COST,
            session_ttl=timedelta(hours=12),
            idle_timeout=timedelta(hours=2),
            throttle=LoginThrottle(lambda: self.mono, threshold=3),
            sleep=self.sleep,
        )

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def kinds(self) -> list[tuple[str, str, str | None]]:
        await self.security.flush()
        return [(e.kind, e.subject, e.remote) for e in reversed(await self.security.recent())]

    async def last_seen_stored(self, session_id: str) -> datetime:
        found = await self.uow.read(lambda r: r.operators.get_session(session_id))
        assert found is not None
        return found.last_seen_at


@pytest.fixture
async def h(uow: SqlUnitOfWork) -> AsyncIterator[Harness]:
    harness = Harness(uow)
    yield harness
    await harness.security.flush()


def test_password_hash_is_salted_and_self_describing() -> None:
    one, two = hash_password(PASSWORD, COST), hash_password(PASSWORD, COST)
    assert one != two and one.startswith("scrypt$4$8$1$")
    assert PASSWORD not in one
    assert verify_password(one, PASSWORD) and verify_password(two, PASSWORD)
    assert not verify_password(one, PASSWORD + "\x00")
    assert not verify_password(one, PASSWORD[:-1])
    assert not verify_password("not a hash", PASSWORD)


async def test_create_validates_and_stores_only_a_hash(h: Harness) -> None:
    made = await h.operators.create("alice@example.org", PASSWORD, ApiRole.ADMIN)
    assert made.role is ApiRole.ADMIN and made.disabled_at is None
    assert PASSWORD not in made.password_hash
    assert await h.operators.list() == [made]
    with pytest.raises(OperatorExists, match="already exists"):
        await h.operators.create("alice@example.org", PASSWORD, ApiRole.READ_ONLY)
    for bad in ("", "a b", "x" * 65, "bob/..", "émile"):
        with pytest.raises(ValueError, match="operator name"):
            await h.operators.create(bad, PASSWORD, ApiRole.ADMIN)
    with pytest.raises(ValueError, match="at least 10 characters"):
        await h.operators.create("bob", "short", ApiRole.ADMIN)
    assert [o.name for o in await h.operators.list()] == ["alice@example.org"]
    assert await h.kinds() == [("operator.created", "alice@example.org", None)]


async def test_login_right_wrong_unknown_disabled(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.READ_ONLY)
    logged = await h.operators.login("alice", PASSWORD, ADDR)
    assert isinstance(logged, LoggedIn)
    session = logged.session
    assert session.operator == "alice" and session.role is ApiRole.READ_ONLY
    assert session.id != logged.token and len(session.id) == 64
    assert session.expires_at == h.clock.now + timedelta(hours=12)
    assert len(session.csrf_token) >= 32
    assert await h.operators.session(logged.token) == session

    assert await h.operators.login("alice", "wrong password!", ADDR) is None
    await h.security.flush()
    assert await h.operators.login("mallory", PASSWORD, ADDR) is None
    await h.security.flush()
    assert await h.operators.login("no such/name", PASSWORD, ADDR) is None
    await h.security.flush()
    await h.operators.disable("alice")
    h.clock.advance(timedelta(seconds=10))  # past the repeat window of alice's failure
    assert await h.operators.login("alice", PASSWORD, ADDR) is None
    assert await h.operators.session(logged.token) is None  # disabling ended it

    await h.security.flush()
    events = await h.security.recent()
    assert [e.kind for e in reversed(events)] == [
        "operator.created",
        "operator.login",
        "operator.login_failed",
        "operator.login_failed",
        "operator.login_failed",
        "operator.disabled",
        "operator.login_failed",
    ]
    failed = [e for e in events if e.kind == "operator.login_failed"]
    assert {e.detail for e in failed} == {
        "wrong password",
        "unknown operator",
        "operator is disabled",
    }
    assert all(PASSWORD not in e.detail and e.remote == ADDR for e in failed)


async def test_a_disabled_operator_enabled_logs_in_with_its_password(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    await h.operators.enable("alice")  # not disabled: nothing to do, nothing recorded
    await h.operators.disable("alice")
    assert await h.operators.login("alice", PASSWORD, ADDR) is None
    await h.operators.enable("alice")
    assert isinstance(await h.operators.login("alice", PASSWORD, ADDR), LoggedIn)
    with pytest.raises(UnknownOperator):
        await h.operators.enable("mallory")
    await h.security.flush()
    assert [e.kind for e in reversed(await h.security.recent())] == [
        "operator.created",
        "operator.disabled",
        "operator.login_failed",
        "operator.enabled",
        "operator.login",
    ]


async def test_repeated_failures_are_held_back_but_never_a_success(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    for _ in range(5):
        assert await h.operators.login("alice", "wrong password!", ADDR) is None
    assert h.sleeps == [1.0, 2.0]  # threshold 3: the 4th and 5th failures wait
    assert await h.operators.login("alice", PASSWORD, ADDR) is not None
    assert h.sleeps == [1.0, 2.0]


async def test_session_ends_at_the_absolute_expiry(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    logged = await h.operators.login("alice", PASSWORD)
    assert logged is not None
    for _ in range(11):  # busy all day: never idle
        h.clock.advance(timedelta(hours=1))
        assert await h.operators.session(logged.token) is not None
    h.clock.advance(timedelta(hours=1))
    assert await h.operators.session(logged.token) is None


async def test_idle_timeout_and_last_seen_written_at_most_once_a_minute(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    logged = await h.operators.login("alice", PASSWORD)
    assert logged is not None
    start = h.clock.now
    h.clock.advance(timedelta(seconds=30))
    seen = await h.operators.session(logged.token)
    assert seen is not None and seen.last_seen_at == start
    assert await h.last_seen_stored(logged.session.id) == start  # no write
    h.clock.advance(timedelta(seconds=30))
    seen = await h.operators.session(logged.token)
    assert seen is not None and seen.last_seen_at == h.clock.now
    assert await h.last_seen_stored(logged.session.id) == h.clock.now

    h.clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert await h.operators.session(logged.token) is not None  # refreshed
    h.clock.advance(timedelta(hours=2))
    assert await h.operators.session(logged.token) is None


async def test_unknown_tokens_and_logout(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    one = await h.operators.login("alice", PASSWORD)
    two = await h.operators.login("alice", PASSWORD)
    assert one is not None and two is not None and one.token != two.token
    assert await h.operators.session("") is None
    assert await h.operators.session("forged-token") is None
    assert await h.operators.session(one.session.id) is None  # the id is not a token
    await h.operators.logout(one.token)
    await h.operators.logout(one.token)  # no-op
    await h.operators.logout("forged-token")  # no-op
    assert await h.operators.session(one.token) is None
    assert await h.operators.session(two.token) is not None
    assert [k for k, _, _ in await h.kinds()].count("operator.logout") == 1


async def test_password_change_ends_sessions(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    await h.operators.create("bob", PASSWORD, ApiRole.ADMIN)
    alice = await h.operators.login("alice", PASSWORD)
    bob = await h.operators.login("bob", PASSWORD)
    assert alice is not None and bob is not None
    with pytest.raises(ValueError, match="at least 10"):
        await h.operators.set_password("alice", "short")
    assert await h.operators.session(alice.token) is not None
    await h.operators.set_password("alice", "a new long password")
    assert await h.operators.session(alice.token) is None
    assert await h.operators.session(bob.token) is not None
    assert await h.operators.login("alice", PASSWORD) is None
    assert await h.operators.login("alice", "a new long password") is not None
    with pytest.raises(UnknownOperator):
        await h.operators.set_password("carol", "a new long password")
    with pytest.raises(UnknownOperator):
        await h.operators.disable("carol")
    changed = [e for e in await h.security.recent() if e.kind == "operator.password_changed"]
    assert [(e.subject, e.detail) for e in changed] == [
        ("alice", "password changed; 1 session ended")
    ]


async def test_expired_sessions_are_deleted_at_login(h: Harness) -> None:
    await h.operators.create("alice", PASSWORD, ApiRole.ADMIN)
    old = await h.operators.login("alice", PASSWORD)
    assert old is not None
    h.clock.advance(timedelta(hours=13))
    assert await h.operators.login("alice", PASSWORD) is not None
    assert await h.uow.read(lambda r: r.operators.get_session(old.session.id)) is None
