"""The electric vehicle at the other end of the cable, for one charging session.

An EV charges at up to its on-board charger's power (AC), tapering linearly
above ``taper_soc`` down to 10 % of that power near full, and stops at
``target_soc``. It draws ``min(what it can take, what the pilot offers)``:
the station's composite limit reaches the car through the pilot current.
Energy is integrated by the simulated meter; the EV only turns Wh into SoC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class EV:
    battery_kwh: float = 60.0
    soc: float = 30.0  # percent at arrival
    max_power_w: float = 11_000.0
    phases: int = 3
    target_soc: float = 100.0
    taper_soc: float = 80.0
    reports_soc: bool = False  # AC cars rarely tell the station their SoC
    arrival: datetime | None = None
    departure: datetime | None = None
    energy_wh: float = 0.0  # delivered in this session

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 1e-9

    def acceptance_w(self) -> float:
        """The power the car would take right now if the station offered it all."""
        if self.full:
            return 0.0
        if self.soc <= self.taper_soc:
            return self.max_power_w
        fraction = (100.0 - self.soc) / max(1e-9, 100.0 - self.taper_soc)
        return self.max_power_w * max(0.1, fraction)

    def draw_w(self, offered_amps: float, voltage: float, station_phases: int) -> float:
        phases = min(self.phases, station_phases)
        return min(self.acceptance_w(), offered_amps * voltage * phases)

    def absorb(self, energy_wh: float) -> None:
        self.energy_wh += energy_wh
        self.soc = min(100.0, self.soc + energy_wh / (self.battery_kwh * 10.0))

    def seconds_to_full(self, power_w: float) -> float | None:
        if power_w <= 0 or self.full:
            return None
        needed_wh = (self.target_soc - self.soc) * self.battery_kwh * 10.0
        return needed_wh / power_w * 3600.0
