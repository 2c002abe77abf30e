"""Operator API keys: created once, stored hashed, checked on every request.

A key reads ``ocsms_<id>_<secret>``: ``id`` (16 hex digits) is public, shown
in lists and logs, and finds the row in one indexed read; ``secret`` is 256
random bits (``secrets.token_urlsafe(32)``), shown once at creation and stored
only as its SHA-256.

Why a plain SHA-256 and not scrypt/bcrypt like the stations' keys: a slow
hash protects *guessable* secrets (passwords, short AuthorizationKeys) against
an offline dictionary attack on a stolen database. A 256-bit random secret
cannot be guessed whatever the hash, so a slow one would only put
milliseconds of CPU on every API request for no gain. The stored digest is
compared with :func:`hmac.compare_digest` so the comparison does not leak
how many leading bytes matched.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.model import ApiKey, ApiRole
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.security_events import SecurityEventLog

PREFIX = "ocsms_"
_TOKEN = re.compile(r"ocsms_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key: a busy integration
must not turn every GET into a database write."""


def hash_secret(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: the record, and the plaintext token (never stored, shown once)."""

    key: ApiKey
    token: str


class ApiKeyService:
    """Keys made and revoked here are security events (``api_key.created``,
    ``api_key.revoked``) whoever asked: the CLI, the dashboard or a test."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock = utc_now,
        security: SecurityEventLog | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._security = security
        self._touched: dict[str, datetime] = {}

    async def _record(self, kind: str, key: ApiKey, remote: str | None, detail: str) -> None:
        if self._security is not None:
            detail = f"API key {key.id} ({key.role}) {detail}"
            await self._security.record(kind, key.name, remote, detail)

    async def create(
        self, name: str, role: ApiRole, by: str | None = None, remote: str | None = None
    ) -> CreatedKey:
        """A new key; ``by`` (who asked, e.g. ``operator alice``) and ``remote``
        only go into the security event."""
        name = name.strip()
        if not name or len(name) > 255:
            raise ValueError("an API key needs a name of 1 to 255 characters")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            id=key_id,
            name=name,
            role=ApiRole(role),
            key_hash=hash_secret(secret),
            created_at=self._clock(),
        )

        async def work(repos: Repositories) -> None:
            await repos.api_keys.add(key)

        await self._uow.run(work)
        await self._record("api_key.created", key, remote, _by("created", by))
        return CreatedKey(key, f"{PREFIX}{key_id}_{secret}")

    async def verify(self, token: str) -> ApiKey | None:
        """The key ``token`` stands for, or None (malformed, unknown, wrong
        secret or revoked: the caller cannot tell which, by design)."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        key_id = match["id"]

        async def read(repos: Repositories) -> ApiKey | None:
            return await repos.api_keys.get(key_id)

        key = await self._uow.read(read)
        expected = key.key_hash if key is not None else hash_secret("")
        matches = hmac.compare_digest(expected, hash_secret(match["secret"]))
        if key is None or not matches or key.revoked_at is not None:
            return None
        await self._touch(key_id)
        return key

    async def _touch(self, key_id: str) -> None:
        now = self._clock()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[key_id] = now

        async def work(repos: Repositories) -> None:
            await repos.api_keys.touch(key_id, now)

        await self._uow.run(work)

    async def revoke(self, key_id: str, by: str | None = None, remote: str | None = None) -> bool:
        """Revoke an active key; False when there is none (or it already was
        revoked). ``by`` and ``remote`` as for :meth:`create`."""
        at = self._clock()

        async def work(repos: Repositories) -> ApiKey | None:
            key = await repos.api_keys.get(key_id)
            return key if key is not None and await repos.api_keys.revoke(key_id, at) else None

        revoked = await self._uow.run(work)
        if revoked is None:
            return False
        await self._record("api_key.revoked", revoked, remote, _by("revoked", by))
        return True

    async def get(self, key_id: str) -> ApiKey | None:
        async def read(repos: Repositories) -> ApiKey | None:
            return await repos.api_keys.get(key_id)

        return await self._uow.read(read)

    async def list(self) -> builtins.list[ApiKey]:
        async def read(repos: Repositories) -> builtins.list[ApiKey]:
            return await repos.api_keys.list()

        return await self._uow.read(read)


def _by(done: str, by: str | None) -> str:
    return done if by is None else f"{done} by {by}"
