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
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.records import ChargingMode, Site, StoredPlan
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


# -- around: the few samples the sweep needs ---------------------------------


def current(a: float) -> SampledValue:
    return SampledValue(f"{a:g}", "Current.Import", "A")


async def plan(r: Repositories, tx: int, made: datetime) -> None:
    segment = Segment(made, made + timedelta(hours=1), 7.0)
    await r.charging.add_plan(StoredPlan(0, tx, "CP-1", 1, made, "test", "single", (segment,), 7.0))


async def around(
    uow: SqlUnitOfWork, plan_times: dict[int, float | None]
) -> dict[int, list[tuple[float, str, str]]]:
    """``around`` the sessions, each with a newer plan made ``plan_times``
    after T0 first (None: none)."""
    for tx, seconds in plan_times.items():
        if seconds is not None:
            await uow.run(lambda r, tx=tx, s=seconds: plan(r, tx, at(s)))
    found = await uow.read(lambda r: r.meter_values.around(list(plan_times)))
    return {tx: shown(samples) for tx, samples in found.items()}


async def test_around_reads_the_registers_bracketing_the_plan_the_last_and_the_power(
    uow: SqlUnitOfWork,
) -> None:
    tx = await start_transaction(uow)
    other = await start_transaction(uow, "CP-2")
    quiet = await start_transaction(uow, "CP-3")
    await add(
        uow,
        tx,
        (0, (register(1000), power(0))),
        (60, (register(1100), power(6000))),
        (90, (power(6100),)),  # power only: no register bracket
        (100, (register(999_999, "Inlet"),)),  # not the outlet's register
        (110, (SampledValue("0a1b", unit="Wh", format="SignedData"),)),  # signed: no reading
        (120, (register(1200), power(6200))),
        (180, (register(1300),)),
        (240, (register(1400),)),  # the latest register, after the latest power
        (200, (current(26),)),  # the latest power or current reading, late and out of order
    )
    await uow.run(
        lambda r: r.meter_values.add("CP-2", 1, other, [MeterValue(at(70), (register(5),))], at(1))
    )
    found = await around(uow, {tx: 95, other: None, quiet: 95})
    assert found[tx] == [
        (60, "Energ", "1100"),
        (60, "Power", "6000"),
        (120, "Energ", "1200"),
        (120, "Power", "6200"),
        (200, "Curre", "26"),
        (240, "Energ", "1400"),
    ]
    assert found[other] == [(70, "Energ", "5")]  # no plan: the latest register only
    assert found[quiet] == []
    # a plan made at a register reading: that reading and the next bracket it
    assert (await around(uow, {tx: 120}))[tx][:3] == [
        (120, "Energ", "1200"),
        (120, "Power", "6200"),
        (180, "Energ", "1300"),
    ]
    # made after the latest register: it brackets from below, nothing above
    assert [s for s, m, _ in (await around(uow, {tx: 500}))[tx] if m == "Energ"] == [240]
    assert await uow.read(lambda r: r.meter_values.around([])) == {}


async def test_around_is_the_full_read_at_those_times_for_many_sessions(
    uow: SqlUnitOfWork,
) -> None:
    """Two hundred sessions in one call: each one's samples are exactly the
    full read's at its four times, in the full read's order (phases and
    conflicting readings at one time included, as metered_intervals reads
    them)."""
    made: dict[int, datetime | None] = {}
    for i in range(200):
        tx = await start_transaction(uow, f"CP-{i}")
        readings: list[tuple[float, tuple[SampledValue, ...]]] = []
        for m in range(1, 30):
            wh = 1000 + 100 * m
            samples: tuple[SampledValue, ...] = (power(6000 + i),)
            if m % 3 == 0:
                samples += (register(wh), register(wh + 1))  # a conflicting second value
            elif m % 3 == 1:
                samples += tuple(SampledValue(str(wh // 3), unit="Wh", phase=p) for p in "ABC")
            readings.append((60 * m, samples))
        values = [MeterValue(at(s), v) for s, v in readings]
        await uow.run(
            lambda r, v=values, tx=tx, i=i: r.meter_values.add(f"CP-{i}", 1, tx, v, at(1))
        )
        made[tx] = None if i % 7 == 0 else at(60 * (i % 31) + 30 * (i % 2))
        if (when := made[tx]) is not None:  # an older plan first: the latest one counts
            await uow.run(lambda r, tx=tx, w=when: plan(r, tx, w - timedelta(minutes=10)))
            await uow.run(lambda r, tx=tx, w=when: plan(r, tx, w))
    found = await uow.read(lambda r: r.meter_values.around(list(made)))
    assert found.keys() == made.keys()
    for tx, plan_at in made.items():
        full = await uow.read(lambda r, tx=tx: r.meter_values.for_transaction(tx))
        registers = sorted({s.timestamp for s in full if s.sample.measurand.startswith("Energy")})
        times = {registers[-1], max(s.timestamp for s in full if s.sample.measurand == POWER)}
        if plan_at is not None:
            times |= {max((t for t in registers if t <= plan_at), default=registers[-1])}
            times |= {min((t for t in registers if t > plan_at), default=registers[-1])}
        assert found[tx] == [s for s in full if s.timestamp in times]


# -- the sweep's other reads of many sessions ---------------------------------


async def test_sites_modes_and_latest_plans_of_many_are_the_reads_of_one(
    uow: SqlUnitOfWork,
) -> None:
    """``sites_of``, ``modes`` and ``latest_plans`` (one query per thousand
    keys, here 2,500 of each) give what ``site_of``, ``mode`` and
    ``latest_plan`` give one by one."""
    stations = [f"CP-{i:04d}" for i in range(2500)]

    async def fill(r: Repositories) -> None:
        await r.sites.put(Site("north"))
        await r.sites.put(Site("south"))
        for i, station_id in enumerate(stations):
            if i % 3:
                await r.sites.set_site_of(station_id, "north" if i % 3 == 1 else "south")
            if i % 4 == 0:
                await r.charging.set_mode(station_id, ChargingMode.OFF, T0)
            for version in range(i % 3):  # sessions with 0, 1 or 2 plans
                segment = Segment(at(version), at(3600), 7.0)
                plan = StoredPlan(0, i, station_id, 1, at(version), f"v{version}", "single",
                                  (segment,), 7.0)  # fmt: skip
                await r.charging.add_plan(plan)

    await uow.run(fill)
    asked = [*stations, "NOWHERE"]
    sites = await uow.read(lambda r: r.sites.sites_of(asked))
    modes = await uow.read(lambda r: r.charging.modes(asked))
    plans = await uow.read(lambda r: r.charging.latest_plans([*range(2500), 99_999]))

    async def one_by_one(
        r: Repositories,
    ) -> tuple[dict[str, str], dict[str, object], dict[int, object]]:
        site_of = {s: site for s in asked if (site := await r.sites.site_of(s)) is not None}
        mode = {s: await r.charging.mode(s) for s in asked}
        latest = {i: p for i in [*range(2500), 99_999] if (p := await r.charging.latest_plan(i))}
        return site_of, mode, latest

    assert (sites, modes, plans) == await uow.read(one_by_one)
    assert len(sites) == 1666 and modes["NOWHERE"] is ChargingMode.SMART
    assert len(plans) == 1666 and {p.reason for p in plans.values()} == {"v0", "v1"}
    assert plans[2].reason == "v1"
