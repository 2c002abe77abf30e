"""The operator's read side: pages of stations, filtered transactions, and a
transaction with its meter readings and what they mean.

Separate from the services the stations' messages go through, so the hot
path stays as it is and every query here is bounded (a page of stations by
id cursor, transactions by limit and offset: listing 10,000 stations never
loads them all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opencsms.domain.charging_state import ChargingState, charging_state, energy_wh, power_w
from opencsms.domain.model import ConnectorStatus, Station, StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories, UnitOfWork


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    station_id: str | None = None
    id_tag: str | None = None
    started_from: datetime | None = None
    started_before: datetime | None = None
    active_only: bool = False


@dataclass(frozen=True, slots=True)
class StationDetail:
    station: Station
    connectors: list[ConnectorStatus]


@dataclass(frozen=True, slots=True)
class TransactionDetail:
    transaction: Transaction
    samples: list[StoredMeterValue]
    connector_status: str | None
    energy_wh: float | None
    power_w: float | None
    state: ChargingState


class FleetView:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def stations(self, limit: int, after: str | None = None) -> list[Station]:
        async def read(repos: Repositories) -> list[Station]:
            return await repos.stations.list(limit=limit, after=after)

        return await self._uow.read(read)

    async def station(self, station_id: str) -> StationDetail | None:
        async def read(repos: Repositories) -> StationDetail | None:
            station = await repos.stations.get(station_id)
            if station is None:
                return None
            return StationDetail(station, await repos.connectors.current(station_id))

        return await self._uow.read(read)

    async def station_samples(self, station_id: str, limit: int) -> list[StoredMeterValue]:
        """The station's latest ``limit`` sampled values (every connector), oldest
        first: bounded whatever the station's history (the station page's chart)."""
        return await self._uow.read(lambda r: r.meter_values.for_station(station_id, limit))

    async def site_of(self, station_id: str) -> str | None:
        return await self._uow.read(lambda r: r.sites.site_of(station_id))

    async def transactions(
        self, where: TransactionFilter, limit: int, offset: int = 0
    ) -> list[Transaction]:
        async def read(repos: Repositories) -> list[Transaction]:
            return await repos.transactions.list(
                where.station_id,
                where.active_only,
                limit,
                id_tag=where.id_tag,
                started_from=where.started_from,
                started_before=where.started_before,
                offset=offset,
            )

        return await self._uow.read(read)

    async def transaction(self, transaction_id: int) -> TransactionDetail | None:
        async def read(
            repos: Repositories,
        ) -> tuple[Transaction, list[StoredMeterValue], list[ConnectorStatus]] | None:
            transaction = await repos.transactions.get(transaction_id)
            if transaction is None:
                return None
            samples = await repos.meter_values.for_transaction(transaction_id)
            connectors = await repos.connectors.current(transaction.station_id)
            return transaction, samples, connectors

        found = await self._uow.read(read)
        if found is None:
            return None
        transaction, samples, connectors = found
        status = next(
            (c.status for c in connectors if c.connector_id == transaction.connector_id), None
        )
        power = power_w(transaction, samples)
        return TransactionDetail(
            transaction=transaction,
            samples=samples,
            connector_status=status,
            energy_wh=energy_wh(transaction, samples),
            power_w=power,
            state=charging_state(transaction, status, power),
        )
