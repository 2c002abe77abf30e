"""Signals, sites, needs, plans and profiles of live smart charging, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import Connection, insert, inspect

from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.grid import FlexEvent, FlexInterval, SiteLimit
from opencsms.domain.smart_charging.planner import Objective
from opencsms.domain.smart_charging.rates import Rate, RateError
from opencsms.domain.smart_charging.records import (
    SeriesSummary,
    Site,
)
from opencsms.storage import SqlUnitOfWork, create_engine, current_revision, head_revision, migrate
from opencsms.storage.migrations import alembic_config
from opencsms.storage.tables import webhooks

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def half_hours(first: int, count: int, value: float = 10.0, unit: str = "p/kWh") -> list[Rate]:
    """``count`` half-hour rates from minute ``30 * first``, valued ``value + i``."""
    return [
        Rate(at(30 * (first + i)), at(30 * (first + i + 1)), value + i, unit) for i in range(count)
    ]


async def stored(uow: SqlUnitOfWork, series: str = "price") -> list[Rate]:
    return await uow.read(lambda r: r.signals.window(series, at(-10_000), at(10_000)))


# -- signals -----------------------------------------------------------------


async def test_replace_and_window_round_trip_aware_utc(uow: SqlUnitOfWork) -> None:
    # given in CET: stored and read back in UTC, aware
    rates = [
        Rate(r.start.astimezone(CET), r.end.astimezone(CET), r.value, r.unit)
        for r in half_hours(0, 4, 7.25)
    ]
    assert await uow.run(lambda r: r.signals.replace("price", list(reversed(rates)))) == 4
    got = await stored(uow)
    assert got == half_hours(0, 4, 7.25)
    assert all(rate.start.tzinfo is UTC and rate.end.tzinfo is UTC for rate in got)
    # the window holds what overlaps [start, end), no more
    window = await uow.read(lambda r: r.signals.window("price", at(31), at(60)))
    assert window == half_hours(1, 1, 8.25)
    window = await uow.read(lambda r: r.signals.window("price", at(30), at(61)))
    assert window == half_hours(1, 2, 8.25)
    assert await uow.read(lambda r: r.signals.window("price", at(120), at(200))) == []
    assert await uow.read(lambda r: r.signals.window("co2", at(0), at(60))) == []


async def test_replace_keeps_what_lies_outside_the_range(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.signals.replace("price", half_hours(0, 6, 10.0)))  # 10..15
    # 45 min to 105 min: cuts rate 1 (30-60) and rate 3 (90-120) in two
    new = [Rate(at(45), at(75), 1.0, "p/kWh"), Rate(at(75), at(105), 2.0, "p/kWh")]
    assert await uow.run(lambda r: r.signals.replace("price", new)) == 2
    assert await stored(uow) == [
        Rate(at(0), at(30), 10.0, "p/kWh"),
        Rate(at(30), at(45), 11.0, "p/kWh"),
        Rate(at(45), at(75), 1.0, "p/kWh"),
        Rate(at(75), at(105), 2.0, "p/kWh"),
        Rate(at(105), at(120), 13.0, "p/kWh"),
        Rate(at(120), at(150), 14.0, "p/kWh"),
        Rate(at(150), at(180), 15.0, "p/kWh"),
    ]


async def test_replace_inside_one_rate_splits_it_and_gaps_clear(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.signals.replace("price", [Rate(at(0), at(120), 5.0, "p/kWh")]))
    # a gap between 40 and 50 inside the new range clears what was stored there
    new = [Rate(at(30), at(40), 1.0, "p/kWh"), Rate(at(50), at(60), 2.0, "p/kWh")]
    await uow.run(lambda r: r.signals.replace("price", new))
    assert await stored(uow) == [
        Rate(at(0), at(30), 5.0, "p/kWh"),
        Rate(at(30), at(40), 1.0, "p/kWh"),
        Rate(at(50), at(60), 2.0, "p/kWh"),
        Rate(at(60), at(120), 5.0, "p/kWh"),
    ]


async def test_replace_the_same_rates_again_is_idempotent(uow: SqlUnitOfWork) -> None:
    for _ in range(2):
        await uow.run(lambda r: r.signals.replace("price", half_hours(0, 3)))
    assert await stored(uow) == half_hours(0, 3)


async def test_series_are_independent_and_summarised(uow: SqlUnitOfWork) -> None:
    async def load(r: Repositories) -> None:
        await r.signals.replace("price", half_hours(0, 4))
        await r.signals.replace("co2", half_hours(2, 2, 150.0, "gCO2/kWh"))
        await r.signals.replace("price", half_hours(10, 1))

    await uow.run(load)
    assert await uow.read(lambda r: r.signals.summaries()) == [
        SeriesSummary("co2", "gCO2/kWh", at(60), at(120), 2),
        SeriesSummary("price", "p/kWh", at(0), at(330), 5),
    ]
    assert await stored(uow, "co2") == half_hours(2, 2, 150.0, "gCO2/kWh")


async def test_another_unit_must_replace_the_whole_series(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.signals.replace("price", half_hours(0, 4)))
    before = await stored(uow)
    # covers only part of the series: refused, nothing written
    with pytest.raises(ValueError, match=r"stored in p/kWh; rates in EUR/kWh"):
        await uow.run(lambda r: r.signals.replace("price", half_hours(1, 4, 0.1, "EUR/kWh")))
    assert await stored(uow) == before
    # replaces every stored row: allowed
    await uow.run(lambda r: r.signals.replace("price", half_hours(-1, 6, 0.1, "EUR/kWh")))
    assert await stored(uow) == half_hours(-1, 6, 0.1, "EUR/kWh")


async def test_a_refused_replace_leaves_the_transaction_usable(uow: SqlUnitOfWork) -> None:
    await uow.run(lambda r: r.signals.replace("price", half_hours(0, 4)))

    async def work(r: Repositories) -> list[Rate]:
        with pytest.raises(ValueError):
            await r.signals.replace("price", half_hours(1, 1, 1.0, "EUR/kWh"))
        await r.signals.replace("co2", half_hours(0, 1, 100.0, "gCO2/kWh"))
        return await r.signals.window("price", at(0), at(120))

    assert await uow.run(work) == half_hours(0, 4)
    assert await stored(uow, "co2") == half_hours(0, 1, 100.0, "gCO2/kWh")


async def test_replace_refuses_empty_mixed_and_naive_rates(uow: SqlUnitOfWork) -> None:
    with pytest.raises(ValueError, match="no rates"):
        await uow.run(lambda r: r.signals.replace("price", []))
    mixed = [*half_hours(0, 1), *half_hours(1, 1, unit="EUR/kWh")]
    with pytest.raises(RateError, match="mixed units"):
        await uow.run(lambda r: r.signals.replace("price", mixed))
    naive = [Rate(datetime(2026, 3, 1), datetime(2026, 3, 1, 1), 1.0, "p/kWh")]
    with pytest.raises(RateError, match="time zone"):
        await uow.run(lambda r: r.signals.replace("price", naive))
    assert await stored(uow) == []


# -- sites -------------------------------------------------------------------

PLAIN = Site("depot")
CAPPED = Site(
    "yard",
    name="Yard, north gate",
    limit=SiteLimit("yard", 63.0, unit="A", phases=1, voltage=240.0),
    price_series="agile",
    co2_series="grid-co2",
    objective=Objective("price+co2", 0.0125),
)


def event(
    event_id: str, *, cancelled: bool = False, modification: int = 0, site_id: str = "yard"
) -> FlexEvent:
    return FlexEvent(
        site_id=site_id,
        event_id=event_id,
        kind="cap_kw",
        intervals=(
            FlexInterval(at(0).astimezone(CET), at(30).astimezone(CET), 20.5),
            FlexInterval(at(30), at(90), 11.0),
        ),
        priority=2,
        modification_number=modification,
        cancelled=cancelled,
    )


async def test_site_round_trip_list_and_replace(uow: SqlUnitOfWork) -> None:
    async def put(r: Repositories) -> None:
        await r.sites.put(CAPPED)
        await r.sites.put(PLAIN)

    await uow.run(put)
    assert await uow.read(lambda r: r.sites.get("yard")) == CAPPED
    assert await uow.read(lambda r: r.sites.get("depot")) == PLAIN
    assert await uow.read(lambda r: r.sites.get("nowhere")) is None
    assert await uow.read(lambda r: r.sites.list()) == [PLAIN, CAPPED]

    # put replaces the site but keeps its members and events
    async def change(r: Repositories) -> None:
        await r.sites.set_site_of("CP-1", "yard")
        await r.sites.put_event(event("e1"), at(0))
        await r.sites.put(Site("yard", name="Yard", limit=SiteLimit("yard", 40.0)))

    await uow.run(change)
    assert await uow.read(lambda r: r.sites.get("yard")) == Site(
        "yard", name="Yard", limit=SiteLimit("yard", 40.0)
    )
    assert await uow.read(lambda r: r.sites.members("yard")) == ["CP-1"]
    assert await uow.read(lambda r: r.sites.events("yard")) == [event("e1")]


async def test_site_refuses_a_limit_of_another_site(uow: SqlUnitOfWork) -> None:
    with pytest.raises(ValueError, match="limit names site 'depot'"):
        await uow.run(lambda r: r.sites.put(Site("yard", limit=SiteLimit("depot", 1.0))))


async def test_membership_moves_and_leaves(uow: SqlUnitOfWork) -> None:
    async def setup(r: Repositories) -> None:
        await r.sites.put(PLAIN)
        await r.sites.put(CAPPED)
        for station in ("CP-2", "CP-1", "CP-3"):
            await r.sites.set_site_of(station, "yard")
        await r.sites.set_site_of("CP-3", "depot")  # a station is in one site at most
        await r.sites.set_site_of("CP-2", None)
        await r.sites.set_site_of("CP-9", None)  # not in any: nothing to do

    await uow.run(setup)
    assert await uow.read(lambda r: r.sites.members("yard")) == ["CP-1"]
    assert await uow.read(lambda r: r.sites.members("depot")) == ["CP-3"]
    assert await uow.read(lambda r: r.sites.site_of("CP-3")) == "depot"
    assert await uow.read(lambda r: r.sites.site_of("CP-2")) is None
    with pytest.raises(LookupError, match="no site 'nowhere'"):
        await uow.run(lambda r: r.sites.set_site_of("CP-1", "nowhere"))
    assert await uow.read(lambda r: r.sites.site_of("CP-1")) == "yard"


async def test_events_replace_by_key_and_keep_tombstones(uow: SqlUnitOfWork) -> None:
    async def setup(r: Repositories) -> None:
        await r.sites.put(CAPPED)
        await r.sites.put(PLAIN)
        await r.sites.put_event(event("e1"), at(0))
        await r.sites.put_event(event("e2"), at(1))
        await r.sites.put_event(event("e1", site_id="depot"), at(2))  # same id, other site
        await r.sites.put_event(event("e1", modification=1), at(3))  # replaces yard's e1
        await r.sites.put_event(event("e2", cancelled=True, modification=1), at(4))

    await uow.run(setup)
    got = await uow.read(lambda r: r.sites.events("yard"))
    assert got == [event("e1", modification=1)]
    assert all(i.start.tzinfo is UTC for i in got[0].intervals)
    assert await uow.read(lambda r: r.sites.events("yard", include_cancelled=True)) == [
        event("e1", modification=1),
        event("e2", cancelled=True, modification=1),
    ]
    assert await uow.read(lambda r: r.sites.events("depot")) == [event("e1", site_id="depot")]


async def test_removing_a_site_removes_its_members_and_events(uow: SqlUnitOfWork) -> None:
    async def setup(r: Repositories) -> None:
        await r.sites.put(CAPPED)
        await r.sites.put(PLAIN)
        await r.sites.set_site_of("CP-1", "yard")
        await r.sites.set_site_of("CP-2", "depot")
        await r.sites.put_event(event("e1"), at(0))
        await r.sites.put_event(event("e1", site_id="depot", cancelled=True), at(0))

    await uow.run(setup)

    async def remove(r: Repositories) -> tuple[bool, bool]:
        return await r.sites.remove("yard"), await r.sites.remove("yard")

    assert await uow.run(remove) == (True, False)
    assert await uow.read(lambda r: r.sites.list()) == [PLAIN]
    assert await uow.read(lambda r: r.sites.site_of("CP-1")) is None
    assert await uow.read(lambda r: r.sites.events("yard", include_cancelled=True)) == []
    # the other site is untouched
    assert await uow.read(lambda r: r.sites.members("depot")) == ["CP-2"]
    assert len(await uow.read(lambda r: r.sites.events("depot", include_cancelled=True))) == 1


# -- migration 0003 ----------------------------------------------------------


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migration_0003_upgrades_a_0002_database_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, "0002_operations")
        uow = SqlUnitOfWork(engine)
        await uow.start()
        try:
            # a database of the previous release, with data in it
            async with engine.begin() as conn:
                await conn.execute(
                    insert(webhooks).values(
                        url="https://a.example",
                        secret="s",
                        event_types=[],
                        created_at=T0,
                        active=True,
                    )
                )
            await migrate(engine)
            await uow.run(lambda r: r.signals.replace("price", half_hours(0, 2)))
            assert await stored(uow) == half_hours(0, 2)
            assert len(await uow.read(lambda r: r.webhooks.list())) == 1
        finally:
            await uow.close()
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, "0002_operations")
            tables = await conn.run_sync(_tables)
        assert "signal_rates" not in tables and "webhooks" in tables
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
