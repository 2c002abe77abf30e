"""Meter values: every sampled value stored with its own reading time.

Values delivered hours late after an offline period keep the timestamps the
station measured them at; ``received_at`` records when they arrived.
"""

from __future__ import annotations

from collections.abc import Sequence

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.model import MeterValue
from opencsms.domain.ports import Repositories, UnitOfWork


class MeteringService:
    def __init__(self, uow: UnitOfWork, clock: Clock = utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def record(
        self,
        station_id: str,
        connector_id: int,
        reported_transaction_id: int | None,
        values: Sequence[MeterValue],
    ) -> None:
        async def work(repos: Repositories) -> None:
            transaction_id = None
            if reported_transaction_id is not None:
                transaction = await repos.transactions.get(reported_transaction_id)
                if transaction is not None and transaction.station_id == station_id:
                    transaction_id = transaction.id
            await repos.meter_values.add(
                station_id,
                connector_id,
                transaction_id,
                reported_transaction_id,
                values,
                self._clock(),
            )

        await self._uow.run(work)
