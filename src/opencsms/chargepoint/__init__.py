"""A reusable OCPP 1.6J charge-point library: the software side of a charging station.

It speaks to a central system (connection with TLS, Basic Auth and reconnect
backoff; BootNotification, heartbeats, all six 1.6 feature profiles, the
configuration store, the offline queue, the smart-charging composite
schedule) and drives the physical parts through small Protocols in
:mod:`opencsms.chargepoint.hardware`:

=====================  =====================================================
``EnergyMeter``        ``async read() -> MeterReading`` (Wh, W, A and V per
                       phase, SoC and temperature when known)
``Contactor``          ``async close()``, ``async open()``, ``closed``
``PilotSignal``        ``async set_current_limit(amps)`` (0 = pause)
``ConnectorLock``      ``async unlock() -> bool``, ``async lock()``
``IdTagReader``        ``async indicate(accepted)`` (LED / beeper feedback)
``FirmwareInstaller``  ``async download(url) -> bool``, ``async install() -> version``
``DiagnosticsUploader`` ``async collect(start, stop) -> file``, ``async upload(url, file)``
=====================  =====================================================

Inputs go the other way: the driver calls the station (``plug_in``,
``unplug``, ``present_tag``, ``ev_suspended``, ``report_fault``). The
simulator (:mod:`opencsms.simulator`) is this library plus simulated parts;
a real station is this library plus drivers, for example::

    import asyncio
    from opencsms.chargepoint.connection import ConnectionSettings, StationConnection
    from opencsms.chargepoint.hardware import ConnectorHardware, MeterReading, StationHardware
    from opencsms.chargepoint.station import ChargePoint, StationInfo

    class ModbusMeter:                      # EnergyMeter
        def __init__(self, bus): self.bus = bus
        async def read(self) -> MeterReading:
            wh, w = await self.bus.read_registers(0x5000, 0x5012)
            return MeterReading(energy_wh=wh, power_w=w)

    class GpioRelay:                        # Contactor
        closed = False
        async def close(self): gpio.write(17, 1); self.closed = True
        async def open(self): gpio.write(17, 0); self.closed = False

    class PwmPilot:                         # PilotSignal
        async def set_current_limit(self, amps): pwm.duty(amps / 0.6 if amps else 100)

    async def main():
        hardware = StationHardware([ConnectorHardware(ModbusMeter(bus), GpioRelay(), PwmPilot())])
        station = ChargePoint(StationInfo("CP-0042", max_current=16, phases=3), hardware)
        station.config.set_internal("AuthorizationKey", KEY_FROM_FLASH)
        link = StationConnection(station, ConnectionSettings(
            url="wss://csms.example.com/ocpp", ca_file="/etc/ocpp/ca.pem"))
        link.start()
        rfid.on_tag(lambda tag: asyncio.ensure_future(station.present_tag(tag)))
        cable.on_plug(lambda: asyncio.ensure_future(station.plug_in(1)))
        await asyncio.Event().wait()

Modules: ``station`` (core, uplink, status), ``charging`` (inputs, transactions),
``control`` (metering, pilot limits), ``composite`` (the pure schedule
computation), ``smart_charging`` (profiles), ``configuration``,
``authorization`` (local list and cache), ``offline_queue``, ``connectors``
(the status state machine), ``timers``, ``clock``, ``connection``,
``handlers/`` (one module per feature profile).
"""

from opencsms.chargepoint.clock import Clock, FakeClock, SystemClock
from opencsms.chargepoint.configuration import ConfigurationStore
from opencsms.chargepoint.connection import ConnectionSettings, StationConnection
from opencsms.chargepoint.hardware import ConnectorHardware, MeterReading, StationHardware
from opencsms.chargepoint.station import ChargePoint, StationInfo

__all__ = [
    "ChargePoint",
    "Clock",
    "ConfigurationStore",
    "ConnectionSettings",
    "ConnectorHardware",
    "FakeClock",
    "MeterReading",
    "StationConnection",
    "StationHardware",
    "StationInfo",
    "SystemClock",
]
