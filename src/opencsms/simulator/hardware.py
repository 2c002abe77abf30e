"""Simulated hardware implementing the charge-point library's Protocols.

One :class:`SimulatedConnector` plays meter, contactor, pilot and lock for a
connector, integrating energy lazily: power is constant between events, so
every read, contactor switch and pilot change first books the energy since
the previous event (``power * dt``) into the meter and the EV's battery,
then recomputes the power. No task per connector; time comes from the clock.

Because power is piecewise constant, a connector can keep every change of
it (``power_log``, off unless set to a list): the drawn power at any
instant, exactly, e.g. to sum a site's stations at one instant without
mixing meter samples taken at different times.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from opencsms.chargepoint.clock import Clock
from opencsms.chargepoint.hardware import MeterReading
from opencsms.simulator.ev import EV
from opencsms.simulator.transfer import Download, HttpTransfer


class SimulatedConnector:
    def __init__(
        self,
        clock: Clock,
        *,
        phases: int = 3,
        voltage: float = 230.0,
        energy_wh: float = 0.0,
        ignore_first_limit_after_pause: bool = False,
    ) -> None:
        self.clock = clock
        self.phases = phases
        self.voltage = voltage
        self.energy_wh = energy_wh
        self.power_w = 0.0
        self.ev: EV | None = None
        self._closed = False
        self.pilot_amps = 0.0
        self.requested_amps = 0.0
        self.locked = False
        self.lock_fails = False
        self.ignore_first_limit_after_pause = ignore_first_limit_after_pause
        self._ignored_since_pause = True
        self._last = clock.now()
        self.power_log: list[tuple[datetime, float]] | None = None
        """(when, W) at every change of ``power_w`` once set to a list."""

    # -- physics --------------------------------------------------------------

    def advance(self) -> None:
        now = self.clock.now()
        seconds = (now - self._last).total_seconds()
        self._last = now
        if seconds > 0 and self.power_w > 0:
            energy = self.power_w * seconds / 3600.0
            if self.ev is not None:
                room_wh = (self.ev.target_soc - self.ev.soc) * self.ev.battery_kwh * 10.0
                energy = min(energy, max(0.0, room_wh))
                self.ev.absorb(energy)
            self.energy_wh += energy
        self._recompute()

    def _recompute(self) -> None:
        if not self._closed or self.ev is None or self.pilot_amps <= 0:
            self.power_w = 0.0
        else:
            self.power_w = self.ev.draw_w(self.pilot_amps, self.voltage, self.phases)
        log = self.power_log
        if log is not None and (not log or log[-1][1] != self.power_w):
            log.append((self._last, self.power_w))

    def connect_ev(self, ev: EV | None) -> None:
        self.advance()
        self.ev = ev
        self._recompute()

    @property
    def ev_drawing(self) -> bool:
        return self.ev is not None and not self.ev.full

    # -- EnergyMeter ----------------------------------------------------------

    async def read(self) -> MeterReading:
        self.advance()
        n = min(self.ev.phases, self.phases) if self.ev else self.phases
        amps = self.power_w / (self.voltage * n) if self.power_w else 0.0
        currents = tuple(amps if i < n else 0.0 for i in range(self.phases))
        soc = self.ev.soc if self.ev is not None and self.ev.reports_soc else None
        return MeterReading(
            energy_wh=self.energy_wh,
            power_w=self.power_w,
            current_a=currents,
            voltage_v=tuple(self.voltage for _ in range(self.phases)),
            soc_percent=soc,
        )

    # -- Contactor -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        self.advance()
        self._closed = True
        self._recompute()

    async def open(self) -> None:
        self.advance()
        self._closed = False
        self._recompute()

    # -- PilotSignal -------------------------------------------------------------

    async def set_current_limit(self, amps: float) -> None:
        self.advance()
        self.requested_amps = amps
        if amps <= 0:
            self._ignored_since_pause = False
            self.pilot_amps = 0.0
        elif (
            self.ignore_first_limit_after_pause
            and self.pilot_amps == 0
            and not self._ignored_since_pause
        ):
            self._ignored_since_pause = True  # vendor quirk: the car never hears this one
        else:
            self.pilot_amps = amps
        self._recompute()

    # -- ConnectorLock -------------------------------------------------------------

    async def unlock(self) -> bool:
        if self.lock_fails:
            return False
        self.locked = False
        return True

    async def lock(self) -> None:
        self.locked = True


@dataclass(slots=True)
class SimulatedReader:
    indications: list[bool] = field(default_factory=list)

    async def indicate(self, accepted: bool) -> None:
        self.indications.append(accepted)


@dataclass(slots=True)
class SimulatedFirmware:
    """Downloads take ``download_seconds`` of the clock; with a ``transfer`` the
    image is really fetched from the location (and kept in ``downloads``),
    without one the download is pretended. The new version is the location's
    last path segment."""

    clock: Clock
    download_seconds: float = 30.0
    install_seconds: float = 60.0
    fail_download: bool = False
    fail_install: bool = False
    transfer: HttpTransfer | None = None
    downloads: list[Download] = field(default_factory=list)
    _pending: str | None = None

    async def download(self, location: str) -> bool:
        await self.clock.sleep(self.download_seconds)
        if self.fail_download:
            return False
        if self.transfer is not None:
            image = await self.transfer.download(location)
            if image is None:
                return False
            self.downloads.append(image)
        self._pending = location.rstrip("/").rsplit("/", 1)[-1] or "new"
        return True

    async def install(self) -> str | None:
        await self.clock.sleep(self.install_seconds)
        if self.fail_install or self._pending is None:
            return None
        version, self._pending = self._pending, None
        return version


@dataclass(slots=True)
class SimulatedDiagnostics:
    """``collect`` writes a small log (kept in ``files``); with a ``transfer``
    ``upload`` really sends it to the location, without one it pretends."""

    clock: Clock
    identity: str
    upload_seconds: float = 10.0
    fail_upload: bool = False
    transfer: HttpTransfer | None = None
    uploads: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    async def collect(self, start: datetime | None, stop: datetime | None) -> str | None:
        now = self.clock.now()
        name = f"{self.identity}-{now:%Y%m%dT%H%M%S}.log"
        lines = [
            f"{now.isoformat()} station {self.identity} diagnostics",
            f"window {start.isoformat() if start else '-'} .. {stop.isoformat() if stop else '-'}",
            *(f"{now.isoformat()} INFO self-test {n} passed" for n in range(1, 9)),
        ]
        self.files[name] = ("\n".join(lines) + "\n").encode()
        return name

    async def upload(self, location: str, file_name: str) -> bool:
        await self.clock.sleep(self.upload_seconds)
        await asyncio.sleep(0)
        if self.fail_upload:
            return False
        if self.transfer is not None:
            content = self.files.get(file_name, b"")
            if not await self.transfer.upload(location, file_name, content):
                return False
        self.uploads.append((location, file_name))
        return True
