"""The :class:`~opencsms.domain.ports.ConfigurationRepository` over SQLAlchemy Core.

Two tables: ``station_configuration`` holds each station's last
GetConfiguration answer (one row per key, replaced as a whole by a new
snapshot, so a key the station no longer reports disappears), and
``provisioning`` holds one row per desired key with how far it got. Both are
keyed by (station, key) and written with an upsert, so provisioning can run
again on every connect without reading first.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from opencsms.domain.model import ConfigurationEntry, ProvisioningItem
from opencsms.storage.pending import Executor, upsert
from opencsms.storage.rows import provisioning_item_from_row
from opencsms.storage.tables import provisioning, station_configuration

_ENTRY_COLUMNS = ["station_id", "key", "value", "readonly", "reported_at"]
_ITEM_COLUMNS = ["station_id", "key", "desired_value", "state", "attempts", "updated_at", "detail"]


def _entry_values(entry: ConfigurationEntry) -> dict[str, Any]:
    return {
        "station_id": entry.station_id,
        "key": entry.key,
        "value": entry.value,
        "readonly": entry.readonly,
        "reported_at": entry.reported_at,
    }


class SqlConfigurationRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def replace_snapshot(
        self, station_id: str, entries: Sequence[ConfigurationEntry]
    ) -> None:
        await self._conn.execute(
            delete(station_configuration).where(station_configuration.c.station_id == station_id)
        )
        rows = [_entry_values(entry) for entry in entries if entry.station_id == station_id]
        if len(rows) != len(entries):
            raise ValueError(f"snapshot of {station_id!r} holds another station's entries")
        if rows:
            await self._conn.execute(insert(station_configuration), rows)

    async def put_entry(self, entry: ConfigurationEntry) -> None:
        values = _entry_values(entry)
        stmt = upsert(
            self._conn.dialect.name, station_configuration, ["station_id", "key"], _ENTRY_COLUMNS
        )
        await self._conn.execute(stmt, values)

    async def snapshot(self, station_id: str) -> builtins.list[ConfigurationEntry]:
        c = station_configuration.c
        result = await self._conn.execute(
            select(station_configuration).where(c.station_id == station_id).order_by(c.key)
        )
        return [
            ConfigurationEntry(
                station_id=row.station_id,
                key=row.key,
                value=row.value,
                readonly=row.readonly,
                reported_at=row.reported_at,
            )
            for row in result
        ]

    async def put_item(self, item: ProvisioningItem) -> None:
        values = {
            "station_id": item.station_id,
            "key": item.key,
            "desired_value": item.desired_value,
            "state": item.state.value,
            "attempts": item.attempts,
            "updated_at": item.updated_at,
            "detail": item.detail,
        }
        stmt = upsert(self._conn.dialect.name, provisioning, ["station_id", "key"], _ITEM_COLUMNS)
        await self._conn.execute(stmt, values)

    async def items(self, station_id: str) -> builtins.list[ProvisioningItem]:
        c = provisioning.c
        result = await self._conn.execute(
            select(provisioning).where(c.station_id == station_id).order_by(c.key)
        )
        return [provisioning_item_from_row(row) for row in result]
