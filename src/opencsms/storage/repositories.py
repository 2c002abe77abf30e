"""The ports of :mod:`opencsms.domain.ports` over SQLAlchemy Core.

Each repository is bound to one connection (an ``AsyncConnection``, or the
SQLite writer's, see ``sqlite_writer.py``), i.e. to whatever
transaction the caller (normally :class:`~opencsms.storage.SqlUnitOfWork`)
has open on it; repositories never commit. Rows are mapped to the frozen
domain dataclasses by hand (``rows.py``): a few lines per table, and the hot
path stays free of ORM bookkeeping. The transaction repository lives in
``transaction_repository.py`` and is re-exported here.

Choices the ports leave open:

* ``TransactionRepository.finish`` updates only a transaction of the same
  station and raises :class:`LookupError` when there is none.
* ``MeterValueRepository.add`` links the reported transactionId when the
  rows are written: at once outside the group-commit writer, at the end of
  the batch (one query for all its messages) inside it (``pending.py``).
* ``MeterValueRepository.for_station`` returns the *latest* ``limit`` samples,
  oldest first (what a chart of recent readings wants).
* "Newest first" for transactions means by ``started_at`` (then id); for status
  history by ``updated_at`` (our receive time, then id).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from opencsms.domain.charging_state import CURRENT, ENERGY, POWER
from opencsms.domain.model import (
    ConnectorStatus,
    IdTag,
    MeterValue,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
    StoredMeterValue,
)
from opencsms.domain.ports import Repositories, StationExists
from opencsms.storage.api_key_repository import SqlApiKeyRepository
from opencsms.storage.charging_repository import SqlChargingRepository
from opencsms.storage.command_repository import SqlCommandRepository
from opencsms.storage.configuration_repository import SqlConfigurationRepository
from opencsms.storage.fleet_queries import SqlFleetQueries
from opencsms.storage.job_repositories import SqlDiagnosticsRepository, SqlFirmwareRepository
from opencsms.storage.operator_repository import SqlOperatorRepository, SqlSecurityEventRepository
from opencsms.storage.pending import Executor, PendingRows, upsert
from opencsms.storage.reservation_repository import (
    SqlLocalListRepository,
    SqlReservationRepository,
)
from opencsms.storage.rows import (
    connector_status_from_row,
    id_tag_from_row,
    info_values,
    station_from_row,
    stored_meter_value_from_row,
)
from opencsms.storage.smart_charging_repository import (
    SqlSignalRepository,
    SqlSiteRepository,
    in_batches,
)
from opencsms.storage.tables import (
    UtcDateTime,
    charging_plans,
    connector_status,
    id_tags,
    meter_values,
    station_events,
    stations,
    status_history,
    transactions,
)
from opencsms.storage.transaction_repository import SqlTransactionRepository
from opencsms.storage.webhook_repository import SqlWebhookRepository

_EARLIEST = datetime.min.replace(tzinfo=UTC)
"""Below any sample's time (the bookend of a transaction without one before ``since``)."""


class SqlStationRepository:
    def __init__(self, conn: Executor, pending: PendingRows | None = None) -> None:
        self._conn = conn
        self._pending = PendingRows(conn, deferred=False) if pending is None else pending

    async def get(self, station_id: str) -> Station | None:
        await self._pending.flush_seen()
        row = (
            await self._conn.execute(select(stations).where(stations.c.id == station_id))
        ).first()
        return None if row is None else station_from_row(row)

    async def add(self, station: Station) -> None:
        values: dict[str, Any] = {
            "id": station.id,
            "auth_key_hash": station.auth_key_hash,
            "registered_at": station.registered_at,
            "lenient_validation": station.lenient_validation,
            "last_boot_at": station.last_boot_at,
            "last_seen_at": station.last_seen_at,
            **info_values(station.info),
        }
        # A savepoint keeps a duplicate from aborting the caller's transaction
        # (PostgreSQL refuses every statement after an error until rollback).
        await self._pending.flush_seen()
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(insert(stations).values(values))
        except IntegrityError as exc:
            raise StationExists(station.id) from exc

    async def remove(self, station_id: str) -> bool:
        # The current connector state belongs to the registration; history stays.
        await self._pending.flush_current_status()
        await self._pending.flush_seen()
        await self._conn.execute(
            delete(connector_status).where(connector_status.c.station_id == station_id)
        )
        result = await self._conn.execute(delete(stations).where(stations.c.id == station_id))
        return bool(result.rowcount > 0)

    async def list(
        self, limit: int | None = None, after: str | None = None
    ) -> builtins.list[Station]:
        await self._pending.flush_seen()
        stmt = select(stations).order_by(stations.c.id)
        if after is not None:
            stmt = stmt.where(stations.c.id > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        result = await self._conn.execute(stmt)
        return [station_from_row(row) for row in result]

    async def set_auth_key_hash(self, station_id: str, key_hash: str) -> bool:
        return await self._update(station_id, auth_key_hash=key_hash)

    async def set_lenient_validation(self, station_id: str, lenient: bool) -> bool:
        return await self._update(station_id, lenient_validation=lenient)

    async def record_boot(self, station_id: str, info: StationInfo, at: datetime) -> None:
        await self._update(station_id, last_boot_at=at, last_seen_at=at, **info_values(info))

    async def record_seen(self, station_id: str, at: datetime) -> None:
        # Deferred (see pending.py): a batch's heartbeats become one executemany,
        # one row per station however often it was seen.
        await self._pending.record_seen(station_id, at)

    async def _update(self, station_id: str, **values: Any) -> bool:
        await self._pending.flush_seen()
        result = await self._conn.execute(
            update(stations).where(stations.c.id == station_id).values(**values)
        )
        return bool(result.rowcount > 0)


class SqlConnectorStatusRepository:
    def __init__(self, conn: Executor, pending: PendingRows | None = None) -> None:
        self._conn = conn
        self._pending = PendingRows(conn, deferred=False) if pending is None else pending

    async def record(self, station_id: str, report: StatusReport, received_at: datetime) -> None:
        values = {
            "station_id": station_id,
            "connector_id": report.connector_id,
            "status": report.status,
            "error_code": report.error_code,
            "updated_at": received_at,
            "timestamp": report.timestamp,
            "info": report.info,
            "vendor_id": report.vendor_id,
            "vendor_error_code": report.vendor_error_code,
        }
        # Deferred (see pending.py): the upsert and the history row go out with
        # the rest of the batch's.
        await self._pending.add_status(values)

    async def current(self, station_id: str) -> list[ConnectorStatus]:
        await self._pending.flush_current_status()
        result = await self._conn.execute(
            select(connector_status)
            .where(connector_status.c.station_id == station_id)
            .order_by(connector_status.c.connector_id)
        )
        return [connector_status_from_row(row) for row in result]

    async def history(
        self, station_id: str, connector_id: int | None = None, limit: int = 100
    ) -> list[ConnectorStatus]:
        await self._pending.flush_status_history()
        stmt = select(status_history).where(status_history.c.station_id == station_id)
        if connector_id is not None:
            stmt = stmt.where(status_history.c.connector_id == connector_id)
        stmt = stmt.order_by(status_history.c.updated_at.desc(), status_history.c.id.desc())
        result = await self._conn.execute(stmt.limit(limit))
        return [connector_status_from_row(row) for row in result]


class SqlIdTagRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def get(self, id_tag: str) -> IdTag | None:
        stmt = select(id_tags).where(id_tags.c.id_tag == id_tag)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else id_tag_from_row(row)

    async def put(self, tag: IdTag) -> None:
        values = {
            "id_tag": tag.id_tag,
            "status": tag.status,
            "expiry_date": tag.expiry_date,
            "parent_id_tag": tag.parent_id_tag,
        }
        stmt = upsert(self._conn.dialect.name, id_tags, ["id_tag"], values)
        await self._conn.execute(stmt, values)

    async def remove(self, id_tag: str) -> bool:
        result = await self._conn.execute(delete(id_tags).where(id_tags.c.id_tag == id_tag))
        return bool(result.rowcount > 0)

    async def list(
        self, limit: int | None = None, after: str | None = None
    ) -> builtins.list[IdTag]:
        stmt = select(id_tags).order_by(id_tags.c.id_tag)
        if after is not None:
            stmt = stmt.where(id_tags.c.id_tag > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [id_tag_from_row(row) for row in await self._conn.execute(stmt)]


class SqlMeterValueRepository:
    def __init__(self, conn: Executor, pending: PendingRows | None = None) -> None:
        self._conn = conn
        self._pending = PendingRows(conn, deferred=False) if pending is None else pending

    async def add(
        self,
        station_id: str,
        connector_id: int,
        reported_transaction_id: int | None,
        values: Sequence[MeterValue],
        received_at: datetime,
    ) -> int:
        rows = [
            {
                "station_id": station_id,
                "connector_id": connector_id,
                "transaction_id": None,  # linked when written (pending.py)
                "reported_transaction_id": reported_transaction_id,
                "timestamp": value.timestamp,
                "received_at": received_at,
                "value": sample.value,
                "measurand": sample.measurand,
                "unit": sample.unit,
                "phase": sample.phase,
                "context": sample.context,
                "location": sample.location,
                "format": sample.format,
            }
            for value in values
            for sample in value.sampled_values
        ]
        if rows:
            await self._pending.add_meter_values(rows)
        return len(rows)

    async def for_transaction(self, transaction_id: int) -> list[StoredMeterValue]:
        await self._pending.flush_meter_values()
        c = meter_values.c
        result = await self._conn.execute(
            select(meter_values)
            .where(c.transaction_id == transaction_id)
            .order_by(c.timestamp, c.id)
        )
        return [stored_meter_value_from_row(row) for row in result]

    async def for_transaction_since(
        self, transaction_id: int, since: datetime
    ) -> list[StoredMeterValue]:
        await self._pending.flush_meter_values()
        c = meter_values.c
        # One statement: the bookend is a scalar subquery evaluated once, and
        # both it and the range use the (transaction_id, timestamp) index; a
        # floor instead of "no bookend: everything" keeps the range usable.
        # ORDER BY ... LIMIT 1, not max(): it walks the index back from
        # ``since`` and stops at the first register (max() with the measurand
        # filter visits every earlier row on SQLite).
        bookend = (
            select(c.timestamp)
            .where(
                c.transaction_id == transaction_id,
                c.timestamp <= since,
                c.measurand == ENERGY,
                or_(c.location.is_(None), c.location == "Outlet"),
            )
            .order_by(c.timestamp.desc())
            .limit(1)
            .scalar_subquery()
        )
        floor = literal(_EARLIEST, UtcDateTime())
        result = await self._conn.execute(
            select(meter_values)
            .where(c.transaction_id == transaction_id, c.timestamp >= func.coalesce(bookend, floor))
            .order_by(c.timestamp, c.id)
        )
        return [stored_meter_value_from_row(row) for row in result]

    async def around(self, transaction_ids: Collection[int]) -> dict[int, list[StoredMeterValue]]:
        found: dict[int, list[StoredMeterValue]] = {tx: [] for tx in transaction_ids}
        await self._pending.flush_meter_values()
        for chunk in in_batches(found):
            result = await self._conn.execute(_AROUND, {"ids": chunk})
            for row in result:
                found[row.transaction_id].append(stored_meter_value_from_row(row))
        return found

    async def for_station(self, station_id: str, limit: int = 1000) -> list[StoredMeterValue]:
        await self._pending.flush_meter_values()
        c = meter_values.c
        latest = (
            select(meter_values)
            .where(c.station_id == station_id)
            .order_by(c.timestamp.desc(), c.id.desc())
            .limit(limit)
            .subquery()
        )
        result = await self._conn.execute(select(latest).order_by(latest.c.timestamp, latest.c.id))
        return [stored_meter_value_from_row(row) for row in result]


def _around() -> Select[Any]:
    """The statement of :meth:`SqlMeterValueRepository.around`, built once
    (one fixed statement, so SQLAlchemy compiles it once: the sessions come
    as an expanding ``IN``, their plan times from ``charging_plans``, not
    as parameters of their own; a VALUES table of (session, time) pairs
    had no cache key and compiled at every sweep, 4-14 ms). Each reading
    time is a correlated ORDER BY ... LIMIT 1, which walks the
    (transaction_id, timestamp) index from one end and stops at its first
    match (see ``for_transaction_since``); then the rows at those times
    through the same index."""
    c, p, t = meter_values.c, charging_plans.c, transactions.c
    made = (
        select(p.created_at)
        .where(p.transaction_id == t.id)
        .order_by(p.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # Both steps are MATERIALIZED CTEs (SQLite 3.35+, PostgreSQL 12+):
    # flattened into the join, SQLite evaluated the plan's time for every
    # row it visited (bench/sweep.py: 100 ms instead of 3 for 17 sessions).
    sessions = (
        select(t.id.label("tid"), made.label("made"))
        .where(t.id.in_(bindparam("ids", expanding=True)))
        .cte("sessions")
        .prefix_with("MATERIALIZED")
    )
    s = sessions.c
    register = (
        c.measurand == ENERGY,
        or_(c.location.is_(None), c.location == "Outlet"),
        or_(c.format.is_(None), c.format != "SignedData"),
    )

    def first(*where: Any, newest: bool = True) -> Any:
        return (
            select(c.timestamp)
            .where(c.transaction_id == s.tid, *where)
            .order_by(c.timestamp.desc() if newest else c.timestamp)
            .limit(1)
            .scalar_subquery()
        )

    times_of = select(
        s.tid,
        first(*register, c.timestamp <= s.made).label("before"),
        first(*register, c.timestamp > s.made, newest=False).label("after"),
        first(*register).label("last"),
        first(c.measurand.in_((POWER, CURRENT))).label("power"),
    )
    times = times_of.cte("times").prefix_with("MATERIALIZED")
    at = times.c
    at_one = or_(*(c.timestamp == when for when in (at.before, at.after, at.last, at.power)))
    return (
        select(meter_values)
        .join(times, and_(c.transaction_id == at.tid, at_one))
        .order_by(c.transaction_id, c.timestamp, c.id)
    )


_AROUND = _around()


class SqlStationEventRepository:
    def __init__(self, conn: Executor, pending: PendingRows | None = None) -> None:
        self._conn = conn
        self._pending = PendingRows(conn, deferred=False) if pending is None else pending

    async def add(self, event: StationEvent) -> None:
        await self._pending.add_event(
            {
                "station_id": event.station_id,
                "kind": event.kind,
                "payload": event.payload,
                "received_at": event.received_at,
            }
        )

    async def list(self, station_id: str, kind: str | None = None) -> builtins.list[StationEvent]:
        await self._pending.flush_events()
        c = station_events.c
        stmt = select(station_events).where(c.station_id == station_id)
        if kind is not None:
            stmt = stmt.where(c.kind == kind)
        result = await self._conn.execute(stmt.order_by(c.received_at, c.id))
        return [
            StationEvent(
                station_id=row.station_id,
                kind=row.kind,
                payload=row.payload,
                received_at=row.received_at,
                id=row.id,
            )
            for row in result
        ]


def repositories(conn: Executor, pending: PendingRows | None = None) -> Repositories:
    """All repositories bound to ``conn`` (and so to its current transaction).

    With ``pending`` (a deferred :class:`PendingRows`, as the group-commit
    writer passes) the append-only writes wait there until ``pending.flush()``;
    without, every write is sent at once.
    """
    if pending is None:
        pending = PendingRows(conn, deferred=False)
    return Repositories(
        stations=SqlStationRepository(conn, pending),
        connectors=SqlConnectorStatusRepository(conn, pending),
        id_tags=SqlIdTagRepository(conn),
        transactions=SqlTransactionRepository(conn),
        meter_values=SqlMeterValueRepository(conn, pending),
        events=SqlStationEventRepository(conn, pending),
        commands=SqlCommandRepository(conn),
        configuration=SqlConfigurationRepository(conn),
        reservations=SqlReservationRepository(conn),
        local_lists=SqlLocalListRepository(conn),
        firmware=SqlFirmwareRepository(conn),
        diagnostics=SqlDiagnosticsRepository(conn),
        api_keys=SqlApiKeyRepository(conn),
        webhooks=SqlWebhookRepository(conn),
        signals=SqlSignalRepository(conn),
        sites=SqlSiteRepository(conn),
        charging=SqlChargingRepository(conn),
        operators=SqlOperatorRepository(conn),
        security_events=SqlSecurityEventRepository(conn),
        fleet=SqlFleetQueries(conn, pending),
    )


__all__ = [
    "SqlConnectorStatusRepository",
    "SqlIdTagRepository",
    "SqlMeterValueRepository",
    "SqlStationEventRepository",
    "SqlStationRepository",
    "SqlTransactionRepository",
    "repositories",
]
