"""One timer task per station, however many timers it has.

Heartbeat, meter samples per connector, schedule boundaries, reservation
expiry, connection time-outs: each is a named deadline here. A single task
sleeps (through the injected clock) until the earliest one, runs what is due
and sleeps again; setting or cancelling a deadline nudges it. That keeps a
fleet of ten thousand simulated stations at one timer task each, instead of a
task per timer.

Callbacks must not block on the network: they queue messages or spawn work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from opencsms.chargepoint.clock import Clock

log = structlog.get_logger("opencsms.chargepoint")

Callback = Callable[[], Awaitable[None]]


class Timers:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._due: dict[str, tuple[datetime, Callback]] = {}
        self._task: asyncio.Task[None] | None = None
        self._sleeper: asyncio.Future[None] | None = None

    def set(self, key: str, at: datetime, callback: Callback) -> None:
        self._due[key] = (at, callback)
        self._nudge()

    def set_in(self, key: str, seconds: float, callback: Callback) -> None:
        self.set(key, self.clock.now() + timedelta(seconds=seconds), callback)

    def cancel(self, key: str) -> None:
        if self._due.pop(key, None) is not None:
            self._nudge()

    def cancel_prefix(self, prefix: str) -> None:
        for key in [k for k in self._due if k.startswith(prefix)]:
            del self._due[key]
        self._nudge()

    def due_at(self, key: str) -> datetime | None:
        entry = self._due.get(key)
        return entry[0] if entry else None

    def clear(self, keep: tuple[str, ...] = ()) -> None:
        """Cancel every timer except those whose key starts with one of ``keep``."""
        for key in [k for k in self._due if not k.startswith(keep)]:
            del self._due[key]
        self._nudge()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="chargepoint-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sleeper is not None:
            self._sleeper.cancel()

    def _nudge(self) -> None:
        if self._sleeper is not None and not self._sleeper.done():
            self._sleeper.cancel()

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            for key, (at, _) in sorted(self._due.items(), key=lambda kv: kv[1][0]):
                current = self._due.get(key)
                if at > now or current is None or current[0] > now:
                    continue
                del self._due[key]
                try:
                    await current[1]()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("timer callback failed", timer=key)
            if self._due:
                delay = min(at for at, _ in self._due.values()) - self.clock.now()
                seconds = max(0.0, delay.total_seconds())
            else:
                seconds = 3600.0 * 24 * 365
            if seconds == 0 and any(at <= self.clock.now() for at, _ in self._due.values()):
                continue
            self._sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
            await asyncio.wait({self._sleeper})
            self._sleeper = None
