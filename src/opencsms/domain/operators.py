"""Dashboard operators: accounts with a password, and server-side sessions.

Passwords are stored as a salted scrypt hash in the self-describing format
of the stations' keys (``scrypt$<log2N>$<r>$<p>$<salt>$<hash>``, see
:mod:`opencsms.security.keys`), so the cost can be raised later without
invalidating stored hashes. What is hashed is the SHA-256 of the password's
NFC-normalised UTF-8: a fixed-length scrypt input, so scrypt's HMAC key
padding cannot make two passwords hash alike, and a long password costs no
more than a short one; NFC makes the same password typed on two systems the
same bytes.

Logins are built like the stations' (:mod:`opencsms.security.station_auth`):
scrypt runs in a worker thread, a bounded number at a time; an unknown name
still costs one (dummy) scrypt run, and an unknown name, a wrong password
and a disabled operator all answer ``None``, so neither the answer nor its
time tells which names exist; failures are counted per name and per remote
address by a :class:`~opencsms.security.throttle.LoginThrottle` and, beyond
its threshold, answered only after its penalty. A success never waits.

A session is a random token (256 bits) in the browser's cookie; the database
holds only its SHA-256 (the session ``id``), so a stolen database holds no
usable session, and a fast hash is enough because the token cannot be
guessed (see :mod:`opencsms.domain.api_keys`). A session ends at its
absolute ``expires_at``, after ``idle_timeout`` without a request, at
logout, or when its operator is disabled or given a new password.
``last_seen_at`` is written at most once a minute per session, not per
request.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.model import ApiRole, Operator, OperatorSession
from opencsms.domain.ports import OperatorExists, Repositories, UnitOfWork
from opencsms.domain.security_events import SecurityEventLog
from opencsms.security.keys import MAX_COST, MIN_COST
from opencsms.security.throttle import LoginThrottle

__all__ = [
    "MIN_PASSWORD",
    "LoggedIn",
    "OperatorExists",
    "OperatorService",
    "UnknownOperator",
    "check_name",
    "check_password",
    "generate_password",
    "hash_password",
    "verify_password",
]

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOUCH_EVERY = timedelta(minutes=1)
"""``last_seen_at`` is written at most this often per session."""
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_R = 8
_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_DUMMY_SALT = b"opencsms-nobody!"


class UnknownOperator(LookupError):
    """No operator has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no operator named {name!r}")
        self.name = name


@dataclass(frozen=True, slots=True)
class LoggedIn:
    """A new session and its token (for the cookie; only its hash is stored)."""

    token: str
    session: OperatorSession


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(
            "an operator name must be 1 to 64 characters of letters, digits and . _ @ -"
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"a password must have at most {MAX_PASSWORD} characters")


def generate_password() -> str:
    """A strong random password: 144 bits as 24 URL-safe characters."""
    return secrets.token_urlsafe(18)


def _prehash(password: str) -> bytes:
    text = unicodedata.normalize("NFC", password)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _scrypt(secret: bytes, salt: bytes, cost: int, r: int, p: int, length: int) -> bytes:
    n = 1 << cost
    maxmem = 128 * r * n * p + 128 * r * n + (1 << 20)
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)


def _check_cost(cost: int) -> None:
    if not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"scrypt cost (log2 N) must be in {MIN_COST}..{MAX_COST}")


def hash_password(password: str, cost: int = 14) -> str:
    """Salted scrypt hash: ``scrypt$<log2N>$<r>$<p>$<salt>$<hash>`` (base64 parts)."""
    _check_cost(cost)
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(_prehash(password), salt, cost, _R, _P, _HASH_BYTES)
    b64 = base64.b64encode
    return f"scrypt${cost}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches ``stored``; False also when ``stored`` is
    malformed (after the same work, so the time does not tell)."""
    try:
        kind, cost_s, r_s, p_s, salt_s, digest_s = stored.split("$")
        cost, r, p = int(cost_s), int(r_s), int(p_s)
        salt = base64.b64decode(salt_s, validate=True)
        expected = base64.b64decode(digest_s, validate=True)
        _check_cost(cost)
        if kind != "scrypt" or not (1 <= r <= 32 and 1 <= p <= 16 and salt and expected):
            raise ValueError
    except ValueError:
        dummy_verify(14)
        return False
    actual = _scrypt(_prehash(password), salt, cost, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def dummy_verify(cost: int) -> None:
    """Spend the time of one :func:`verify_password` at ``cost`` (unknown names)."""
    _check_cost(cost)
    actual = _scrypt(_prehash(""), _DUMMY_SALT, cost, _R, _P, _HASH_BYTES)
    hmac.compare_digest(actual, bytes(_HASH_BYTES))


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class OperatorService:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock = utc_now,
        *,
        security: SecurityEventLog,
        hash_cost: int = 14,
        session_ttl: timedelta = timedelta(hours=12),
        idle_timeout: timedelta = timedelta(hours=2),
        throttle: LoginThrottle | None = None,
        max_parallel_hashes: int = 2,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``throttle`` defaults to 5 failures a minute per name and per address
        before failures are held back; ``sleep`` is injectable so tests can
        see the penalty without waiting for it."""
        _check_cost(hash_cost)
        if session_ttl <= timedelta(0) or idle_timeout <= timedelta(0):
            raise ValueError("session_ttl and idle_timeout must be positive")
        self._uow = uow
        self._clock = clock
        self._security = security
        self._cost = hash_cost
        self._ttl = session_ttl
        self._idle = idle_timeout
        self._throttle = LoginThrottle(time.monotonic) if throttle is None else throttle
        self._hash_slots = asyncio.Semaphore(max_parallel_hashes)
        self._sleep = sleep

    async def _hash(self, password: str) -> str:
        async with self._hash_slots:
            return await asyncio.to_thread(hash_password, password, self._cost)

    async def create(self, name: str, password: str, role: ApiRole) -> Operator:
        """A new operator; ValueError on a bad name or password,
        :class:`OperatorExists` (a ValueError) on a name that is taken."""
        check_name(name)
        check_password(password)
        role = ApiRole(role)

        async def exists(repos: Repositories) -> bool:
            return await repos.operators.get(name) is not None

        if await self._uow.read(exists):  # spare the scrypt run
            raise OperatorExists(name)
        operator = Operator(name, role, await self._hash(password), self._clock())

        async def work(repos: Repositories) -> None:
            await repos.operators.add(operator)

        await self._uow.run(work)
        await self._security.record("operator.created", name, None, f"created with role {role}")
        return operator

    async def login(self, name: str, password: str, remote: str | None = None) -> LoggedIn | None:
        """A new session, or None for an unknown name, a wrong password or a
        disabled operator (the caller cannot tell which, by design)."""
        operator = await self._get(name) if _NAME.fullmatch(name) else None
        async with self._hash_slots:
            if operator is None:
                await asyncio.to_thread(dummy_verify, self._cost)
                right = False
            else:
                right = await asyncio.to_thread(verify_password, operator.password_hash, password)
        if operator is None or not right or operator.disabled_at is not None:
            reason = (
                "unknown operator"
                if operator is None
                else "wrong password"
                if not right
                else "operator is disabled"
            )
            await self._fail(name, remote, reason)
            return None
        self._throttle.record_success(name, remote or "-")
        return await self._open_session(operator, remote)

    async def _fail(self, name: str, remote: str | None, reason: str) -> None:
        """Count the failure, log it (bounded) and hold the answer back by the
        throttle's penalty."""
        delay = self._throttle.penalty(name, remote or "-")
        self._throttle.record_failure(name, remote or "-")
        self._security.record_soon("operator.login_failed", name[:255], remote, reason)
        if delay > 0:
            await self._sleep(delay)

    async def _open_session(self, operator: Operator, remote: str | None) -> LoggedIn:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = OperatorSession(
            id=_session_id(token),
            operator=operator.name,
            role=operator.role,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self._ttl,
            last_seen_at=now,
        )

        async def work(repos: Repositories) -> None:
            await repos.operators.remove_expired_sessions(now)
            await repos.operators.add_session(session)

        await self._uow.run(work)
        await self._security.record("operator.login", operator.name, remote, "logged in")
        return LoggedIn(token, session)

    async def session(self, token: str) -> OperatorSession | None:
        """The live session of ``token``, or None (unknown, expired, idle past
        the idle timeout, or its operator disabled)."""
        if not token:
            return None
        session_id = _session_id(token)

        async def read(repos: Repositories) -> tuple[OperatorSession | None, Operator | None]:
            found = await repos.operators.get_session(session_id)
            if found is None:
                return None, None
            return found, await repos.operators.get(found.operator)

        session, operator = await self._uow.read(read)
        now = self._clock()
        if session is None or operator is None or operator.disabled_at is not None:
            return None
        if now >= session.expires_at or now - session.last_seen_at >= self._idle:
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:

            async def touch(repos: Repositories) -> None:
                await repos.operators.touch_session(session_id, now)

            await self._uow.run(touch)
            session = replace(session, last_seen_at=now)
        return session

    async def logout(self, token: str, remote: str | None = None) -> None:
        """End the session of ``token``; an unknown token is a no-op."""
        if not token:
            return
        session_id = _session_id(token)

        async def work(repos: Repositories) -> OperatorSession | None:
            found = await repos.operators.get_session(session_id)
            if found is not None:
                await repos.operators.remove_session(session_id)
            return found

        ended = await self._uow.run(work)
        if ended is not None:
            await self._security.record("operator.logout", ended.operator, remote, "logged out")

    async def list(self) -> builtins.list[Operator]:
        async def read(repos: Repositories) -> builtins.list[Operator]:
            return await repos.operators.list()

        return await self._uow.read(read)

    async def get(self, name: str) -> Operator | None:
        return await self._get(name) if _NAME.fullmatch(name) else None

    async def set_password(self, name: str, password: str) -> None:
        """A new password; ends the operator's sessions. :class:`UnknownOperator`
        on an unknown name, ValueError on a bad password."""
        check_password(password)
        if await self.get(name) is None:  # before the scrypt run
            raise UnknownOperator(name)
        password_hash = await self._hash(password)

        async def work(repos: Repositories) -> int:
            if not await repos.operators.set_password_hash(name, password_hash):
                raise UnknownOperator(name)
            return await repos.operators.remove_sessions_of(name)

        ended = await self._uow.run(work)
        await self._security.record(
            "operator.password_changed",
            name,
            None,
            f"password changed; {_sessions(ended)} ended",
        )

    async def disable(self, name: str) -> None:
        """The operator can no longer log in; its sessions end at once.
        :class:`UnknownOperator` on an unknown name."""
        at = self._clock()

        async def work(repos: Repositories) -> int:
            if not await repos.operators.disable(name, at):
                raise UnknownOperator(name)
            return await repos.operators.remove_sessions_of(name)

        ended = await self._uow.run(work)
        await self._security.record(
            "operator.disabled", name, None, f"disabled; {_sessions(ended)} ended"
        )

    async def enable(self, name: str) -> None:
        """A disabled operator can log in again (with its password as it was).
        :class:`UnknownOperator` on an unknown name; nothing is recorded for
        one that was not disabled."""
        operator = await self.get(name)
        if operator is None:
            raise UnknownOperator(name)
        if operator.disabled_at is None:
            return

        async def work(repos: Repositories) -> None:
            if not await repos.operators.enable(name):
                raise UnknownOperator(name)

        await self._uow.run(work)
        await self._security.record("operator.enabled", name, None, "enabled")

    async def _get(self, name: str) -> Operator | None:
        async def read(repos: Repositories) -> Operator | None:
            return await repos.operators.get(name)

        return await self._uow.read(read)


def _sessions(count: int) -> str:
    return "1 session" if count == 1 else f"{count} sessions"
