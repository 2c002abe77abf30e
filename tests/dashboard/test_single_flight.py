"""SingleFlight: callers that arrive while a read runs share it; a caller
after it ends gets a fresh read; a cancelled caller does not cancel the
read; a failure reaches every waiter and the next caller reads again."""

from __future__ import annotations

import asyncio

from opencsms.dashboard.single_flight import SingleFlight


class Source:
    def __init__(self) -> None:
        self.reads = 0
        self.release = asyncio.Event()
        self.fail = False

    async def read(self) -> int:
        self.reads += 1
        started = self.reads
        await self.release.wait()
        if self.fail:
            raise RuntimeError(f"read {started} failed")
        return started


async def test_callers_during_a_read_share_it_and_later_ones_read_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    source = Source()
    waiting = [asyncio.create_task(flight.get(source.read)) for _ in range(5)]
    await asyncio.sleep(0)
    source.release.set()
    assert await asyncio.gather(*waiting) == [1, 1, 1, 1, 1]
    assert source.reads == 1
    assert await flight.get(source.read) == 2  # the first read is over: never reused


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    flight: SingleFlight[int] = SingleFlight()
    source = Source()
    gone = asyncio.create_task(flight.get(source.read))
    staying = asyncio.create_task(flight.get(source.read))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    source.release.set()
    assert await staying == 1
    assert gone.cancelled() and source.reads == 1


async def test_a_failed_read_fails_for_each_waiter_and_the_next_caller_reads_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    source = Source()
    source.fail = True
    waiting = [asyncio.create_task(flight.get(source.read)) for _ in range(3)]
    await asyncio.sleep(0)
    source.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [str(r) for r in results] == ["read 1 failed"] * 3
    source.fail = False
    assert await flight.get(source.read) == 2
