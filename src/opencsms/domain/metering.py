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
from opencsms.domain.events import EventBus
from opencsms.domain.model import MeterValue
from opencsms.domain.ports import Repositories, UnitOfWork


class MeteringService:
    def __init__(
        self, uow: UnitOfWork, clock: Clock = utc_now, events: EventBus | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        """Published to after each commit: meter.values. The event's data is only
        built when someone listens: this is the busiest message there is."""

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
        if self._events is not None and self._events.wants("meter.values"):
            self._events.publish(
                "meter.values",
                station_id,
                {
                    "connector_id": connector_id,
                    "transaction_id": reported_transaction_id,
                    "values": [meter_value_data(value) for value in values],
                },
            )


def meter_value_data(value: MeterValue) -> dict[str, object]:
    """A MeterValue as the API shows it: OCPP's field names, absent fields left out."""
    samples: list[dict[str, str]] = []
    for sample in value.sampled_values:
        shown = {"value": sample.value, "measurand": sample.measurand}
        for name in ("unit", "phase", "context", "location", "format"):
            field = getattr(sample, name)
            if field is not None:
                shown[name] = field
        samples.append(shown)
    return {"timestamp": value.timestamp.isoformat(), "sampled_value": samples}
