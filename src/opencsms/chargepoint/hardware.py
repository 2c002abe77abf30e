"""The physical parts of a charging station, as small Protocols.

The library drives *outputs* through these interfaces (close the contactor,
set the pilot current, read the meter, unlock the connector, download
firmware, upload diagnostics). *Inputs* travel the other way: a driver calls
the station's methods when something happens (``station.plug_in(1)``,
``station.present_tag("04A1...")``, ``station.ev_suspended(1)``,
``station.report_fault(1, "GroundFailure")``).

Each Protocol is a handful of methods so that a real driver (Modbus meter,
GPIO relay, PWM pilot) or a simulated one can implement it in a few lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One instantaneous reading of a connector's meter.

    ``current_a`` and ``voltage_v`` hold one value per phase (L1, L2, L3 —
    fewer on a single-phase station); ``soc_percent`` is only known when the
    EV reports it (ISO 15118 or DC), else None.
    """

    energy_wh: float
    power_w: float
    current_a: tuple[float, ...] = ()
    voltage_v: tuple[float, ...] = ()
    soc_percent: float | None = None
    temperature_c: float | None = None


class EnergyMeter(Protocol):
    async def read(self) -> MeterReading: ...


class Contactor(Protocol):
    """The relay that switches power to the connector."""

    @property
    def closed(self) -> bool: ...

    async def close(self) -> None: ...
    async def open(self) -> None: ...


class PilotSignal(Protocol):
    """IEC 61851 control pilot: the current the EV is allowed to draw per phase.

    0 means "pause" (no PWM offer); IEC 61851 cannot signal 0 < I < 6 A, so the
    station passes 0 for those.
    """

    async def set_current_limit(self, amps: float) -> None: ...


class ConnectorLock(Protocol):
    async def unlock(self) -> bool:
        """Release the cable; False if the lock did not move."""
        ...

    async def lock(self) -> None: ...


class IdTagReader(Protocol):
    """Feedback to the person at the reader; tag reads arrive via ``station.present_tag``."""

    async def indicate(self, accepted: bool) -> None: ...


class FirmwareInstaller(Protocol):
    async def download(self, location: str) -> bool: ...

    async def install(self) -> str | None:
        """Install the downloaded image; return the new firmware version, None on failure."""
        ...


class DiagnosticsUploader(Protocol):
    async def collect(self, start: datetime | None, stop: datetime | None) -> str | None:
        """Gather logs into a file; return its name, None when there is nothing."""
        ...

    async def upload(self, location: str, file_name: str) -> bool: ...


@dataclass(slots=True)
class ConnectorHardware:
    """The parts wired to one connector."""

    meter: EnergyMeter
    contactor: Contactor
    pilot: PilotSignal
    lock: ConnectorLock | None = None


@dataclass(slots=True)
class StationHardware:
    """Everything a station core needs from its hardware; connector ids are 1-based."""

    connectors: list[ConnectorHardware]
    reader: IdTagReader | None = None
    firmware: FirmwareInstaller | None = None
    diagnostics: DiagnosticsUploader | None = None
    extra: dict[str, object] = field(default_factory=dict)
