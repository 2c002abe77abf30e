"""Starting and stopping charging transactions, safe against replays.

Stations retry after a reconnect: a StartTransaction or StopTransaction may
arrive twice, and a StopTransaction may name a transaction this system never
issued (ids -1 or 0 from a station that started offline, or a foreign id).
The rules here make every such message answerable and idempotent:

- a Start identical to a stored one (station, connector, tag, timestamp,
  meterStart) returns the stored transactionId and creates nothing;
- a tag that already has an active transaction elsewhere gets ConcurrentTx
  (the transaction is still recorded, as OCPP 1.6 requires an id in reply);
- a Stop of an unknown id is kept as an orphan stop, never a CALLERROR;
- a Stop of an already stopped transaction changes nothing;
- meterStop < meterStart is stored as reported and flagged; energy stays
  unknown rather than negative.
"""

from __future__ import annotations

from dataclasses import replace

from opencsms.domain.authorization import tag_info
from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import EventBus
from opencsms.domain.model import (
    IdTagInfo,
    TagStatus,
    Transaction,
    TransactionStart,
    TransactionStop,
)
from opencsms.domain.ports import Repositories, UnitOfWork


def energy_of(meter_start: int, meter_stop: int) -> tuple[int | None, bool]:
    """(energy in Wh, meter anomaly). A register that went backwards gives no energy."""
    if meter_stop < meter_start:
        return None, True
    return meter_stop - meter_start, False


class TransactionService:
    def __init__(
        self, uow: UnitOfWork, clock: Clock = utc_now, events: EventBus | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        """Published to after each commit: transaction.started / .stopped (not for
        replays, orphan stops or repeated stops: nothing happened then)."""

    async def start(self, start: TransactionStart) -> tuple[int, IdTagInfo]:
        async def work(repos: Repositories) -> tuple[int, IdTagInfo, bool]:
            info = tag_info(await repos.id_tags.get(start.id_tag), self._clock())
            replayed = await repos.transactions.find_start(start)
            if replayed is not None:
                return replayed.id, replace(info, status=replayed.tag_status), False
            if info.status is TagStatus.ACCEPTED:
                if await repos.transactions.find_active_for_tag(start.id_tag) is not None:
                    info = replace(info, status=TagStatus.CONCURRENT_TX)
            created = await repos.transactions.create(start, info.status)
            return created.id, info, True

        transaction_id, info, created = await self._uow.run(work)
        if created and self._events is not None:
            self._events.publish(
                "transaction.started",
                start.station_id,
                {
                    "transaction_id": transaction_id,
                    "connector_id": start.connector_id,
                    "id_tag": start.id_tag,
                    "tag_status": info.status.value,
                    "meter_start": start.meter_start,
                    "started_at": start.started_at.isoformat(),
                    "reservation_id": start.reservation_id,
                },
            )
        return transaction_id, info

    async def stop(self, stop: TransactionStop) -> IdTagInfo | None:
        """Record the stop; return the IdTagInfo of the stopping tag, if one was given."""

        stopped: dict[str, object] = {}

        async def work(repos: Repositories) -> IdTagInfo | None:
            stopped.clear()  # the unit of work may run this again
            now = self._clock()
            info = tag_info(await repos.id_tags.get(stop.id_tag), now) if stop.id_tag else None
            transaction = await repos.transactions.get(stop.transaction_id)
            if transaction is None or transaction.station_id != stop.station_id:
                if await repos.transactions.find_orphan_stop(stop) is None:
                    await repos.transactions.add_orphan_stop(stop, now)
                    # Not ours or not this station's: the repository stores them unlinked.
                    await repos.meter_values.add(
                        stop.station_id, 0, stop.transaction_id, stop.transaction_data, now
                    )
                return info
            if transaction.active:
                energy, anomaly = energy_of(transaction.meter_start, stop.meter_stop)
                await repos.transactions.finish(stop, energy, anomaly)
                stopped.update(
                    transaction_id=transaction.id,
                    connector_id=transaction.connector_id,
                    id_tag=transaction.id_tag,
                    meter_start=transaction.meter_start,
                    meter_stop=stop.meter_stop,
                    energy_wh=energy,
                    meter_anomaly=anomaly,
                    reason=stop.reason,
                    stop_id_tag=stop.id_tag,
                    stopped_at=stop.stopped_at.isoformat(),
                )
                # stop.transaction_id is this station's transaction: linked.
                await repos.meter_values.add(
                    stop.station_id,
                    transaction.connector_id,
                    stop.transaction_id,
                    stop.transaction_data,
                    now,
                )
            return info

        info = await self._uow.run(work)
        if stopped and self._events is not None:
            self._events.publish("transaction.stopped", stop.station_id, dict(stopped))
        return info

    async def get(self, transaction_id: int) -> Transaction | None:
        async def work(repos: Repositories) -> Transaction | None:
            return await repos.transactions.get(transaction_id)

        return await self._uow.read(work)
