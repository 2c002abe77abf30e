"""Deferred appends within a batch: read-your-writes, failure isolation, collapsing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from opencsms.domain.model import (
    MeterValue,
    SampledValue,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
    TagStatus,
    TransactionStart,
)
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def values(value: str, measurand: Any = "Energy.Active.Import.Register") -> list[MeterValue]:
    return [MeterValue(T0, (SampledValue(value, measurand),))]


@contextmanager
def statements(uow: SqlUnitOfWork) -> Iterator[list[str]]:
    """The SQL the writer sends while the block runs."""
    engine = uow._sqlite_engine or uow.engine.sync_engine  # the writer's
    sent: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        sent.append(" ".join(sql.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def one_batch(uow: SqlUnitOfWork, *works: Any) -> list[Any]:
    batches = uow.batches_committed + uow.batches_failed
    results = await asyncio.gather(*(uow.run(w) for w in works), return_exceptions=True)
    assert uow.batches_committed + uow.batches_failed == batches + 1, "expected one batch"
    return results


async def test_later_items_and_reads_see_deferred_rows(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.stations.add(Station("CP-1", None, T0)))
    report = StatusReport(1, "Charging", "NoError")

    async def write(r: Repositories) -> None:
        await r.meter_values.add("CP-1", 1, None, values("1"), at(1))
        await r.connectors.record("CP-1", report, at(1))
        await r.events.add(StationEvent("CP-1", "DataTransfer", {"a": 1}, at(1)))
        await r.stations.record_seen("CP-1", at(1))

    async def read(r: Repositories) -> tuple[Any, ...]:
        station = await r.stations.get("CP-1")
        return (
            [v.sample.value for v in await r.meter_values.for_station("CP-1")],
            [c.status for c in await r.connectors.current("CP-1")],
            [c.status for c in await r.connectors.history("CP-1")],
            [e.payload for e in await r.events.list("CP-1")],
            station.last_seen_at if station else None,
        )

    _, seen = await one_batch(uow, write, read)
    assert seen == (["1"], ["Charging"], ["Charging"], [{"a": 1}], at(1))


async def test_appends_are_sent_once_per_table_at_the_end_of_the_batch(
    uow: SqlUnitOfWork,
) -> None:
    await uow.run(lambda r: r.stations.add(Station("CP-1", None, T0)))

    def item(i: int) -> Any:
        async def work(r: Repositories) -> None:
            await r.meter_values.add("CP-1", 1, 7, values(str(i)), at(i))
            await r.connectors.record("CP-1", StatusReport(1, "Charging", "NoError"), at(i))
            await r.stations.record_seen("CP-1", at(i))

        return work

    with statements(uow) as sent:
        await one_batch(uow, *(item(i) for i in range(20)))
    inserts = [s for s in sent if s.startswith(("INSERT", "UPDATE", "SELECT"))]
    # seen, current status, history, already-stored lookup, tx lookup, values
    assert len(inserts) == 6, inserts
    station = await uow.read(lambda r: r.stations.get("CP-1"))
    assert station is not None and station.last_seen_at == at(19)
    history = await uow.read(lambda r: r.connectors.history("CP-1"))
    assert len(history) == 20 and history[0].updated_at == at(19)
    assert len(await uow.read(lambda r: r.meter_values.for_station("CP-1"))) == 20


async def test_heartbeats_of_a_station_collapse_to_the_last_one(uow: SqlUnitOfWork) -> None:
    for sid in ("CP-1", "CP-2"):
        await uow.run(lambda r, sid=sid: r.stations.add(Station(sid, None, T0)))

    def seen(sid: str, seconds: float) -> Any:
        return lambda r: r.stations.record_seen(sid, at(seconds))

    with statements(uow) as sent:
        await one_batch(uow, seen("CP-1", 1), seen("CP-2", 5), seen("CP-1", 3), seen("CP-1", 2))
    updates = [s for s in sent if s.startswith("UPDATE stations")]
    assert len(updates) == 1  # one executemany with a row per station
    stations = {s.id: s.last_seen_at for s in await uow.read(lambda r: r.stations.list())}
    assert stations == {"CP-1": at(2), "CP-2": at(5)}  # the last call wins, as in order


async def test_a_boot_after_a_deferred_heartbeat_keeps_its_order(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.stations.add(Station("CP-1", None, T0)))
    info = StationInfo("ACME", "X")
    await one_batch(
        uow,
        lambda r: r.stations.record_seen("CP-1", at(1)),
        lambda r: r.stations.record_boot("CP-1", info, at(2)),
    )
    station = await uow.read(lambda r: r.stations.get("CP-1"))
    assert station is not None and station.last_seen_at == at(2) and station.info == info


async def test_a_failing_items_deferred_rows_are_not_written(uow: SqlUnitOfWork) -> None:
    class Boom(Exception):
        pass

    async def failing(r: Repositories) -> None:
        await r.meter_values.add("CP-1", 1, None, values("bad"), at(1))
        await r.events.add(StationEvent("CP-1", "DataTransfer", {"bad": True}, at(1)))
        raise Boom

    results = await one_batch(
        uow,
        lambda r: r.meter_values.add("CP-1", 1, None, values("good-1"), at(1)),
        failing,
        lambda r: r.meter_values.add("CP-1", 1, None, values("good-2"), at(1)),
    )
    assert results[0] == 1 and isinstance(results[1], Boom) and results[2] == 1
    stored = await uow.read(lambda r: r.meter_values.for_station("CP-1"))
    assert sorted(v.sample.value for v in stored) == ["good-1", "good-2"]
    assert await uow.read(lambda r: r.events.list("CP-1")) == []


async def test_a_row_the_database_refuses_fails_its_own_item_only(uow: SqlUnitOfWork) -> None:
    # measurand is NOT NULL: the deferred executemany fails at flush time, when
    # no item is running; the batch is re-run with immediate writes.
    bad = values("bad", measurand=None)

    async def reader(r: Repositories) -> int:  # its read triggers the failing flush
        return len(await r.meter_values.for_station("CP-1"))

    results = await one_batch(
        uow,
        lambda r: r.meter_values.add("CP-1", 1, None, values("good-1"), at(1)),
        lambda r: r.meter_values.add("CP-1", 1, None, bad, at(1)),
        reader,
        lambda r: r.meter_values.add("CP-1", 1, None, values("good-2"), at(1)),
    )
    assert results[0] == 1 and results[3] == 1
    assert isinstance(results[1], Exception)
    assert results[2] == 1  # not blamed for the flush; re-run, it sees good-1
    assert uow.batches_rerun == 1
    stored = await uow.read(lambda r: r.meter_values.for_station("CP-1"))
    assert sorted(v.sample.value for v in stored) == ["good-1", "good-2"]


async def test_meter_values_link_to_a_transaction_of_the_same_batch(uow: SqlUnitOfWork) -> None:
    start = TransactionStart("CP-1", 1, "TAG", 0, T0)
    tx = (await uow.run(lambda r: r.transactions.create(start, TagStatus.ACCEPTED))).id

    async def stop_like(r: Repositories) -> int:
        # what TransactionService.stop does: read the transaction, then add values
        transaction = await r.transactions.get(tx)
        assert transaction is not None
        return await r.meter_values.add("CP-1", 1, tx, values("stop"), at(2))

    await one_batch(
        uow, lambda r: r.meter_values.add("CP-1", 1, tx, values("periodic"), at(1)), stop_like
    )
    linked = await uow.read(lambda r: r.meter_values.for_transaction(tx))
    assert [v.sample.value for v in linked] == ["periodic", "stop"]


async def test_a_resent_meter_values_is_stored_once(uow: SqlUnitOfWork) -> None:
    """A station whose reply was lost resends the same values after reconnecting."""
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    reading = MeterValue(
        at, (SampledValue("1200", unit="Wh"), SampledValue("7.2", "Power.Active.Import", "kW"))
    )
    corrected = MeterValue(at, (SampledValue("1201", unit="Wh"),))

    async def send(repos: Repositories, value: MeterValue = reading) -> int:
        return await repos.meter_values.add("CP-1", 1, 7, [value], at)

    await uow.run(send)  # first delivery
    await asyncio.gather(uow.run(send), uow.run(send))  # two resends, maybe in one batch
    await uow.run(lambda repos: send(repos, corrected))  # a different reading is kept
    await uow.run(lambda r: r.meter_values.add("CP-2", 1, 7, [reading], at))  # another station

    async def stored(repos: Repositories, station: str) -> list[str]:
        return [v.sample.value for v in await repos.meter_values.for_station(station)]

    assert sorted(await uow.read(lambda r: stored(r, "CP-1"))) == ["1200", "1201", "7.2"]
    assert sorted(await uow.read(lambda r: stored(r, "CP-2"))) == ["1200", "7.2"]
