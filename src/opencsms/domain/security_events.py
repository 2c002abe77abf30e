"""The security-event log: logins, failed logins and account changes, kept
in the database for the dashboard's security page and published on the bus
as ``security.<kind>`` (live stream, webhooks).

Kinds in use: ``station.login_failed``, ``operator.login``,
``operator.login_failed``, ``operator.logout``, ``operator.created``,
``operator.password_changed``, ``operator.disabled``, ``operator.enabled``,
``api_key.created``, ``api_key.revoked`` (the subject: the key's name).
``subject`` is the
station id or operator name; ``detail`` is a sentence and never holds a
password or key.

A failed station login happens in the WebSocket handshake, which must not
wait on the database (and an attacker decides how often it happens), so the
station authenticator calls :meth:`SecurityEventLog.record_soon`, which only
schedules the write, under two bounds:

* at most one row per ``(kind, subject, remote)`` per :data:`REPEAT_WINDOW`
  (10 s): a repeat inside the window is not stored but counted, and the next
  stored row of that key says how many were left out;
* at most :data:`MAX_PENDING` writes in flight: beyond that an event is
  dropped and counted in :attr:`SecurityEventLog.dropped`.

So a flood of bad logins costs a bounded number of rows and tasks, while
the log still shows who was hammering from where.
"""

from __future__ import annotations

import asyncio
import builtins
from collections import OrderedDict
from datetime import datetime, timedelta

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import EventBus
from opencsms.domain.model import SecurityEvent
from opencsms.domain.ports import Repositories, UnitOfWork

__all__ = ["MAX_PENDING", "REPEAT_WINDOW", "SecurityEventLog"]

log = structlog.get_logger("opencsms.security_events")

REPEAT_WINDOW = timedelta(seconds=10)
"""``record_soon`` stores at most one row per (kind, subject, remote) in this window."""
MAX_PENDING = 64
"""``record_soon`` writes in flight at once; more are dropped (and counted)."""
MAX_TRACKED = 10_000
"""(kind, subject, remote) keys remembered for the repeat window (LRU)."""
MAX_LIMIT = 500

_Key = tuple[str, str, str | None]


def _event(at: datetime, kind: str, subject: str, remote: str | None, detail: str) -> SecurityEvent:
    """The event to store; a subject or address longer than the column (a
    station id comes from the URL, so an attacker picks it) is cut short."""
    return SecurityEvent(
        None, at, kind, subject[:255], None if remote is None else remote[:255], detail
    )


class SecurityEventLog:
    def __init__(
        self, uow: UnitOfWork, clock: Clock = utc_now, events: EventBus | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        self._pending: set[asyncio.Task[None]] = set()
        self._last: OrderedDict[_Key, tuple[datetime, int]] = OrderedDict()
        """Key → (time of its last stored row, repeats left out since)."""
        self.dropped = 0
        """Events ``record_soon`` dropped because MAX_PENDING writes were in flight."""
        self.suppressed = 0
        """Events ``record_soon`` left out as repeats inside REPEAT_WINDOW."""

    async def record(self, kind: str, subject: str, remote: str | None, detail: str) -> None:
        """Store the event now, then publish ``security.<kind>``."""
        await self._store(_event(self._clock(), kind, subject, remote, detail))

    def record_soon(self, kind: str, subject: str, remote: str | None, detail: str) -> None:
        """Schedule :meth:`record` without waiting; bounded (see the module
        docstring): one row per (kind, subject, remote) per 10 s, at most
        MAX_PENDING writes in flight, the rest counted and dropped. Needs a
        running event loop (outside one the event is dropped)."""
        now = self._clock()
        key = (kind, subject, remote)
        last = self._last.get(key)
        if last is not None and now - last[0] < REPEAT_WINDOW:
            self._last[key] = (last[0], last[1] + 1)
            self.suppressed += 1
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.dropped += 1
            return
        repeats = last[1] if last is not None else 0
        self._last[key] = (now, 0)
        self._last.move_to_end(key)
        while len(self._last) > MAX_TRACKED:
            self._last.popitem(last=False)
        if repeats:
            detail = f"{detail} ({repeats} more like it in the {REPEAT_WINDOW.seconds} s before)"
        event = _event(now, kind, subject, remote, detail)
        task = loop.create_task(self._store_quietly(event), name=f"security-event-{kind}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the writes ``record_soon`` scheduled (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def recent(
        self, limit: int = 50, before_id: int | None = None, kind: str | None = None
    ) -> builtins.list[SecurityEvent]:
        """Newest first; ``before_id`` is the ``id`` of the last event of the
        previous page (keyset pagination). ``limit`` is capped at 500."""
        limit = max(1, min(limit, MAX_LIMIT))

        async def read(repos: Repositories) -> builtins.list[SecurityEvent]:
            return await repos.security_events.recent(limit, before_id, kind)

        return await self._uow.read(read)

    async def _store(self, event: SecurityEvent) -> None:
        async def work(repos: Repositories) -> SecurityEvent:
            return await repos.security_events.add(event)

        stored = await self._uow.run(work)
        if self._events is not None:
            station_id = stored.subject if stored.kind.startswith("station.") else None
            self._events.publish(
                f"security.{stored.kind}",
                station_id,
                {
                    "id": stored.id,
                    "kind": stored.kind,
                    "subject": stored.subject,
                    "remote": stored.remote,
                    "detail": stored.detail,
                },
            )

    async def _store_quietly(self, event: SecurityEvent) -> None:
        try:
            await self._store(event)
        except Exception:
            log.exception("security event not stored", kind=event.kind, subject=event.subject)
