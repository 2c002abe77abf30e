"""CSMS-initiated commands: validated, recorded, sent, answered, audited.

CONTRACT (written first so the provisioning, reservation, local-list,
firmware and API work can code against it; the commands work fills it in).

A command is persisted before it is sent and updated with its outcome; the
``commands`` table is the audit trail and the durable per-station queue.

* ``execute`` to an online station sends at once and returns the finished
  record (answered / error / timed_out / failed).
* to an offline station: with ``queue_ttl`` the command is stored ``queued``
  and delivered in order when the station next connects (``deliver_queued``,
  called by the composition root after the station's BootNotification or
  first message), or ``expired`` once its TTL passes; without ``queue_ttl``
  :class:`StationOffline` is raised (the failed attempt is recorded).
* invalid input raises :class:`InvalidCommand` before anything is stored.
* ``on_finished(action, listener)``: listeners run after a command of that
  action reaches a final state, whether sent at once or from the queue; this
  is how reservations, local lists and jobs follow their commands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from opencsms.domain.model import Command


class UnknownStation(LookupError):
    """No station is registered with this id."""


class InvalidCommand(ValueError):
    """The command breaks the OCPP schema or a rule of ours; nothing was stored."""


class StationOffline(ConnectionError):
    """The station is not connected and the caller did not ask to queue."""

    def __init__(self, station_id: str, command: Command | None = None) -> None:
        super().__init__(f"station {station_id!r} is not connected")
        self.station_id = station_id
        self.command = command


class LinkError(Exception):
    """Base of what :class:`StationLink.call` raises besides a reply."""


class LinkOffline(LinkError):
    """No connection to the station (on this node, or at all)."""


class LinkTimeout(LinkError):
    """The station did not answer within the response timeout."""


class LinkLost(LinkError):
    """The connection ended before the answer arrived."""


class LinkCallError(LinkError):
    """The station answered with a CALLERROR (or a reply breaking the schema)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description


class StationLink(Protocol):
    """How the domain reaches a station: today the session registry of this
    node (``stations/link.py``); with clustering, a bus to the node that holds
    the station's socket. Knows nothing of WebSockets here."""

    def is_connected(self, station_id: str) -> bool: ...
    async def call(
        self, station_id: str, action: str, payload: dict[str, object]
    ) -> dict[str, object]:
        """The CALLRESULT payload, or a :class:`LinkError`."""


CommandListener = Callable[[Command], Awaitable[None]]


class CommandService(Protocol):
    async def execute(
        self,
        station_id: str,
        action: str,
        payload: dict[str, object],
        *,
        requested_by: str,
        queue_ttl: timedelta | None = None,
    ) -> Command: ...

    async def deliver_queued(self, station_id: str) -> list[Command]:
        """Send the station's queued commands in order; return their records."""

    def on_finished(self, action: str, listener: CommandListener) -> None: ...
    async def get(self, command_id: int) -> Command | None: ...
    async def list(
        self,
        station_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Command]: ...
