"""CSMS-initiated commands: validated, recorded, sent, answered, audited.

A command is persisted before it is sent and updated with its outcome; the
``commands`` table is the audit trail and the durable per-station queue.

* ``execute`` to an online station sends at once and returns the finished
  record (answered / error / timed_out / failed).
* to an offline station: with ``queue_ttl`` the command is stored ``queued``
  and delivered in order when the station next connects (``deliver_queued``,
  called by the composition root once the station's first message of a
  connection has been answered), or ``expired`` once its TTL passes
  (``expire_overdue``, swept periodically); without ``queue_ttl``
  :class:`StationOffline` is raised (the failed attempt is recorded).
* invalid input raises :class:`InvalidCommand` before anything is stored.
* ``on_finished(action, listener)``: listeners run after a command of that
  action reaches a final state (whether sent at once, from the queue, failed
  offline or expired) and that state is committed; this is how reservations,
  local lists and jobs follow their commands. A failing listener is logged,
  never the caller's problem.

Validation comes in two layers. The protocol's own rules (schema, the 1.6
rules of SetChargingProfile, TriggerMessage, RemoteStartTransaction) are a
pure function of action and payload, injected as ``validate`` by the
composition root (:func:`opencsms.v16.commands.validate_command`; the domain
imports nothing of the protocol adapters). Rules that need stored state
live here, in the same database transaction that records the command, so
a rejected command leaves no row: the station must be registered
(:class:`UnknownStation`); a TxProfile's ``transactionId`` must be an active
transaction of that station on that connector, and RemoteStopTransaction's
an active transaction of that station (:class:`InvalidCommand`).

Every final state is published as ``command.finished`` on the EventBus (the
record as :func:`command_as_dict`, plus ``latency_s`` from sent to finished).
"""

from __future__ import annotations

import asyncio
import builtins
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import EventBus
from opencsms.domain.model import Command, CommandState
from opencsms.domain.ports import Repositories, UnitOfWork

log = structlog.get_logger("opencsms.commands")

OFFLINE_ERROR = "station offline"


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
CommandValidator = Callable[[str, dict[str, object]], None]
"""Raises :class:`InvalidCommand` for an action or payload the protocol forbids."""


def command_as_dict(command: Command) -> dict[str, object]:
    """The record as JSON-ready data (what events, webhooks and the API show)."""
    data = asdict(command)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["state"] = command.state.value
    latency = (
        (command.finished_at - command.sent_at).total_seconds()
        if command.finished_at is not None and command.sent_at is not None
        else None
    )
    data["latency_s"] = latency
    return data


class CommandService:
    def __init__(
        self,
        uow: UnitOfWork,
        link: StationLink,
        validate: CommandValidator,
        clock: Clock = utc_now,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._link = link
        self._clock = clock
        self._events = events
        self._validate = validate
        self._listeners: dict[str, list[CommandListener]] = defaultdict(list)
        self._delivering: dict[str, asyncio.Lock] = {}

    def on_finished(self, action: str, listener: CommandListener) -> None:
        self._listeners[action].append(listener)

    # -- sending -----------------------------------------------------------

    async def execute(
        self,
        station_id: str,
        action: str,
        payload: dict[str, object],
        *,
        requested_by: str,
        queue_ttl: timedelta | None = None,
    ) -> Command:
        """Record and send the command; return its final (or ``queued``) record.

        Raises :class:`InvalidCommand` or :class:`UnknownStation` with nothing
        stored, and :class:`StationOffline` (after recording the failure) for
        an offline station when ``queue_ttl`` is None.
        """
        if queue_ttl is not None and queue_ttl <= timedelta(0):
            raise InvalidCommand("queue_ttl must be positive")
        self._validate(action, payload)
        online = self._link.is_connected(station_id)

        async def record(repos: Repositories) -> Command:
            await self._check_stored_state(repos, station_id, action, payload)
            now = self._clock()
            # Behind older queued commands (still awaiting the station's first
            # message, or being delivered) a queueable command queues too: order holds.
            if queue_ttl is not None and (not online or await repos.commands.queued(station_id)):
                return await repos.commands.add(
                    station_id, action, payload, requested_by, now,
                    CommandState.QUEUED, expires_at=now + queue_ttl,
                )  # fmt: skip
            command = await repos.commands.add(
                station_id, action, payload, requested_by, now, CommandState.QUEUED
            )
            if not online:
                return await repos.commands.finish(
                    command.id, CommandState.FAILED, now, error=OFFLINE_ERROR
                )
            await repos.commands.mark_sent(command.id, now)
            return replace(command, state=CommandState.SENT, sent_at=now)

        command = await self._uow.run(record)
        if command.state is CommandState.QUEUED:
            log.info("command queued", station=station_id, action=action, id=command.id)
            return command
        if command.state is CommandState.FAILED:
            await self._finished(command)
            raise StationOffline(station_id, command)
        finished = await self._send(command)
        if finished.state is CommandState.FAILED and finished.error == OFFLINE_ERROR:
            raise StationOffline(station_id, finished)
        return finished

    async def _send(self, command: Command) -> Command:
        """Call the station for a command already marked sent; record the outcome."""
        state, status, response, error = CommandState.ANSWERED, None, None, None
        try:
            response = await self._link.call(command.station_id, command.action, command.payload)
        except LinkOffline:
            state, error = CommandState.FAILED, OFFLINE_ERROR
        except LinkTimeout:
            state, error = CommandState.TIMED_OUT, "no reply within the response timeout"
        except LinkLost:
            state, error = CommandState.FAILED, "connection lost before the reply"
        except LinkCallError as exc:
            state, error = CommandState.ERROR, str(exc)
        else:
            reply_status = response.get("status")
            status = reply_status if isinstance(reply_status, str) else None

        async def finish(repos: Repositories) -> Command:
            return await repos.commands.finish(
                command.id, state, self._clock(), status=status, response=response, error=error
            )

        finished = await self._uow.run(finish)
        log.info(
            "command finished",
            station=command.station_id,
            action=command.action,
            id=command.id,
            state=finished.state.value,
            status=status,
            error=error,
        )
        await self._finished(finished)
        return finished

    async def deliver_queued(self, station_id: str) -> list[Command]:
        """Send the station's queued commands in order; return their records.

        Expires the overdue first. Stops at the first lost connection (that
        command fails: it may have reached the station, so it is not resent),
        leaving the rest queued for the next connection. Commands queued while
        a delivery runs are picked up by it; concurrent deliveries to one
        station are serialised so none is sent twice.
        """
        lock = self._delivering.setdefault(station_id, asyncio.Lock())
        delivered: list[Command] = []
        async with lock:
            await self.expire_overdue()
            while True:
                queued = await self._uow.read(lambda r: r.commands.queued(station_id))
                if not queued:
                    return delivered
                for command in queued:
                    if not self._link.is_connected(station_id):
                        return delivered
                    sent = await self._mark_sent(command)
                    if sent is None:  # expired or sent meanwhile
                        continue
                    finished = await self._send(sent)
                    delivered.append(finished)
                    if finished.state is CommandState.FAILED:
                        return delivered

    async def _mark_sent(self, command: Command) -> Command | None:
        async def work(repos: Repositories) -> Command | None:
            now = self._clock()
            if command.expires_at is not None and command.expires_at <= now:
                return None
            try:
                await repos.commands.mark_sent(command.id, now)
            except LookupError:
                return None
            return await repos.commands.get(command.id)

        return await self._uow.run(work)

    # -- housekeeping ------------------------------------------------------

    async def expire_overdue(self) -> list[Command]:
        """Mark queued commands past their TTL expired (and tell listeners)."""
        now = self._clock()
        expired = await self._uow.run(lambda r: r.commands.expire_queued(now))
        for command in expired:
            log.info("queued command expired", station=command.station_id, id=command.id)
            await self._finished(command)
        return expired

    async def fail_unfinished(self) -> int:
        """Commands left ``sent`` by a node that stopped: their answer is lost."""
        now = self._clock()
        return await self._uow.run(
            lambda r: r.commands.fail_unfinished(now, "node stopped before the reply")
        )

    async def stations_with_queued(self) -> builtins.list[str]:
        return await self._uow.read(lambda r: r.commands.stations_with_queued())

    # -- reading -----------------------------------------------------------

    async def get(self, command_id: int) -> Command | None:
        return await self._uow.read(lambda r: r.commands.get(command_id))

    async def list(
        self,
        station_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> builtins.list[Command]:
        return await self._uow.read(lambda r: r.commands.list(station_id, action, limit, before_id))

    # -- internals ---------------------------------------------------------

    async def _check_stored_state(
        self, repos: Repositories, station_id: str, action: str, payload: dict[str, object]
    ) -> None:
        if await repos.stations.get(station_id) is None:
            raise UnknownStation(station_id)
        if action == "RemoteStopTransaction":
            transaction_id = payload["transactionId"]
            transaction = await repos.transactions.get(int(str(transaction_id)))
            if (
                transaction is None
                or transaction.station_id != station_id
                or not transaction.active
            ):
                raise InvalidCommand(
                    f"payload.transactionId: {transaction_id} is not an active transaction "
                    f"of station {station_id!r}"
                )
        elif action == "SetChargingProfile":
            profile = payload["csChargingProfiles"]
            assert isinstance(profile, dict)
            if profile.get("chargingProfilePurpose") != "TxProfile":
                return
            transaction_id = profile["transactionId"]
            connector_id = payload["connectorId"]
            transaction = await repos.transactions.get(int(str(transaction_id)))
            if (
                transaction is None
                or transaction.station_id != station_id
                or transaction.connector_id != connector_id
                or not transaction.active
            ):
                raise InvalidCommand(
                    f"payload.csChargingProfiles.transactionId: {transaction_id} is not an "
                    f"active transaction of station {station_id!r} on connector {connector_id}"
                )

    async def _finished(self, command: Command) -> None:
        if self._events is not None:
            self._events.publish("command.finished", command.station_id, command_as_dict(command))
        for listener in self._listeners.get(command.action, ()):
            try:
                await listener(command)
            except Exception:
                log.exception("command listener failed", action=command.action, id=command.id)
