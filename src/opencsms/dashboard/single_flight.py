"""One read in flight, shared by everyone who asks while it runs.

A live event reaches every open dashboard at the same moment, and each asks
for the same fragment right after it (``static/dashboard.js`` throttles per
page, not across pages). The fleet's cards are the costly one at scale (a
probe per active session: ~110 ms at 10,000 stations, bench/README.md): ten
viewers would pay it ten times for the same answer. :class:`SingleFlight`
lets the callers that arrive while a read runs wait for that read instead.

Only a read *in flight* is shared, never a finished one kept for a while: a
caller that arrives after a read ended gets a fresh one, so what it shows is
never older than its own request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._running: asyncio.Future[T] | None = None

    async def get(self, read: Callable[[], Awaitable[T]]) -> T:
        """The result of the read in flight, or of ``read()`` started now.
        A caller that is cancelled (a closed page) does not cancel the read
        the others wait on; a read that fails, fails for each of them."""
        running = self._running
        if running is None or running.done():
            running = self._running = asyncio.ensure_future(read())
            running.add_done_callback(self._ended)
        return await asyncio.shield(running)

    def _ended(self, done: asyncio.Future[T]) -> None:
        if self._running is done:
            self._running = None
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone
