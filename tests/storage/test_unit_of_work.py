"""Group commit: batching, isolation of a failing item, read-your-writes, durability."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from opencsms.domain.model import MeterValue, SampledValue, Station, StationInfo
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork, UnitOfWorkClosed, create_engine, migrate
from opencsms.storage.repositories import SqlStationRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def station(station_id: str) -> Station:
    return Station(id=station_id, auth_key_hash=None, registered_at=T0)


def add_station(station_id: str):  # type: ignore[no-untyped-def]
    async def work(r: Repositories) -> str:
        await r.stations.add(station(station_id))
        return station_id

    return work


async def station_ids(uow: SqlUnitOfWork) -> list[str]:
    return [s.id for s in await uow.read(lambda r: r.stations.list())]


def connection_of(r: Repositories) -> AsyncConnection:
    """The batch's connection, for tests that need raw SQL."""
    assert isinstance(r.stations, SqlStationRepository)
    return r.stations._conn


async def test_concurrent_runs_share_commits(uow: SqlUnitOfWork) -> None:
    values = [MeterValue(T0, (SampledValue("1"), SampledValue("2", "Power.Active.Import")))]

    async def writer(i: int) -> int:
        return await uow.run(lambda r: r.meter_values.add(f"CP-{i}", 1, None, values, T0))

    results = await asyncio.gather(*(writer(i) for i in range(200)))
    assert results == [2] * 200
    assert uow.items_committed == 200
    assert uow.batches_committed < 200
    assert uow.largest_batch > 1
    stored = await uow.read(lambda r: r.meter_values.for_station("CP-7"))
    assert [s.sample.value for s in stored] == ["1", "2"]


async def test_max_batch_caps_a_batch(database_url: str) -> None:
    engine = create_engine(database_url)
    await migrate(engine)
    async with SqlUnitOfWork(engine, max_batch=3, owns_engine=True) as uow:
        await asyncio.gather(*(uow.run(add_station(f"CP-{i}")) for i in range(10)))
        assert uow.largest_batch == 3
        assert uow.batches_committed >= 4
        assert len(await station_ids(uow)) == 10


async def test_raising_item_is_rolled_back_and_the_rest_of_its_batch_commits(
    uow: SqlUnitOfWork,
) -> None:
    class Boom(Exception):
        pass

    async def failing(r: Repositories) -> None:
        await r.stations.add(station("BAD"))
        await r.stations.record_boot("CP-1", StationInfo("v", "m"), T0)
        raise Boom

    async def db_error(r: Repositories) -> None:
        await r.stations.add(station("BAD-2"))
        await connection_of(r).execute(text("SELECT * FROM no_such_table"))

    batches_before = uow.batches_committed
    results = await asyncio.gather(
        uow.run(add_station("CP-1")),
        uow.run(failing),
        uow.run(add_station("CP-2")),
        uow.run(db_error),
        uow.run(add_station("CP-3")),
        return_exceptions=True,
    )
    assert uow.batches_committed == batches_before + 1, "expected one batch"
    assert results[0] == "CP-1" and results[2] == "CP-2" and results[4] == "CP-3"
    assert isinstance(results[1], Boom)
    assert isinstance(results[3], Exception) and "no_such_table" in str(results[3])
    assert await station_ids(uow) == ["CP-1", "CP-2", "CP-3"]
    cp1 = await uow.read(lambda r: r.stations.get("CP-1"))
    assert cp1 is not None and cp1.info is None  # the failing item's update is gone too
    assert uow.items_failed == 2


async def test_a_failing_item_runs_once_the_others_at_most_twice(uow: SqlUnitOfWork) -> None:
    runs: dict[str, int] = {}

    def counted(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        async def work(r: Repositories) -> str:
            runs[name] = runs.get(name, 0) + 1
            await r.stations.add(station(name))
            if fail:
                raise ValueError(name)
            return name

        return work

    results = await asyncio.gather(
        uow.run(counted("A")),
        uow.run(counted("B", fail=True)),
        uow.run(counted("C")),
        return_exceptions=True,
    )
    assert results[0] == "A" and isinstance(results[1], ValueError) and results[2] == "C"
    assert runs == {"A": 2, "B": 1, "C": 1}  # A ran before the failure, re-run after rollback
    assert uow.batches_rerun == 1
    assert await station_ids(uow) == ["A", "C"]


async def test_items_of_a_batch_read_earlier_items_writes(uow: SqlUnitOfWork) -> None:
    async def sees_cp1(r: Repositories) -> bool:
        return await r.stations.get("CP-1") is not None

    batches_before = uow.batches_committed
    added, seen = await asyncio.gather(uow.run(add_station("CP-1")), uow.run(sees_cp1))
    assert uow.batches_committed == batches_before + 1
    assert added == "CP-1" and seen is True


async def test_run_returns_after_a_durable_commit(uow: SqlUnitOfWork, database_url: str) -> None:
    await asyncio.gather(*(uow.run(add_station(f"CP-{i}")) for i in range(20)))
    other = create_engine(database_url)
    try:
        async with other.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM stations"))).scalar_one()
    finally:
        await other.dispose()
    assert count == 20


def _deferred_violation_sql(dialect: str) -> list[str]:
    """Statements that succeed but make the COMMIT fail (a deferred constraint)."""
    if dialect == "postgresql":
        return [
            "CREATE TEMP TABLE defer_check (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
            " ON COMMIT DROP",
            "INSERT INTO defer_check VALUES (1), (1)",
        ]
    return [
        "CREATE TEMP TABLE defer_parent (id INTEGER PRIMARY KEY)",
        "CREATE TEMP TABLE defer_child (pid INTEGER REFERENCES defer_parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)",
        "INSERT INTO defer_child VALUES (1)",
    ]


async def test_failed_commit_fails_every_item_of_the_batch(uow: SqlUnitOfWork) -> None:
    async def poison(r: Repositories) -> None:
        conn = connection_of(r)
        for sql in _deferred_violation_sql(conn.dialect.name):
            await conn.execute(text(sql))

    results = await asyncio.gather(
        uow.run(add_station("CP-1")),
        uow.run(poison),
        uow.run(add_station("CP-2")),
        return_exceptions=True,
    )
    assert all(isinstance(result, Exception) for result in results), results
    assert uow.batches_failed == 1
    assert await station_ids(uow) == []
    # The writer carries on with the next batch.
    assert await uow.run(add_station("CP-3")) == "CP-3"
    assert await station_ids(uow) == ["CP-3"]


async def test_read_does_not_wait_for_the_write_queue(uow: SqlUnitOfWork) -> None:
    await uow.run(add_station("CP-1"))
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_write(r: Repositories) -> None:
        await r.stations.add(station("CP-2"))
        entered.set()
        await release.wait()

    write = asyncio.create_task(uow.run(slow_write))
    await entered.wait()
    # The writer holds its transaction open; a read sees the last committed state.
    assert await asyncio.wait_for(station_ids(uow), timeout=5) == ["CP-1"]
    release.set()
    await write
    assert await station_ids(uow) == ["CP-1", "CP-2"]


async def test_close_drains_the_queue_and_later_runs_fail(database_url: str) -> None:
    engine = create_engine(database_url)
    await migrate(engine)
    uow = SqlUnitOfWork(engine)
    with pytest.raises(UnitOfWorkClosed):
        await uow.run(add_station("early"))
    await uow.start()
    tasks = [asyncio.create_task(uow.run(add_station(f"CP-{i}"))) for i in range(50)]
    await asyncio.sleep(0)  # let every task enqueue
    await uow.close()
    assert all(task.done() and not task.exception() for task in tasks)
    with pytest.raises(UnitOfWorkClosed):
        await uow.run(add_station("late"))
    await uow.close()  # idempotent
    # The engine was not the unit of work's: still usable, disposed by us.
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM stations"))).scalar_one()
    assert count == 50
    await engine.dispose()


async def test_caller_cancelled_while_queued_is_skipped(uow: SqlUnitOfWork) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def blocker(r: Repositories) -> None:
        entered.set()
        await release.wait()

    first = asyncio.create_task(uow.run(blocker))
    await entered.wait()
    queued = asyncio.create_task(uow.run(add_station("CP-X")))
    await asyncio.sleep(0)
    queued.cancel()
    release.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    await uow.run(add_station("CP-Y"))
    assert await station_ids(uow) == ["CP-Y"]
