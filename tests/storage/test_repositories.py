"""Round trips through every repository, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from opencsms.domain.model import (
    IdTag,
    MeterValue,
    SampledValue,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
    TagStatus,
    TransactionStart,
    TransactionStop,
)
from opencsms.domain.ports import Repositories, StationExists
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def station(station_id: str = "CP-1", **kwargs: object) -> Station:
    return Station(id=station_id, auth_key_hash="h", registered_at=T0, **kwargs)  # type: ignore[arg-type]


def start(**kwargs: object) -> TransactionStart:
    fields: dict[str, object] = {
        "station_id": "CP-1",
        "connector_id": 1,
        "id_tag": "TAG1",
        "meter_start": 1000,
        "started_at": at(0),
    }
    fields.update(kwargs)
    return TransactionStart(**fields)  # type: ignore[arg-type]


def assert_aware_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def test_station_round_trip_and_updates(uow: SqlUnitOfWork) -> None:
    info = StationInfo(vendor="ACME", model="X1", serial_number="S1", firmware_version="1.2")

    async def work(r: Repositories) -> None:
        await r.stations.add(station(lenient_validation=True))
        await r.stations.add(station("CP-0"))
        assert await r.stations.set_auth_key_hash("CP-1", "h2")
        assert not await r.stations.set_auth_key_hash("nope", "h2")
        assert await r.stations.set_lenient_validation("CP-0", True)
        await r.stations.record_boot("CP-1", info, at(10).astimezone(CET))
        await r.stations.record_seen("CP-1", at(20))

    await uow.run(work)
    got = await uow.read(lambda r: r.stations.get("CP-1"))
    assert got is not None
    assert got.auth_key_hash == "h2"
    assert got.lenient_validation is True
    assert got.info == info
    assert got.registered_at == T0
    assert got.last_boot_at == at(10)
    assert got.last_seen_at == at(20)
    for value in (got.registered_at, got.last_boot_at, got.last_seen_at):
        assert_aware_utc(value)
    listed = await uow.read(lambda r: r.stations.list())
    assert [s.id for s in listed] == ["CP-0", "CP-1"]
    assert listed[0].info is None and listed[0].lenient_validation is True
    assert await uow.read(lambda r: r.stations.get("missing")) is None


async def test_station_add_twice_raises_station_exists_and_keeps_transaction_usable(
    uow: SqlUnitOfWork,
) -> None:
    await uow.run(lambda r: r.stations.add(station()))

    async def work(r: Repositories) -> str:
        try:
            await r.stations.add(station())
        except StationExists:
            pass
        # The same transaction must still accept statements (PostgreSQL aborts otherwise).
        await r.stations.add(station("CP-2"))
        return "ok"

    assert await uow.run(work) == "ok"
    with pytest.raises(StationExists):
        await uow.run(lambda r: r.stations.add(station()))
    assert len(await uow.read(lambda r: r.stations.list())) == 2


async def test_station_remove(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> None:
        await r.stations.add(station())
        await r.connectors.record("CP-1", StatusReport(1, "Available", "NoError"), at(0))

    await uow.run(work)
    assert await uow.run(lambda r: r.stations.remove("CP-1")) is True
    assert await uow.run(lambda r: r.stations.remove("CP-1")) is False
    assert await uow.read(lambda r: r.connectors.current("CP-1")) == []
    assert len(await uow.read(lambda r: r.connectors.history("CP-1"))) == 1


async def test_connector_status_upserts_current_and_appends_history(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> None:
        await r.connectors.record("CP-1", StatusReport(1, "Available", "NoError"), at(0))
        await r.connectors.record(
            "CP-1",
            StatusReport(1, "Charging", "NoError", timestamp=at(4), info="i", vendor_id="v"),
            at(5),
        )
        await r.connectors.record("CP-1", StatusReport(0, "Available", "NoError"), at(6))
        await r.connectors.record("CP-2", StatusReport(1, "Faulted", "OtherError"), at(7))

    await uow.run(work)
    current = await uow.read(lambda r: r.connectors.current("CP-1"))
    assert [(c.connector_id, c.status) for c in current] == [(0, "Available"), (1, "Charging")]
    charging = current[1]
    assert charging.updated_at == at(5) and charging.timestamp == at(4)
    assert charging.info == "i" and charging.vendor_id == "v" and charging.vendor_error_code is None
    assert_aware_utc(charging.updated_at)

    history = await uow.read(lambda r: r.connectors.history("CP-1"))
    assert [(h.connector_id, h.status) for h in history] == [
        (0, "Available"),
        (1, "Charging"),
        (1, "Available"),
    ]
    one = await uow.read(lambda r: r.connectors.history("CP-1", connector_id=1, limit=1))
    assert [h.status for h in one] == ["Charging"]


async def test_id_tags_put_replaces(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> None:
        await r.id_tags.put(IdTag("B", TagStatus.ACCEPTED, expiry_date=at(100), parent_id_tag="P"))
        await r.id_tags.put(IdTag("A"))
        await r.id_tags.put(IdTag("B", TagStatus.BLOCKED))

    await uow.run(work)
    assert await uow.read(lambda r: r.id_tags.list()) == [
        IdTag("A", TagStatus.ACCEPTED),
        IdTag("B", TagStatus.BLOCKED),
    ]
    await uow.run(lambda r: r.id_tags.put(IdTag("C", TagStatus.EXPIRED, expiry_date=at(1))))
    tag = await uow.read(lambda r: r.id_tags.get("C"))
    assert tag == IdTag("C", TagStatus.EXPIRED, expiry_date=at(1))
    assert tag is not None and isinstance(tag.status, TagStatus)
    assert_aware_utc(tag.expiry_date)
    assert await uow.read(lambda r: r.id_tags.get("nope")) is None


async def test_transaction_lifecycle(uow: SqlUnitOfWork) -> None:
    first = await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))
    second = await uow.run(
        lambda r: r.transactions.create(
            start(station_id="CP-2", started_at=at(60), reservation_id=7), TagStatus.BLOCKED
        )
    )
    assert first.id != second.id
    assert first.active and first.tag_status is TagStatus.ACCEPTED
    assert second.reservation_id == 7
    assert_aware_utc(first.started_at)
    assert first.started_at == at(0)

    assert await uow.read(lambda r: r.transactions.find_start(start())) == first
    assert await uow.read(lambda r: r.transactions.find_start(start(meter_start=1))) is None
    assert await uow.read(lambda r: r.transactions.find_start(start(started_at=at(1)))) is None
    assert await uow.read(lambda r: r.transactions.find_active_for_tag("TAG1")) == second

    stop = TransactionStop("CP-1", first.id, meter_stop=900, stopped_at=at(30), reason="Local")
    finished = await uow.run(lambda r: r.transactions.finish(stop, None, True))
    assert not finished.active
    assert finished.meter_stop == 900 and finished.stopped_at == at(30)
    assert finished.stop_reason == "Local" and finished.energy_wh is None
    assert finished.meter_anomaly is True
    assert await uow.read(lambda r: r.transactions.get(first.id)) == finished
    assert await uow.read(lambda r: r.transactions.get(10_000)) is None

    assert [t.id for t in await uow.read(lambda r: r.transactions.list())] == [second.id, first.id]
    assert [t.id for t in await uow.read(lambda r: r.transactions.list(active_only=True))] == [
        second.id
    ]
    assert [t.id for t in await uow.read(lambda r: r.transactions.list("CP-1"))] == [first.id]
    assert len(await uow.read(lambda r: r.transactions.list(limit=1))) == 1


async def test_finish_of_unknown_or_foreign_transaction_raises_lookup_error(
    uow: SqlUnitOfWork,
) -> None:
    tx = await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))
    for station_id, tx_id in (("CP-1", tx.id + 1), ("CP-9", tx.id)):
        stop = TransactionStop(station_id, tx_id, meter_stop=2000, stopped_at=at(5))
        with pytest.raises(LookupError):
            await uow.run(lambda r, stop=stop: r.transactions.finish(stop, 1000, False))
    assert (await uow.read(lambda r: r.transactions.get(tx.id))) == tx


async def test_duplicate_start_violates_unique_constraint(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))
    with pytest.raises(Exception, match=r"(?i)unique"):
        await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))


async def test_orphan_stops(uow: SqlUnitOfWork) -> None:
    stop = TransactionStop("CP-1", 4242, meter_stop=5000, stopped_at=at(9), id_tag="T")
    orphan = await uow.run(lambda r: r.transactions.add_orphan_stop(stop, at(10)))
    assert orphan.reported_transaction_id == 4242 and orphan.received_at == at(10)
    assert orphan.id_tag == "T" and orphan.reason is None
    assert await uow.read(lambda r: r.transactions.find_orphan_stop(stop)) == orphan
    other = TransactionStop("CP-1", 4242, meter_stop=5001, stopped_at=at(9))
    assert await uow.read(lambda r: r.transactions.find_orphan_stop(other)) is None
    await uow.run(lambda r: r.transactions.add_orphan_stop(other, at(11)))
    assert len(await uow.read(lambda r: r.transactions.list_orphan_stops())) == 2
    assert await uow.read(lambda r: r.transactions.list_orphan_stops("CP-2")) == []


def meter(seconds: float, *values: str) -> MeterValue:
    return MeterValue(at(seconds), tuple(SampledValue(v, unit="Wh") for v in values))


async def test_meter_values_store_every_sample_with_its_time(uow: SqlUnitOfWork) -> None:
    power = SampledValue(
        "7.2", "Power.Active.Import", "kW", "L1", "Sample.Periodic", "Outlet", "Raw"
    )
    values = [MeterValue(at(2), (SampledValue("1010"), power)), meter(1, "1005")]
    tx = (await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))).id
    count = await uow.run(lambda r: r.meter_values.add("CP-1", 1, tx, values, at(3)))
    assert count == 3
    await uow.run(lambda r: r.meter_values.add("CP-1", 2, None, [meter(0, "7")], at(3)))
    assert await uow.run(lambda r: r.meter_values.add("CP-1", 1, None, [], at(3))) == 0

    stored = await uow.read(lambda r: r.meter_values.for_transaction(tx))
    assert [(s.timestamp, s.sample.value) for s in stored] == [
        (at(1), "1005"),
        (at(2), "1010"),
        (at(2), "7.2"),
    ]
    assert stored[2].sample == power
    assert stored[0].reported_transaction_id == tx and stored[0].transaction_id == tx
    assert stored[0].received_at == at(3)
    assert_aware_utc(stored[0].timestamp)

    station_values = await uow.read(lambda r: r.meter_values.for_station("CP-1"))
    assert [s.sample.value for s in station_values] == ["7", "1005", "1010", "7.2"]
    latest = await uow.read(lambda r: r.meter_values.for_station("CP-1", limit=2))
    assert [s.sample.value for s in latest] == ["1010", "7.2"]


@pytest.mark.parametrize("deferred", [False, True], ids=["immediate", "batched"])
async def test_meter_values_are_linked_only_to_the_stations_own_transaction(
    uow: SqlUnitOfWork, deferred: bool
) -> None:
    tx = (await uow.run(lambda r: r.transactions.create(start(), TagStatus.ACCEPTED))).id

    def add(station_id: str, reported: int | None, value: str):  # type: ignore[no-untyped-def]
        return lambda r: r.meter_values.add(station_id, 1, reported, [meter(0, value)], at(1))

    items = [
        add("CP-1", tx, "own"),
        add("CP-2", tx, "foreign station"),
        add("CP-1", tx + 1000, "unknown id"),
        add("CP-1", -1, "started offline"),
        add("CP-1", 2**40, "out of int32"),
        add("CP-1", None, "no id"),
    ]
    if deferred:  # one batch: the ids are resolved together at flush time
        batches = uow.batches_committed
        assert await asyncio.gather(*(uow.run(item) for item in items)) == [1] * len(items)
        assert uow.batches_committed == batches + 1
    else:
        for item in items:
            await uow.run(item)

    linked = await uow.read(lambda r: r.meter_values.for_transaction(tx))
    assert [(v.station_id, v.sample.value) for v in linked] == [("CP-1", "own")]
    everything = [
        *await uow.read(lambda r: r.meter_values.for_station("CP-1")),
        *await uow.read(lambda r: r.meter_values.for_station("CP-2")),
    ]
    assert {(v.sample.value, v.reported_transaction_id, v.transaction_id) for v in everything} == {
        ("own", tx, tx),
        ("foreign station", tx, None),
        ("unknown id", tx + 1000, None),
        ("started offline", -1, None),
        ("out of int32", 2**40, None),
        ("no id", None, None),
    }


async def test_station_events_keep_json_payload(uow: SqlUnitOfWork) -> None:
    payload: dict[str, object] = {"vendorId": "acme", "data": {"a": [1, 2.5, None, "x"]}}

    async def work(r: Repositories) -> None:
        await r.events.add(StationEvent("CP-1", "DataTransfer", payload, at(1)))
        await r.events.add(
            StationEvent("CP-1", "FirmwareStatusNotification", {"status": "Installed"}, at(2))
        )
        await r.events.add(StationEvent("CP-2", "DataTransfer", {}, at(0)))

    await uow.run(work)
    events = await uow.read(lambda r: r.events.list("CP-1"))
    assert [e.kind for e in events] == ["DataTransfer", "FirmwareStatusNotification"]
    assert events[0].payload == payload and events[0].id is not None
    assert_aware_utc(events[0].received_at)
    only = await uow.read(lambda r: r.events.list("CP-1", kind="DataTransfer"))
    assert len(only) == 1


async def test_naive_datetimes_are_refused(uow: SqlUnitOfWork) -> None:
    with pytest.raises(Exception, match="naive"):
        await uow.run(lambda r: r.stations.record_seen("CP-1", datetime(2026, 1, 1)))
