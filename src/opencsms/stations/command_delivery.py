"""When this node delivers queued commands, and the sweep that expires them.

The CommandService knows *how* to deliver a station's queue; this decides
*when*, from what the node sees of its sessions:

* once a station's first message of a connection has been answered (its
  BootNotification, or whatever it sends first after a reconnect): only then
  is the station known to talk to us, and a command sent before its boot
  reply would break the 1.6 rule that a station must not be sent anything
  before it has been accepted. A BootNotification we answered ``Rejected``
  delivers nothing; the station will boot again.
* on start, commands left ``sent`` by a stopped node are failed (their answer
  is lost), and then every ``sweep_interval`` seconds queued commands past
  their time-to-live are expired (so a station that never comes back does
  not keep them ``queued`` forever). The sweep also delivers what was queued
  behind a delivery to a station that is ready (its first message answered)
  but whose delivery had just finished: the one gap the delivery loop's
  re-reading of the queue leaves.

Deliveries run as tasks of this object, not of the session: a delivery cut
short by a closing connection must still record the command's outcome
(``failed``), which it could not do if the session cancelled it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

from opencsms.domain.commands import CommandService
from opencsms.ocpp.router import Payload
from opencsms.ocpp.session import OcppSession

log = structlog.get_logger("opencsms.commands")


class CommandDelivery:
    def __init__(self, commands: CommandService, *, sweep_interval: float = 30.0) -> None:
        self._commands = commands
        self._sweep_interval = sweep_interval
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._ready: dict[str, OcppSession] = {}
        """Sessions whose first message was answered, by station."""

    async def start(self) -> None:
        failed = await self._commands.fail_unfinished()
        if failed:
            log.warning("commands left sent by a stopped node marked failed", count=failed)
        await self._commands.expire_overdue()
        self._sweeper = asyncio.create_task(self._sweep(), name="command-ttl-sweep")

    def on_first_reply(self, session: OcppSession, action: str, result: Payload) -> None:
        """The session's ``on_first_reply`` hook."""
        if action == "BootNotification" and result.get("status") == "Rejected":
            return
        self._ready[session.identity] = session
        self._spawn(self._deliver(session.identity))

    async def _deliver(self, station_id: str) -> None:
        try:
            delivered = await self._commands.deliver_queued(station_id)
        except Exception:
            log.exception("delivering queued commands failed", station=station_id)
            return
        if delivered:
            log.info("queued commands delivered", station=station_id, count=len(delivered))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self._commands.expire_overdue()
                waiting = await self._commands.stations_with_queued()
            except Exception:
                log.exception("expiring queued commands failed")
                continue
            for station_id, session in list(self._ready.items()):
                if session.closed:
                    del self._ready[station_id]
                elif station_id in waiting:
                    self._spawn(self._deliver(station_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sweeper = None
