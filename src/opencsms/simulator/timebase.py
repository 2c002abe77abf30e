"""Time and timers for a fleet: a sped-up clock, one agenda for all stations, fd limits.

:class:`ScaledClock` lets a day of charging pass in minutes: every sleep of
every station (heartbeats, meter samples, departures, reconnect backoff)
shrinks by ``speed``. :class:`Agenda` holds the fleet's own timed events
(arrivals, faults) in one heap served by one task, so their number does not
add tasks or loop timers per station.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import resource
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from opencsms.chargepoint.clock import Clock, SystemClock


class ScaledClock:
    """Real time sped up: ``speed`` simulated seconds pass per real second."""

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        self.speed = speed
        self._start = start or datetime.now(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def clock_for(speed: float) -> Clock:
    return SystemClock() if speed == 1 else ScaledClock(speed)


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (bounded by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


class Agenda:
    """Fleet-wide timed callbacks: one heap and one task, whatever the fleet size."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._sleeper: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def at(self, when: datetime, callback: Callable[[], None]) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (when, next(self._seq), callback))
        if (earliest is None or when < earliest) and self._sleeper and not self._sleeper.done():
            self._sleeper.cancel()

    def after(self, seconds: float, callback: Callable[[], None]) -> None:
        self.at(self.clock.now() + timedelta(seconds=seconds), callback)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fleet-agenda")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                heapq.heappop(self._heap)[2]()
            if not self._heap:
                delay = 86_400.0
            else:
                delay = max(0.0, (self._heap[0][0] - now).total_seconds())
            self._sleeper = asyncio.ensure_future(self.clock.sleep(delay))
            await asyncio.wait({self._sleeper})
