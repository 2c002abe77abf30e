"""Narrow storage ports the domain services depend on.

Each repository is bound to one database transaction by the
:class:`UnitOfWork`; a service puts the reads and writes that must be atomic
(e.g. "is this StartTransaction a replay? if not, insert it") into one
``work`` callable. The storage layer may run many stations' work in one
database transaction (group commit); ``run`` returns only after the commit,
so nothing is acknowledged to a station before it is durable.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from opencsms.domain.model import (
    ConnectorStatus,
    IdTag,
    MeterValue,
    OrphanStop,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
    StoredMeterValue,
    TagStatus,
    Transaction,
    TransactionStart,
    TransactionStop,
)

T = TypeVar("T")


class StationExists(Exception):
    """A station with this id is already registered."""


class StationRepository(Protocol):
    async def get(self, station_id: str) -> Station | None: ...
    async def add(self, station: Station) -> None:
        """Insert; raise :class:`StationExists` if the id is taken."""

    async def remove(self, station_id: str) -> bool: ...
    async def list(self) -> list[Station]: ...
    async def set_auth_key_hash(self, station_id: str, key_hash: str) -> bool: ...
    async def set_lenient_validation(self, station_id: str, lenient: bool) -> bool: ...
    async def record_boot(self, station_id: str, info: StationInfo, at: datetime) -> None: ...
    async def record_seen(self, station_id: str, at: datetime) -> None: ...


class ConnectorStatusRepository(Protocol):
    async def record(self, station_id: str, report: StatusReport, received_at: datetime) -> None:
        """Upsert the connector's current status and append it to the history."""

    async def current(self, station_id: str) -> list[ConnectorStatus]: ...
    async def history(
        self, station_id: str, connector_id: int | None = None, limit: int = 100
    ) -> list[ConnectorStatus]:
        """Newest first."""


class IdTagRepository(Protocol):
    async def get(self, id_tag: str) -> IdTag | None: ...
    async def put(self, tag: IdTag) -> None:
        """Insert or replace."""

    async def list(self) -> list[IdTag]: ...


class TransactionRepository(Protocol):
    async def find_start(self, start: TransactionStart) -> Transaction | None:
        """The transaction created by an identical earlier StartTransaction, if any
        (same station, connector, id tag, timestamp and meterStart)."""

    async def find_active_for_tag(self, id_tag: str) -> Transaction | None: ...
    async def create(self, start: TransactionStart, tag_status: TagStatus) -> Transaction:
        """Insert and return it with its system-wide unique id."""

    async def get(self, transaction_id: int) -> Transaction | None: ...
    async def finish(
        self, stop: TransactionStop, energy_wh: int | None, meter_anomaly: bool
    ) -> Transaction: ...
    async def list(
        self, station_id: str | None = None, active_only: bool = False, limit: int = 100
    ) -> list[Transaction]:
        """Newest first."""

    async def find_orphan_stop(self, stop: TransactionStop) -> OrphanStop | None:
        """An identical orphan stop stored earlier (same station, reported id,
        timestamp and meterStop)."""

    async def add_orphan_stop(self, stop: TransactionStop, received_at: datetime) -> OrphanStop: ...
    async def list_orphan_stops(
        self, station_id: str | None = None
    ) -> builtins.list[OrphanStop]: ...


class MeterValueRepository(Protocol):
    async def add(
        self,
        station_id: str,
        connector_id: int,
        reported_transaction_id: int | None,
        values: Sequence[MeterValue],
        received_at: datetime,
    ) -> int:
        """Store every sampled value with its own reading time; return how many
        were submitted.

        A sampled value identical in every reported field to one already stored
        for the station (a MeterValues resent after a lost reply) is not stored
        again.

        ``reported_transaction_id`` is kept as the station sent it. The
        repository links the values to our transaction (``transaction_id`` of
        :class:`StoredMeterValue`, what :meth:`for_transaction` finds) when a
        transaction with that id exists and belongs to ``station_id``; otherwise
        (an id of a transaction started offline, -1, 0, another station's id)
        they are stored unlinked. The check is made when the rows are written,
        which is within the same unit of work and at the latest at its commit,
        so the repository may resolve many messages' ids at once.
        """

    async def for_transaction(self, transaction_id: int) -> list[StoredMeterValue]:
        """Oldest first."""

    async def for_station(self, station_id: str, limit: int = 1000) -> list[StoredMeterValue]:
        """Oldest first."""


class StationEventRepository(Protocol):
    async def add(self, event: StationEvent) -> None: ...
    async def list(self, station_id: str, kind: str | None = None) -> list[StationEvent]:
        """Oldest first."""


@dataclass(frozen=True, slots=True)
class Repositories:
    stations: StationRepository
    connectors: ConnectorStatusRepository
    id_tags: IdTagRepository
    transactions: TransactionRepository
    meter_values: MeterValueRepository
    events: StationEventRepository


Work = Callable[[Repositories], Awaitable[T]]


class UnitOfWork(Protocol):
    async def run(self, work: Work[T]) -> T:
        """Run ``work`` in a database transaction and return its result after the
        commit. If ``work`` raises, its writes are rolled back and the exception
        propagates; other stations' work in the same batch is unaffected."""

    async def read(self, work: Work[T]) -> T:
        """Run read-only ``work`` without waiting for the write queue."""
