"""What the services publish, after their commits, and what they do not."""

from __future__ import annotations

from datetime import UTC, datetime

from opencsms.domain.events import Event, EventBus
from opencsms.domain.metering import MeteringService
from opencsms.domain.model import (
    IdTag,
    MeterValue,
    SampledValue,
    StationInfo,
    StatusReport,
    TransactionStart,
    TransactionStop,
)
from opencsms.domain.ports import Repositories
from opencsms.domain.stations import StationService
from opencsms.domain.transactions import TransactionService
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_wants_follows_the_subscribers_types() -> None:
    bus = EventBus()
    assert not bus.wants("meter.values")
    metrics = bus.subscribe(types=["command.finished"])
    assert not bus.wants("meter.values") and bus.wants("command.finished")
    narrowed = bus.subscribe(types=())
    assert not bus.wants("meter.values")
    narrowed.types = frozenset({"meter.values"})
    assert bus.wants("meter.values")
    narrowed.types = None
    assert bus.wants("anything")
    narrowed.close()
    metrics.close()
    assert not bus.wants("command.finished")


async def test_services_publish_committed_changes_once(uow: SqlUnitOfWork) -> None:
    bus = EventBus(lambda: T0)
    seen: list[Event] = []

    def record(event: Event) -> bool:  # called synchronously by publish()
        seen.append(event)
        return False

    bus.subscribe(record)
    stations = StationService(uow, lambda: T0, key_hash_cost=4, events=bus)
    transactions = TransactionService(uow, lambda: T0, events=bus)
    metering = MeteringService(uow, lambda: T0, events=bus)
    await stations.register("CP1")

    async def tag(repos: Repositories) -> None:
        await repos.id_tags.put(IdTag("TAG1"))

    await uow.run(tag)

    await stations.boot("CP1", StationInfo(vendor="V", model="M"))
    await stations.report_status("CP1", StatusReport(1, "Preparing", "NoError"))
    start = TransactionStart("CP1", 1, "TAG1", 1000, T0)
    transaction_id, _ = await transactions.start(start)
    assert (await transactions.start(start))[0] == transaction_id  # a replay: no event
    sample = MeterValue(T0, (SampledValue("1500", unit="Wh"),))
    await metering.record("CP1", 1, transaction_id, [sample])
    stop = TransactionStop("CP1", transaction_id, 2500, T0, reason="Local")
    await transactions.stop(stop)
    await transactions.stop(stop)  # already stopped: no event
    await transactions.stop(TransactionStop("CP1", 999_999, 10, T0))  # orphan: no event

    assert [(e.type, e.station_id) for e in seen] == [
        ("station.booted", "CP1"),
        ("connector.status", "CP1"),
        ("transaction.started", "CP1"),
        ("meter.values", "CP1"),
        ("transaction.stopped", "CP1"),
    ]
    booted, status, started, meter, stopped = seen
    assert booted.data["vendor"] == "V"
    assert status.data["status"] == "Preparing" and status.data["connector_id"] == 1
    assert started.data["transaction_id"] == transaction_id
    assert started.data["id_tag"] == "TAG1" and started.data["meter_start"] == 1000
    assert meter.data == {
        "connector_id": 1,
        "transaction_id": transaction_id,
        "values": [
            {
                "timestamp": T0.isoformat(),
                "sampled_value": [
                    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                ],
            }
        ],
    }
    assert stopped.data["energy_wh"] == 1500 and stopped.data["reason"] == "Local"
    # The event is published after the commit: a reader finds the change.
    stored = await transactions.get(transaction_id)
    assert stored is not None and stored.stopped_at == T0
