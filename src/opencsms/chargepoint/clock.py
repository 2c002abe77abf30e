"""Time for the station: an injected clock, so tests never really wait.

Everything in the charge-point library that depends on time (heartbeats,
meter samples, schedule boundaries, reservations, backoff) asks a
:class:`Clock` for ``now()`` and ``await clock.sleep(s)``. The system clock
maps onto ``asyncio.sleep`` — a loop timer, not a thread — so ten thousand
simulated stations cost ten thousand timer handles, nothing more.

:class:`FakeClock` ships in the package (not only in tests) so that users of
the simulator can drive a station step by step: ``await clock.advance(60)``
wakes every sleeper whose deadline falls inside the minute, in deadline
order, letting each woken task run before time moves on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current UTC time (timezone-aware)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock time and the event loop's timers."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SETTLE_ROUNDS = 20
"""Event-loop turns given to woken tasks before time moves on."""


async def settle(rounds: int = SETTLE_ROUNDS) -> None:
    """Let ready tasks run (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeClock:
    """A manually advanced clock; sleepers wake only in :meth:`advance`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday
        self._elapsed = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._elapsed + seconds, next(self._seq), future))
        await future

    @property
    def next_deadline(self) -> float | None:
        """Seconds until the earliest live sleeper wakes, or None."""
        while self._timers and self._timers[0][2].done():
            heapq.heappop(self._timers)
        return self._timers[0][0] - self._elapsed if self._timers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in order and letting them run."""
        target = self._elapsed + seconds
        await settle()
        while self._timers and self._timers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._elapsed = max(self._elapsed, deadline)
            future.set_result(None)
            await settle()
        self._elapsed = target
        await settle()


def ocpp_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``, as OCPP-J payloads carry it."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    """Parse an OCPP timestamp; naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
