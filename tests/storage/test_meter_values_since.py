"""``for_transaction_since``: a session's samples from the register reading
at or before a time on (what the smart-charging sweep reads), on SQLite and
PostgreSQL, against the full read it stands in for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.domain.model import (
    MeterValue,
    SampledValue,
    StoredMeterValue,
    TagStatus,
    TransactionStart,
)
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
POWER = "Power.Active.Import"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def register(wh: int, location: str | None = None) -> SampledValue:
    return SampledValue(str(wh), unit="Wh", location=location)


def power(w: int) -> SampledValue:
    return SampledValue(str(w), POWER, "W")


async def start_transaction(uow: SqlUnitOfWork, station_id: str = "CP-1") -> int:
    begin = TransactionStart(station_id, 1, "TAG1", 1000, at(0))
    return (await uow.run(lambda r: r.transactions.create(begin, TagStatus.ACCEPTED))).id


async def add(
    uow: SqlUnitOfWork, tx: int, *readings: tuple[float, tuple[SampledValue, ...]]
) -> None:
    values = [MeterValue(at(s), samples) for s, samples in readings]
    await uow.run(lambda r: r.meter_values.add("CP-1", 1, tx, values, at(1000)))


def shown(samples: list[StoredMeterValue]) -> list[tuple[float, str, str]]:
    return [
        ((s.timestamp - T0).total_seconds(), s.sample.measurand[:5], s.sample.value)
        for s in samples
    ]


async def since(uow: SqlUnitOfWork, tx: int, seconds: float) -> list[StoredMeterValue]:
    return await uow.read(lambda r: r.meter_values.for_transaction_since(tx, at(seconds)))


async def test_reads_from_the_register_reading_at_or_before_since(uow: SqlUnitOfWork) -> None:
    tx = await start_transaction(uow)
    other = await start_transaction(uow, "CP-2")
    await add(
        uow,
        tx,
        (0, (register(1000), power(0))),
        (60, (register(1100), power(6000))),
        # power more often than the register (clock-aligned register): a
        # power-only reading is no bookend, the register before it is
        (90, (power(6100),)),
        (100, (register(999_999, "Inlet"),)),
        (120, (register(1200), power(6200))),
    )
    await uow.run(
        lambda r: r.meter_values.add("CP-2", 1, other, [MeterValue(at(70), (register(5),))], at(1))
    )
    full = await uow.read(lambda r: r.meter_values.for_transaction(tx))

    assert shown(await since(uow, tx, 110)) == [
        (60, "Energ", "1100"),
        (60, "Power", "6000"),
        (90, "Power", "6100"),
        (100, "Energ", "999999"),
        (120, "Energ", "1200"),
        (120, "Power", "6200"),
    ]
    # the same samples the full read has from the bookend on, in its order
    for moment, bookend in ((110, 60), (60, 60), (59.9, 0), (120, 120), (500, 120)):
        assert await since(uow, tx, moment) == [s for s in full if s.timestamp >= at(bookend)]


async def test_nothing_that_old_gives_every_sample(uow: SqlUnitOfWork) -> None:
    tx = await start_transaction(uow)
    await add(uow, tx, (30, (power(100),)), (60, (register(1100), power(6000))))
    full = await uow.read(lambda r: r.meter_values.for_transaction(tx))
    assert len(full) == 3
    assert await since(uow, tx, 45) == full  # a power reading before, no register
    assert await since(uow, tx, -3600) == full
    assert await since(uow, tx + 1000, 45) == []


async def test_reads_rows_still_pending_in_the_same_unit_of_work(uow: SqlUnitOfWork) -> None:
    tx = await start_transaction(uow)

    async def work(r: Repositories) -> list[StoredMeterValue]:
        values = [MeterValue(at(10), (register(1010),)), MeterValue(at(20), (register(1020),))]
        await r.meter_values.add("CP-1", 1, tx, values, at(30))
        return await r.meter_values.for_transaction_since(tx, at(15))

    assert shown(await uow.run(work)) == [(10, "Energ", "1010"), (20, "Energ", "1020")]
