"""The fleet overview's queries (:class:`~opencsms.domain.ports.FleetQueryRepository`).

Each is one bounded statement, so the dashboard's home page costs the same
with 10 stations or 10,000:

* counts are aggregates (``count(*)``, ``GROUP BY status``), never rows;
* power now reads, per active transaction, only the samples at its latest
  ``Power.Active.Import`` reading time (or, for a station that reports no
  power, its latest ``Current.Import`` and ``Voltage``): the correlated
  subquery walks the ``(transaction_id, timestamp)`` index backwards and
  stops at the first such sample;
* the station list walks the primary key in id order from the page cursor
  and stops after ``limit`` matches. The text filter is a case-insensitive
  substring (``lower(x) LIKE '%q%'``): no index can serve a substring, but
  the walk in key order with a limit reads only until the page is full, so a
  common match costs a page and a miss at worst one pass over the stations
  table (a few milliseconds at 10,000 rows), with no extra index to keep.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, union_all

from opencsms.domain.charging_state import CURRENT, POWER, VOLTAGE
from opencsms.domain.model import (
    ConnectorStatus,
    PowerReading,
    ProvisioningItem,
    ProvisioningState,
    Station,
)
from opencsms.domain.ports import StationQuery
from opencsms.domain.smart_charging.records import ProfileRecord, ProfileState
from opencsms.storage.charging_repository import profile_from_row
from opencsms.storage.pending import Executor, PendingRows
from opencsms.storage.rows import (
    connector_status_from_row,
    provisioning_item_from_row,
    station_from_row,
)
from opencsms.storage.smart_charging_repository import in_batches
from opencsms.storage.tables import (
    charging_profiles,
    connector_status,
    meter_values,
    provisioning,
    site_members,
    stations,
    transactions,
)

_PROVISIONING_FAILED = (ProvisioningState.FAILED.value, ProvisioningState.REJECTED.value)


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards escaped."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlFleetQueries:
    def __init__(self, conn: Executor, pending: PendingRows | None = None) -> None:
        self._conn = conn
        self._pending = PendingRows(conn, deferred=False) if pending is None else pending

    async def station_count(self) -> int:
        result = await self._conn.execute(select(func.count()).select_from(stations))
        return int(result.scalar_one())

    async def connector_counts(self) -> dict[str, int]:
        await self._pending.flush_current_status()
        c = connector_status.c
        result = await self._conn.execute(
            select(c.status, func.count()).where(c.connector_id > 0).group_by(c.status)
        )
        return {row[0]: int(row[1]) for row in result}

    async def active_transaction_count(self) -> int:
        t = transactions.c
        result = await self._conn.execute(
            select(func.count()).select_from(transactions).where(t.stopped_at.is_(None))
        )
        return int(result.scalar_one())

    async def latest_power(
        self, station_ids: Collection[str] | None = None
    ) -> builtins.list[PowerReading]:
        await self._pending.flush_meter_values()
        if station_ids is not None and not station_ids:
            return []
        found: list[PowerReading] = []
        for chunk in [None] if station_ids is None else in_batches(station_ids):
            result = await self._conn.execute(_latest_power(chunk))
            found.extend(PowerReading._make(row) for row in result)
        return found

    async def search(
        self,
        where: StationQuery,
        limit: int,
        after: str | None = None,
        ids: Collection[str] | None = None,
    ) -> builtins.list[Station]:
        await self._pending.flush_seen()
        await self._pending.flush_current_status()
        s = stations.c
        stmt = select(stations).order_by(s.id).limit(limit)
        if after is not None:
            stmt = stmt.where(s.id > after)
        if ids is not None:
            if not ids:
                return []
            stmt = stmt.where(s.id.in_(sorted(ids)))
        if where.text:
            pattern = _like(where.text)
            stmt = stmt.where(
                or_(
                    *(
                        func.lower(column).like(pattern, escape="\\")
                        for column in (s.id, s.info_vendor, s.info_model)
                    )
                )
            )
        if where.connector_status:
            c = connector_status.c
            stmt = stmt.where(
                exists().where(
                    c.station_id == s.id,
                    c.connector_id > 0,
                    c.status == where.connector_status,
                )
            )
        if where.site_id:
            m = site_members.c
            stmt = stmt.where(exists().where(m.station_id == s.id, m.site_id == where.site_id))
        result = await self._conn.execute(stmt)
        return [station_from_row(row) for row in result]

    async def connectors_of(
        self, station_ids: Collection[str]
    ) -> dict[str, builtins.list[ConnectorStatus]]:
        await self._pending.flush_current_status()
        c = connector_status.c
        found: dict[str, list[ConnectorStatus]] = {}
        for chunk in in_batches(station_ids):
            result = await self._conn.execute(
                select(connector_status)
                .where(c.station_id.in_(chunk))
                .order_by(c.station_id, c.connector_id)
            )
            for row in result:
                found.setdefault(row.station_id, []).append(connector_status_from_row(row))
        return found

    async def connectors_in(self, status: str, limit: int) -> builtins.list[ConnectorStatus]:
        await self._pending.flush_current_status()
        c = connector_status.c
        result = await self._conn.execute(
            select(connector_status)
            .where(c.status == status, c.connector_id > 0)
            .order_by(c.updated_at.desc(), c.station_id, c.connector_id)
            .limit(limit)
        )
        return [connector_status_from_row(row) for row in result]

    async def seen_stations(
        self, limit: int, before: tuple[datetime, str] | None = None
    ) -> builtins.list[Station]:
        await self._pending.flush_seen()
        s = stations.c
        stmt = select(stations).where(s.last_seen_at.is_not(None))
        if before is not None:
            at, station_id = before
            stmt = stmt.where(
                or_(s.last_seen_at < at, and_(s.last_seen_at == at, s.id < station_id))
            )
        result = await self._conn.execute(
            stmt.order_by(s.last_seen_at.desc(), s.id.desc()).limit(limit)
        )
        return [station_from_row(row) for row in result]

    async def provisioning_failures(self, limit: int) -> builtins.list[ProvisioningItem]:
        c = provisioning.c
        result = await self._conn.execute(
            select(provisioning)
            .where(c.state.in_(_PROVISIONING_FAILED))
            .order_by(c.updated_at.desc(), c.station_id, c.key)
            .limit(limit)
        )
        return [provisioning_item_from_row(row) for row in result]

    async def profile_failures(self, limit: int) -> builtins.list[ProfileRecord]:
        c = charging_profiles.c
        result = await self._conn.execute(
            select(charging_profiles)
            .where(c.state == ProfileState.FAILED.value)
            .order_by(c.updated_at.desc(), c.station_id, c.connector_id)
            .limit(limit)
        )
        return [profile_from_row(row) for row in result]


def _latest_power(station_ids: list[str] | None) -> Any:
    """Active transactions first (a MATERIALIZED CTE, so the planner cannot
    turn it into a scan of every meter value), each with the time of its
    latest power sample (the ``(transaction_id, timestamp)`` index walked
    backwards) and, only for one without a power sample, of its latest
    current sample; then the samples at exactly those times, by the same
    index, only the columns of a :class:`PowerReading` (a fleet's worth of
    full rows took longer to decode than to find)."""
    t = transactions.c
    active = select(t.id.label("transaction_id"), _latest_at(POWER, t.id).label("at")).where(
        t.stopped_at.is_(None)
    )
    if station_ids is not None:
        active = active.where(t.station_id.in_(station_ids))
    readings = active.cte("readings").prefix_with("MATERIALIZED")
    # a CTE of its own, so the current's probe runs only where power found nothing
    currents = (
        select(
            readings.c.transaction_id,
            _latest_at(CURRENT, readings.c.transaction_id).label("at"),
        )
        .where(readings.c.at.is_(None))
        .cte("currents")
        .prefix_with("MATERIALIZED")
    )
    mv = meter_values.c
    columns = (
        mv.station_id,
        mv.transaction_id,
        mv.measurand,
        mv.phase,
        mv.value,
        mv.unit,
        mv.format,
    )
    power = (
        select(*columns)
        .select_from(readings)
        .join(
            meter_values,
            and_(mv.transaction_id == readings.c.transaction_id, mv.timestamp == readings.c.at),
        )
        .where(mv.measurand == POWER)
    )
    current = (
        select(*columns)
        .select_from(currents)
        .join(
            meter_values,
            and_(mv.transaction_id == currents.c.transaction_id, mv.timestamp == currents.c.at),
        )
        .where(mv.measurand.in_((CURRENT, VOLTAGE)))
    )
    return union_all(power, current)


def _latest_at(measurand: str, transaction_id: Any) -> Any:
    """The time of the latest ``measurand`` sample of ``transaction_id`` (a
    column of the enclosing query)."""
    latest = meter_values.alias("latest")
    return (
        select(latest.c.timestamp)
        .where(latest.c.transaction_id == transaction_id, latest.c.measurand == measurand)
        .order_by(latest.c.timestamp.desc())
        .limit(1)
        .correlate_except(latest)
        .scalar_subquery()
    )
