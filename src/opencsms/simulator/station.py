"""A simulated charging station: the charge-point library on simulated hardware.

Built to be driven step by step from a test::

    clock = FakeClock()
    station = SimulatedStation("CP-1", clock=clock, authorization_key="0011...")
    await station.connect(ConnectionSettings(url="wss://127.0.0.1:9000/ocpp", ca_file=ca))
    await station.journal.wait_for("BootNotification")
    await station.plug_in(1, EV(battery_kwh=50, soc=20))
    await station.present_tag("TAG-1")
    await clock.advance(60)            # one MeterValueSampleInterval
    station.journal.calls("sent", "MeterValues")

or run in a fleet with the system clock. The EV is checked once per
``ev_tick`` seconds of simulated time (battery full -> SuspendedEV,
departure -> unplug), through the station's single timer task.
"""

from __future__ import annotations

import random
from datetime import timedelta

from ocpp.v16.enums import ChargePointErrorCode

from opencsms.chargepoint.clock import Clock, FakeClock, SystemClock, settle
from opencsms.chargepoint.configuration import ConfigurationStore
from opencsms.chargepoint.connection import ConnectionSettings, StationConnection
from opencsms.chargepoint.hardware import ConnectorHardware, StationHardware
from opencsms.chargepoint.smart_charging import ProfileStore
from opencsms.chargepoint.station import ChargePoint, StationInfo
from opencsms.simulator.ev import EV
from opencsms.simulator.hardware import (
    SimulatedConnector,
    SimulatedDiagnostics,
    SimulatedFirmware,
    SimulatedReader,
)
from opencsms.simulator.journal import Journal, JournalTransport
from opencsms.simulator.quirks import Quirks


class SimulatedStation:
    def __init__(
        self,
        identity: str,
        *,
        connectors: int = 1,
        max_current: float = 32.0,
        phases: int = 3,
        voltage: float = 230.0,
        vendor: str = "OpenCSMS",
        model: str = "SimAC22",
        serial_number: str | None = None,
        firmware_version: str = "1.0.0",
        clock: Clock | None = None,
        config: dict[str, str] | None = None,
        authorization_key: str | None = None,
        quirks: Quirks | None = None,
        keep_journal: bool = True,
        ev_tick: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.quirks = quirks or Quirks()
        self.rng = rng or random.Random()
        self.ev_tick = ev_tick
        self.journal = Journal(keep=keep_journal)
        self.outlets = [
            SimulatedConnector(
                self.clock,
                phases=phases,
                voltage=voltage,
                ignore_first_limit_after_pause=self.quirks.ignore_first_limit_after_pause,
            )
            for _ in range(connectors)
        ]
        self.reader = SimulatedReader()
        self.firmware = SimulatedFirmware(self.clock)
        self.diagnostics = SimulatedDiagnostics(self.clock, identity)
        hardware = StationHardware(
            connectors=[
                ConnectorHardware(meter=o, contactor=o, pilot=o, lock=o) for o in self.outlets
            ],
            reader=self.reader,
            firmware=self.firmware,
            diagnostics=self.diagnostics,
        )
        values = dict(config or {})
        if authorization_key is not None:
            values["AuthorizationKey"] = authorization_key
        info = StationInfo(
            identity=identity,
            vendor=vendor,
            model=model,
            serial_number=serial_number or f"SIM-{identity}",
            firmware_version=firmware_version,
            max_current=max_current,
            phases=phases,
            voltage=voltage,
            meter_type="SimMeter",
        )
        self.cp = ChargePoint(
            info,
            hardware,
            clock=self.clock,
            config=ConfigurationStore(values, self.quirks.config_specs()),
            profiles=ProfileStore(
                checks=self.quirks.profile_checks(), ignores=self.quirks.profile_ignores()
            ),
        )
        self.cp.boot_every_connect = self.quirks.boot_on_reconnect
        self.cp.world_timer_prefixes = ("ev:",)  # the car keeps its own schedule
        self.connection: StationConnection | None = None

    @property
    def identity(self) -> str:
        return self.cp.info.identity

    # -- link -------------------------------------------------------------------

    async def connect(self, settings: ConnectionSettings) -> StationConnection:
        """Start connecting (returns at once; await ``connection.connected`` or the journal)."""
        self.connection = StationConnection(
            self.cp,
            settings,
            rng=self.rng,
            wrap=lambda ws: JournalTransport(ws, self.journal, self.quirks),
        )
        self.connection.start()
        return self.connection

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.stop()
            self.connection = None
        else:
            await self.cp.stop()

    async def drop_connection(self, close_frame: bool = True) -> None:
        if self.connection is not None:
            await self.connection.drop(close_frame)

    # -- the person and the car ------------------------------------------------

    async def plug_in(self, connector_id: int = 1, ev: EV | None = None) -> EV:
        """A car arrives and plugs in (the cable is locked while it is in)."""
        car = ev or EV()
        car.arrival = car.arrival or self.clock.now()
        outlet = self.outlets[connector_id - 1]
        outlet.connect_ev(car)
        await outlet.lock()
        await self.cp.plug_in(connector_id)
        self._watch_ev(connector_id)
        return car

    async def unplug(self, connector_id: int = 1) -> None:
        outlet = self.outlets[connector_id - 1]
        self.cp.timers.cancel(f"ev:{connector_id}")
        await self.cp.unplug(connector_id)
        outlet.connect_ev(None)

    async def present_tag(self, id_tag: str, connector_id: int | None = None) -> str:
        return await self.cp.present_tag(id_tag, connector_id)

    async def fault(
        self,
        connector_id: int,
        code: ChargePointErrorCode | str = "GroundFailure",
        info: str | None = None,
    ) -> None:
        await self.cp.report_fault(connector_id, code, info)

    async def clear_fault(self, connector_id: int) -> None:
        await self.cp.clear_fault(connector_id)

    async def advance(self, seconds: float) -> None:
        """Move a FakeClock on (tests); with the system clock, only settles."""
        if isinstance(self.clock, FakeClock):
            await self.clock.advance(seconds)
        else:
            await settle()

    def _watch_ev(self, connector_id: int) -> None:
        outlet = self.outlets[connector_id - 1]

        async def check() -> None:
            car = outlet.ev
            if car is None:
                return
            outlet.advance()
            connector = self.cp.connectors[connector_id]
            if car.departure is not None and self.clock.now() >= car.departure:
                await self.unplug(connector_id)
                return
            if connector.transaction is not None:
                suspended = car.full
                if suspended != connector.ev_suspended:
                    await self.cp.ev_suspended(connector_id, suspended)
            self._watch_ev(connector_id)

        delay = self.ev_tick
        car = outlet.ev
        if car is not None and car.departure is not None:
            delay = max(0.0, min(delay, (car.departure - self.clock.now()).total_seconds()))
        to_full = car.seconds_to_full(outlet.power_w) if car is not None else None
        if to_full is not None:
            delay = min(delay, to_full + 1e-3)
        self.cp.timers.set(f"ev:{connector_id}", self.clock.now() + timedelta(seconds=delay), check)

    # -- observation ------------------------------------------------------------

    def status(self, connector_id: int = 1) -> str:
        return str(self.cp.connectors[connector_id].status.value)

    def power_w(self, connector_id: int = 1) -> float:
        outlet = self.outlets[connector_id - 1]
        outlet.advance()
        return outlet.power_w

    def energy_wh(self, connector_id: int = 1) -> float:
        outlet = self.outlets[connector_id - 1]
        outlet.advance()
        return outlet.energy_wh

    def transaction_id(self, connector_id: int = 1) -> int | None:
        tx = self.cp.connectors[connector_id].transaction
        return None if tx is None else tx.id
