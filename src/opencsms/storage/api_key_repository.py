"""Operator API keys over SQLAlchemy Core.

Only the hash of a key's secret is stored (see :mod:`opencsms.domain.api_keys`);
the row mapping lives here rather than in ``rows.py`` because nothing else
reads this table.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from opencsms.domain.model import ApiKey, ApiRole
from opencsms.storage.pending import Executor
from opencsms.storage.tables import api_keys


class ApiKeyExists(Exception):
    """An API key with this id is already stored (ids are random: a bug, not bad luck)."""


def api_key_from_row(row: Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        id=m["id"],
        name=m["name"],
        role=ApiRole(m["role"]),
        key_hash=m["key_hash"],
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


class SqlApiKeyRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(self, key: ApiKey) -> None:
        values = {
            "id": key.id,
            "name": key.name,
            "role": str(key.role),
            "key_hash": key.key_hash,
            "created_at": key.created_at,
            "last_used_at": key.last_used_at,
            "revoked_at": key.revoked_at,
        }
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(api_keys).values(values))
        except IntegrityError as exc:
            raise ApiKeyExists(key.id) from exc

    async def get(self, key_id: str) -> ApiKey | None:
        row = (await self._conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return None if row is None else api_key_from_row(row)

    async def list(self) -> builtins.list[ApiKey]:
        result = await self._conn.execute(
            select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [api_key_from_row(row) for row in result]

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """Revoke a key not revoked yet; False when there is none (or it already was)."""
        result = await self._conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount > 0)

    async def touch(self, key_id: str, at: datetime) -> None:
        await self._conn.execute(
            update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at)
        )
