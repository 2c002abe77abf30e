"""Estimates from live readings: power now, peak power, time to finish, and
whether the car is charging or only plugged in.

Built on :mod:`opencsms.domain.charging_state`, which already reads power from
``Power.Active.Import`` (W or kW; the total, or the sum of phases when only
phases are reported) and else from ``Current.Import`` × ``Voltage`` phase by
phase. What this module adds:

* **Phases for a single current.** A ``Current.Import`` without a phase is
  the current per phase (what a station measures on each conductor), so
  with ``phases`` > 1 the power is I × V × phases. Per-phase currents are
  summed phase by phase as before (Σ Iₚ × Vₚ) and ``phases`` is not used.
* **Reading by reading.** Power is read at each reading time on its own, so
  the latest time with any power information wins (a Power sample, else a
  current with its voltage), and the peak over a session is well defined.
* **Staleness.** With ``now`` and ``max_age``, a power reading older than
  ``max_age`` does not count as power *now* (a station that stopped sending
  meter values has not proven the car still draws).

The time to finish (:func:`time_to_finish`) is a model, stated so it can be
checked: the energy need is what must reach the **battery**; the meter sees
``need / efficiency`` (default efficiency 0.9: on-board charger and battery
losses of AC charging). The power is the measured power, held constant,
except above the :class:`Taper` state of charge, where the car's acceptance
falls linearly from full power at ``start_soc`` towards 0 at 100 % but never
below ``floor`` × full power — the simulator's EV (80 %, 10 %). With a known
SoC the full power is inferred from the measured one (measured / taper
factor at the present SoC), so a car already tapering is not assumed to
speed up. Without SoC and battery size (most AC cars) there is no taper and
the estimate is optimistic near full.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from opencsms.domain.charging_state import (
    CURRENT,
    POWER,
    VOLTAGE,
    ChargingState,
    charging_state,
    power_w,
)
from opencsms.domain.model import StoredMeterValue, Transaction

DEFAULT_EFFICIENCY = 0.9
"""Energy into the battery per kWh metered, AC charging."""

_POWER_MEASURANDS = frozenset({POWER, CURRENT, VOLTAGE})


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _power_at(
    transaction: Transaction, readings: Sequence[StoredMeterValue], phases: int
) -> float | None:
    """Power from the samples of one reading time (see the module docstring)."""
    active = transaction if transaction.active else replace(transaction, stopped_at=None)
    power = power_w(active, readings)
    if power is None or phases == 1:
        return power
    has_power = any(s.sample.measurand == POWER and _is_number(s.sample.value) for s in readings)
    currents = [s for s in readings if s.sample.measurand == CURRENT]
    if not has_power and currents and all(s.sample.phase is None for s in currents):
        return power * phases
    return power


def _by_time(samples: Sequence[StoredMeterValue]) -> dict[datetime, list[StoredMeterValue]]:
    groups: dict[datetime, list[StoredMeterValue]] = {}
    for stored in samples:
        if stored.sample.measurand in _POWER_MEASURANDS:
            groups.setdefault(stored.timestamp, []).append(stored)
    return groups


def power_now_w(
    transaction: Transaction,
    samples: Sequence[StoredMeterValue],
    phases: int = 1,
    now: datetime | None = None,
    max_age: timedelta | None = None,
) -> float | None:
    """Power drawn now in W: the latest reading time that tells (0 for a
    finished transaction, None when nothing tells or the latest reading is
    older than ``max_age`` before ``now``). ``phases``: the phases the car
    draws on, for a current reported without a phase."""
    if not transaction.active:
        return 0.0
    groups = _by_time(samples)
    for at in sorted(groups, reverse=True):
        power = _power_at(transaction, groups[at], phases)
        if power is None:
            continue
        if now is not None and max_age is not None and now - at > max_age:
            return None
        return power
    return None


def power_readings_w(
    transaction: Transaction, samples: Sequence[StoredMeterValue], phases: int = 1
) -> list[tuple[datetime, float]]:
    """(reading time, W) of every reading time that tells a power, oldest first."""
    groups = _by_time(samples)
    readings = [(at, _power_at(transaction, groups[at], phases)) for at in sorted(groups)]
    return [(at, power) for at, power in readings if power is not None]


def peak_power_w(
    transaction: Transaction, samples: Sequence[StoredMeterValue], phases: int = 1
) -> float | None:
    """The highest power read during the session (None when none was): the
    measured power the charge-now baseline assumes (it wins over nameplate)."""
    start, stop = transaction.started_at, transaction.stopped_at
    groups = _by_time(
        [s for s in samples if s.timestamp >= start and (stop is None or s.timestamp <= stop)]
    )
    powers = [_power_at(transaction, group, phases) for group in groups.values()]
    known = [power for power in powers if power is not None]
    return max(known) if known else None


@dataclass(frozen=True, slots=True)
class Taper:
    """Above ``start_soc`` (%) the car takes ``(100 - soc) / (100 - start_soc)``
    of its full power, never less than ``floor`` of it."""

    start_soc: float = 80.0
    floor: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.start_soc < 100 or not 0 < self.floor <= 1:
            raise ValueError(f"taper needs 0 <= start_soc < 100 and 0 < floor <= 1: {self}")

    @property
    def floor_soc(self) -> float:
        """Where the linear fall reaches the floor."""
        return 100.0 - self.floor * (100.0 - self.start_soc)

    def factor(self, soc: float) -> float:
        """The fraction of full power the car takes at ``soc`` (%)."""
        if soc <= self.start_soc:
            return 1.0
        return max(self.floor, (100.0 - soc) / (100.0 - self.start_soc))

    def soc_integral(self, low: float, high: float) -> float:
        """∫ ds / factor(s) from ``low`` to ``high`` (%): SoC points weighted by
        how slowly they charge; 0 <= low <= high <= 100."""
        s_t, s_f = self.start_soc, self.floor_soc
        flat = max(0.0, min(high, s_t) - low)
        a, b = max(low, s_t), min(high, s_f)
        linear = (100.0 - s_t) * math.log((100.0 - a) / (100.0 - b)) if b > a else 0.0
        floor = max(0.0, high - max(low, s_f)) / self.floor
        return flat + linear + floor


def time_to_finish(
    energy_kwh: float,
    power_w: float,
    efficiency: float = DEFAULT_EFFICIENCY,
    soc: float | None = None,
    battery_kwh: float | None = None,
    taper: Taper | None = None,
) -> timedelta | None:
    """Time to put ``energy_kwh`` into the battery at the measured ``power_w``
    (see the module docstring for the model). The taper applies only with
    ``soc`` (%), ``battery_kwh`` and ``taper`` all given; a need beyond full
    is capped at full. None when the car draws no power (no finish in sight);
    zero when nothing is needed."""
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1], not {efficiency}")
    if energy_kwh <= 0:
        return timedelta()
    if power_w <= 0:
        return None
    if soc is None or battery_kwh is None or taper is None:
        return timedelta(hours=energy_kwh / (efficiency * power_w / 1000.0))
    soc = min(max(soc, 0.0), 100.0)
    full_power_kw = power_w / 1000.0 / taper.factor(soc)
    target = min(100.0, soc + 100.0 * energy_kwh / battery_kwh)
    kwh_per_soc = battery_kwh / 100.0
    return timedelta(
        hours=kwh_per_soc * taper.soc_integral(soc, target) / (efficiency * full_power_kw)
    )


@dataclass(frozen=True, slots=True)
class Estimate:
    state: ChargingState
    power_w: float | None
    time_to_finish: timedelta | None
    finish_at: datetime | None


def estimate_session(
    transaction: Transaction,
    samples: Sequence[StoredMeterValue],
    connector_status: str | None,
    now: datetime,
    energy_needed_kwh: float | None = None,
    phases: int = 1,
    max_age: timedelta | None = None,
    efficiency: float = DEFAULT_EFFICIENCY,
    soc: float | None = None,
    battery_kwh: float | None = None,
    taper: Taper | None = None,
) -> Estimate:
    """Charging or only plugged in (the rules of
    :func:`~opencsms.domain.charging_state.charging_state` on the power now,
    stale readings ignored) and, while charging with a known need still to
    put into the battery, the time to finish and when."""
    power = power_now_w(transaction, samples, phases, now, max_age)
    state = charging_state(transaction, connector_status, power)
    remaining = None
    if state is ChargingState.CHARGING and energy_needed_kwh is not None and power is not None:
        remaining = time_to_finish(energy_needed_kwh, power, efficiency, soc, battery_kwh, taper)
    return Estimate(state, power, remaining, None if remaining is None else now + remaining)
