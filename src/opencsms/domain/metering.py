"""Meter values: every sampled value stored with its own reading time.

Values delivered hours late after an offline period keep the timestamps the
station measured them at; ``received_at`` records when they arrived. The
transactionId a station reports is stored as sent and linked to our
transaction when it names one of this station's (see
``MeterValueRepository.add``).
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
            # Linking the reported id to our transaction is the repository's
            # job (see MeterValueRepository.add): it can do it for a whole batch
            # of messages with one query, not one lookup per message.
            await repos.meter_values.add(
                station_id, connector_id, reported_transaction_id, values, self._clock()
            )

        await self._uow.run(work)
