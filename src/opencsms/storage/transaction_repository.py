"""The :class:`~opencsms.domain.ports.TransactionRepository` over SQLAlchemy Core.

Kept apart from ``repositories.py`` for size only. Choices the port leaves open:
``finish`` updates only a transaction of the same station and raises
:class:`LookupError` when there is none; "newest first" is by ``started_at``
(the station's clock), then id.
"""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import and_, insert, select, update

from opencsms.domain.model import (
    OrphanStop,
    TagStatus,
    Transaction,
    TransactionStart,
    TransactionStop,
)
from opencsms.storage.pending import Executor
from opencsms.storage.rows import orphan_stop_from_row, transaction_from_row
from opencsms.storage.tables import orphan_stops, transactions


class SqlTransactionRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def find_start(self, start: TransactionStart) -> Transaction | None:
        c = transactions.c
        row = (
            await self._conn.execute(
                select(transactions).where(
                    c.station_id == start.station_id,
                    c.connector_id == start.connector_id,
                    c.id_tag == start.id_tag,
                    c.started_at == start.started_at,
                    c.meter_start == start.meter_start,
                )
            )
        ).first()
        return None if row is None else transaction_from_row(row)

    async def find_active_for_tag(self, id_tag: str) -> Transaction | None:
        c = transactions.c
        row = (
            await self._conn.execute(
                select(transactions)
                .where(c.id_tag == id_tag, c.stopped_at.is_(None))
                .order_by(c.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else transaction_from_row(row)

    async def create(self, start: TransactionStart, tag_status: TagStatus) -> Transaction:
        row = (
            await self._conn.execute(
                insert(transactions)
                .values(
                    station_id=start.station_id,
                    connector_id=start.connector_id,
                    id_tag=start.id_tag,
                    tag_status=tag_status,
                    meter_start=start.meter_start,
                    started_at=start.started_at,
                    reservation_id=start.reservation_id,
                    meter_anomaly=False,
                )
                .returning(transactions)
            )
        ).one()
        return transaction_from_row(row)

    async def get(self, transaction_id: int) -> Transaction | None:
        row = (
            await self._conn.execute(
                select(transactions).where(transactions.c.id == transaction_id)
            )
        ).first()
        return None if row is None else transaction_from_row(row)

    async def finish(
        self, stop: TransactionStop, energy_wh: int | None, meter_anomaly: bool
    ) -> Transaction:
        c = transactions.c
        row = (
            await self._conn.execute(
                update(transactions)
                .where(c.id == stop.transaction_id, c.station_id == stop.station_id)
                .values(
                    meter_stop=stop.meter_stop,
                    stopped_at=stop.stopped_at,
                    stop_reason=stop.reason,
                    stop_id_tag=stop.id_tag,
                    energy_wh=energy_wh,
                    meter_anomaly=meter_anomaly,
                )
                .returning(transactions)
            )
        ).first()
        if row is None:
            raise LookupError(
                f"no transaction {stop.transaction_id} of station {stop.station_id!r}"
            )
        return transaction_from_row(row)

    async def list(
        self,
        station_id: str | None = None,
        active_only: bool = False,
        limit: int = 100,
        *,
        id_tag: str | None = None,
        started_from: datetime | None = None,
        started_before: datetime | None = None,
        offset: int = 0,
    ) -> builtins.list[Transaction]:
        c = transactions.c
        stmt = select(transactions)
        if station_id is not None:
            stmt = stmt.where(c.station_id == station_id)
        if active_only:
            stmt = stmt.where(c.stopped_at.is_(None))
        if id_tag is not None:
            stmt = stmt.where(c.id_tag == id_tag)
        if started_from is not None:
            stmt = stmt.where(c.started_at >= started_from)
        if started_before is not None:
            stmt = stmt.where(c.started_at < started_before)
        stmt = stmt.order_by(c.started_at.desc(), c.id.desc()).limit(limit).offset(offset)
        return [transaction_from_row(row) for row in await self._conn.execute(stmt)]

    async def find_orphan_stop(self, stop: TransactionStop) -> OrphanStop | None:
        c = orphan_stops.c
        row = (
            await self._conn.execute(
                select(orphan_stops)
                .where(
                    and_(
                        c.station_id == stop.station_id,
                        c.reported_transaction_id == stop.transaction_id,
                        c.stopped_at == stop.stopped_at,
                        c.meter_stop == stop.meter_stop,
                    )
                )
                .order_by(c.id)
                .limit(1)
            )
        ).first()
        return None if row is None else orphan_stop_from_row(row)

    async def add_orphan_stop(self, stop: TransactionStop, received_at: datetime) -> OrphanStop:
        row = (
            await self._conn.execute(
                insert(orphan_stops)
                .values(
                    station_id=stop.station_id,
                    reported_transaction_id=stop.transaction_id,
                    meter_stop=stop.meter_stop,
                    stopped_at=stop.stopped_at,
                    received_at=received_at,
                    reason=stop.reason,
                    id_tag=stop.id_tag,
                )
                .returning(orphan_stops)
            )
        ).one()
        return orphan_stop_from_row(row)

    async def list_orphan_stops(self, station_id: str | None = None) -> builtins.list[OrphanStop]:
        stmt = select(orphan_stops)
        if station_id is not None:
            stmt = stmt.where(orphan_stops.c.station_id == station_id)
        stmt = stmt.order_by(orphan_stops.c.received_at, orphan_stops.c.id)
        return [orphan_stop_from_row(row) for row in await self._conn.execute(stmt)]
