"""The charge-point core: state, registration, the ordered uplink, status reporting.

``ChargePoint`` holds what a station knows (connectors, transactions,
configuration, profiles, local auth, the outgoing queue) and talks to the
central system through whatever :class:`~opencsms.ocpp.session.OcppSession`
the connection layer attaches. It works without a connection too: events
still change state, transaction messages queue up, and everything is sent
in order once a session is attached and the BootNotification is accepted.

The behaviour is split by topic: :mod:`.charging` (inputs and transactions),
:mod:`.control` (metering and pilot limits), :mod:`.handlers` (the central
system's requests). Time comes only from the injected clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from ocpp.v16.enums import ChargePointErrorCode, RegistrationStatus

from opencsms.chargepoint import charging, control
from opencsms.chargepoint.authorization import AuthorizationCache, LocalAuthList
from opencsms.chargepoint.clock import Clock, SystemClock, ocpp_time
from opencsms.chargepoint.configuration import ConfigurationStore
from opencsms.chargepoint.connectors import Connector, transition_allowed
from opencsms.chargepoint.hardware import ConnectorHardware, StationHardware
from opencsms.chargepoint.offline_queue import OfflineQueue, Payload
from opencsms.chargepoint.smart_charging import ProfileStore
from opencsms.chargepoint.timers import Timers
from opencsms.ocpp.errors import CallErrorReceived, OCPPError
from opencsms.ocpp.session import CallTimeout, OcppSession, SessionClosed

log = structlog.get_logger("opencsms.chargepoint")

BOOT_RETRY = 60.0
"""Seconds between BootNotification attempts when the CSMS gives no interval."""


@dataclass(frozen=True, slots=True)
class StationInfo:
    """Identity and electrical ratings (reported in BootNotification and used for A<->W)."""

    identity: str
    vendor: str = "OpenCSMS"
    model: str = "SimAC22"
    serial_number: str | None = None
    firmware_version: str = "1.0.0"
    max_current: float = 32.0  # A per phase
    phases: int = 3
    voltage: float = 230.0  # phase-neutral
    meter_type: str | None = None


class ChargePoint:
    def __init__(
        self,
        info: StationInfo,
        hardware: StationHardware,
        *,
        clock: Clock | None = None,
        config: ConfigurationStore | None = None,
        profiles: ProfileStore | None = None,
        queue: OfflineQueue | None = None,
    ) -> None:
        self.info = info
        self.hardware = hardware
        self.clock: Clock = clock or SystemClock()
        self.config = config or ConfigurationStore()
        self.config.set_internal("NumberOfConnectors", str(len(hardware.connectors)))
        self.connectors = [Connector(i) for i in range(len(hardware.connectors) + 1)]
        self.profiles = profiles or ProfileStore()
        self.local_list = LocalAuthList()
        self.cache = AuthorizationCache()
        self.queue = queue or OfflineQueue()
        self.timers = Timers(self.clock)
        self.session: OcppSession | None = None
        self.registration: str | None = None
        self.firmware_version = info.firmware_version
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.offered: dict[int, float] = {}
        self.on_reboot: Callable[[], Awaitable[None]] | None = None
        """Set by the connection layer: drop the link and connect again after a reset."""
        self.world_timer_prefixes: tuple[str, ...] = ()
        """Timer keys of the station's surroundings (a simulator's car) that a
        reboot of the firmware must not cancel."""
        self.data_transfer: Callable[[Payload], Awaitable[Payload]] | None = None
        self.boot_every_connect = False
        """Some firmware sends BootNotification on every reconnect (a quirk)."""
        self.log = log.bind(station=info.identity)
        self._next_local_tx = -1
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while the queue is empty
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sender: asyncio.Task[None] | None = None
        self.config.on_change(self._config_changed)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the timer and sender tasks (needs a running loop)."""
        self.timers.start()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="chargepoint-sender")

    async def stop(self) -> None:
        tasks = [t for t in (*self._tasks, self._sender) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sender = None
        await self.timers.stop()

    def spawn(self, coro: Awaitable[Any], name: str = "chargepoint-step") -> asyncio.Task[Any]:
        """Run station work detached from any session (a reset must outlive its link)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("station step failed", error=repr(task.exception()))

    def hw(self, connector_id: int) -> ConnectorHardware:
        return self.hardware.connectors[connector_id - 1]

    def now(self) -> datetime:
        return self.clock.now()

    def new_local_tx(self) -> int:
        local = self._next_local_tx
        self._next_local_tx -= 1
        return local

    # -- link ----------------------------------------------------------------

    @property
    def online(self) -> bool:
        return (
            self.session is not None
            and not self.session.closed
            and self.registration == RegistrationStatus.accepted
        )

    def attach(self, session: OcppSession) -> None:
        """A new connection is up: boot if not registered yet, else resume sending."""
        self.session = session
        if self.boot_every_connect:
            self.registration = None
        if self.registration != RegistrationStatus.accepted:
            self.spawn(self._boot(session), "chargepoint-boot")
        else:
            for connector in self.connectors:
                if connector.reported != connector.status:
                    self._post_status(connector)
        self._wake.set()

    def detach(self, session: OcppSession) -> None:
        if self.session is session:
            self.session = None
            self.queue.forget_volatile()

    def boot_payload(self) -> Payload:
        payload: Payload = {
            "chargePointVendor": self.info.vendor,
            "chargePointModel": self.info.model,
            "firmwareVersion": self.firmware_version,
        }
        if self.info.serial_number:
            payload["chargePointSerialNumber"] = self.info.serial_number
        if self.info.meter_type:
            payload["meterType"] = self.info.meter_type
        return payload

    async def _boot(self, session: OcppSession) -> None:
        """BootNotification until Accepted, honouring the interval of Pending/Rejected."""
        while self.session is session and not session.closed:
            try:
                reply = await session.call("BootNotification", self.boot_payload())
            except SessionClosed:
                return
            except (CallTimeout, CallErrorReceived, OCPPError) as exc:
                self.log.info("boot failed", error=str(exc))
                await self.clock.sleep(BOOT_RETRY)
                continue
            await self.registered(reply)
            if self.registration == RegistrationStatus.accepted:
                return
            interval = int(reply.get("interval", 0))
            await self.clock.sleep(interval if interval > 0 else BOOT_RETRY)

    async def registered(self, reply: Payload) -> None:
        """Apply a BootNotification.conf (also used after a triggered boot)."""
        was_accepted = self.registration == RegistrationStatus.accepted
        self.registration = reply.get("status")
        if self.registration != RegistrationStatus.accepted:
            return
        interval = int(reply.get("interval", 0))
        if interval > 0:
            self.config.set_internal("HeartbeatInterval", str(interval))
        self._schedule_heartbeat()
        control.schedule_aligned(self)
        if not was_accepted:
            for connector in self.connectors:
                self._post_status(connector)
        self._wake.set()

    # -- heartbeat -----------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        interval = self.config.get_int("HeartbeatInterval", 0)
        if interval > 0:
            self.timers.set_in("heartbeat", interval, self._heartbeat)
        else:
            self.timers.cancel("heartbeat")

    async def _heartbeat(self) -> None:
        if self.online:
            self.post("Heartbeat", {})
        self._schedule_heartbeat()

    def _config_changed(self, key: str, value: str) -> None:
        if key == "HeartbeatInterval" and self.registration == RegistrationStatus.accepted:
            self._schedule_heartbeat()
        elif key == "MeterValueSampleInterval":
            for connector in self.connectors[1:]:
                if connector.transaction is not None:
                    control.schedule_sample(self, connector.id)
        elif key == "ClockAlignedDataInterval":
            control.schedule_aligned(self)

    # -- the uplink ----------------------------------------------------------

    def post(
        self,
        action: str,
        payload: Payload,
        *,
        on_reply: Callable[[Payload | None], None] | None = None,
    ) -> None:
        """Send a live-only message in order with the rest; dropped if offline."""
        if self.session is None or self.session.closed:
            if on_reply is not None:
                on_reply(None)
            return
        self.queue.put(action, payload, persistent=False, on_reply=on_reply)
        self._idle.clear()
        self._wake.set()

    async def request(self, action: str, payload: Payload) -> Payload | None:
        """Post and wait for the reply; None when offline or given up."""
        future: asyncio.Future[Payload | None] = asyncio.get_running_loop().create_future()

        def done(reply: Payload | None) -> None:
            if not future.done():
                future.set_result(reply)

        self.post(action, payload, on_reply=done)
        return await future

    def post_transaction(
        self,
        action: str,
        payload: Payload,
        local_tx: int,
        on_reply: Callable[[Payload | None], None] | None = None,
    ) -> None:
        """Queue a transaction message; it survives disconnects and reboots."""
        self.queue.put(action, payload, local_tx=local_tx, on_reply=on_reply)
        self._idle.clear()
        self._wake.set()

    async def drain(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait (real time) until everything queued is delivered, if online.
        A reset uses it so the StopTransaction goes out before the link drops."""
        if not self.online or not len(self.queue):
            return not len(self.queue)
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _send_loop(self) -> None:
        while True:
            message = self.queue.head()
            session = self.session
            if message is None:
                self._idle.set()
            if (
                message is None
                or session is None
                or session.closed
                or self.registration != RegistrationStatus.accepted
            ):
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                reply = await session.call(message.action, self.queue.outgoing(message))
            except SessionClosed:
                if self.session is session:
                    self._wake.clear()
                    await self._wake.wait()
                continue
            except (CallTimeout, CallErrorReceived, OCPPError) as exc:
                message.attempts += 1
                self.log.info("uplink failed", action=message.action, error=str(exc))
                attempts = max(1, self.config.get_int("TransactionMessageAttempts", 3))
                if not message.persistent or message.attempts >= attempts:
                    if self.queue.head() is message:
                        self.queue.drop_head()
                    continue
                retry = self.config.get_int("TransactionMessageRetryInterval", 30)
                await self.clock.sleep(retry * message.attempts)
                continue
            if self.queue.head() is message:
                self.queue.delivered(reply)

    # -- status --------------------------------------------------------------

    def refresh(self, connector_id: int, *, force: bool = False) -> None:
        """Re-derive a connector's status; report it if it changed (or if forced)."""
        connector = self.connectors[connector_id]
        new = connector.derive()
        if new == connector.status and not force:
            return
        if not transition_allowed(connector.status, new):
            self.log.warning(
                "status transition outside the 1.6 table",
                connector=connector_id,
                old=connector.status,
                new=new,
            )
        connector.status = new
        self._post_status(connector)

    def _post_status(self, connector: Connector) -> None:
        if self.registration != RegistrationStatus.accepted:
            return
        status = connector.status
        payload: Payload = {
            "connectorId": connector.id,
            "errorCode": (connector.fault or ChargePointErrorCode.no_error).value,
            "status": status.value,
            "timestamp": ocpp_time(self.now()),
        }
        if connector.fault_info:
            payload["info"] = connector.fault_info[:50]

        def done(reply: Payload | None) -> None:
            if reply is not None:
                connector.reported = status

        self.post("StatusNotification", payload, on_reply=done)

    # -- inputs from the hardware (see charging.py) --------------------------

    async def plug_in(self, connector_id: int) -> None:
        await charging.plug_in(self, connector_id)

    async def unplug(self, connector_id: int) -> None:
        await charging.unplug(self, connector_id)

    async def present_tag(self, id_tag: str, connector_id: int | None = None) -> str:
        """A tag at the reader; returns the authorization status it got."""
        return await charging.present_tag(self, id_tag, connector_id)

    async def ev_suspended(self, connector_id: int, suspended: bool = True) -> None:
        self.connectors[connector_id].ev_suspended = suspended
        self.refresh(connector_id)

    async def report_fault(
        self, connector_id: int, error_code: ChargePointErrorCode | str, info: str | None = None
    ) -> None:
        await charging.report_fault(self, connector_id, ChargePointErrorCode(error_code), info)

    async def clear_fault(self, connector_id: int) -> None:
        await charging.clear_fault(self, connector_id)

    async def start_transaction(
        self, connector_id: int, id_tag: str, reservation_id: int | None = None
    ) -> None:
        await charging.start_transaction(self, connector_id, id_tag, reservation_id)

    async def stop_transaction(
        self, connector_id: int, reason: str = "Local", id_tag: str | None = None
    ) -> None:
        await charging.stop_transaction(self, connector_id, reason, id_tag)

    async def reboot(self, reason: str = "Soft") -> None:
        await charging.reboot(self, reason)
