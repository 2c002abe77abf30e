"""What a transaction's meter readings say: energy so far, power now, and
whether the car is charging or only plugged in. Pure functions, tested case
by case.

Preconditions and choices:

* ``samples`` are one transaction's stored sampled values, oldest first (as
  ``MeterValueRepository.for_transaction`` returns them). Samples in
  ``SignedData`` format or with a value that is not a number are ignored.
* Units: energy in Wh or kWh (Wh when the station gives none, as OCPP 1.6
  says), power in W or kW, current in A, voltage in V.
* Energy of a finished transaction is what Start/StopTransaction reported
  (``meter_stop - meter_start``, unknown when the meter went backwards); of an
  active one, the latest ``Energy.Active.Import.Register`` without a phase
  (the total) minus ``meter_start``.
* Power now is the latest ``Power.Active.Import`` reading (the total, or the
  sum of its phases when only phases are reported); without one, the latest
  ``Current.Import`` times the ``Voltage`` read at the same time, phase by
  phase. A finished transaction draws no power.
* Charging vs plugged in: a connector reporting ``Charging`` is charging unless
  the power now is known and below :data:`CHARGING_THRESHOLD_W` (a car that
  stopped drawing but whose station still says Charging); ``SuspendedEV``,
  ``SuspendedEVSE``, ``Preparing`` and ``Finishing`` mean plugged in, not
  charging. With no status known, the power decides; with neither, we do not
  claim the car is charging.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from opencsms.domain.model import SampledValue, StoredMeterValue, Transaction

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"

CHARGING_THRESHOLD_W = 100.0
"""Below this a car is not charging: cars and stations draw tens of watts idle."""

_NOT_CHARGING = frozenset({"SuspendedEV", "SuspendedEVSE", "Preparing", "Finishing"})


class ChargingState(StrEnum):
    CHARGING = "charging"
    PLUGGED_IN_NOT_CHARGING = "plugged_in_not_charging"
    FINISHED = "finished"


def _number(sample: SampledValue) -> float | None:
    return number_of(sample.value, sample.format)


def number_of(text: str, format: str | None) -> float | None:
    """A sample's value as a finite number; None for signed data or non-numbers."""
    if format == "SignedData":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def scaled(sample: SampledValue, base: str, kilo: str) -> float | None:
    """The sample in ``base`` units (Wh, W), or None for an unknown unit."""
    return in_base_units(sample.value, sample.unit, sample.format, base, kilo)


def in_base_units(
    text: str, unit: str | None, format: str | None, base: str, kilo: str
) -> float | None:
    """:func:`scaled` of a sample's raw fields."""
    value = number_of(text, format)
    if value is None:
        return None
    unit = unit or base
    if unit == base:
        return value
    if unit == kilo:
        return value * 1000.0
    return None


def energy_wh(transaction: Transaction, samples: Sequence[StoredMeterValue]) -> float | None:
    """Energy delivered so far in Wh, None when the readings do not tell."""
    if not transaction.active:
        return None if transaction.energy_wh is None else float(transaction.energy_wh)
    for stored in reversed(samples):
        sample = stored.sample
        if sample.measurand != ENERGY or sample.phase is not None:
            continue
        register = scaled(sample, "Wh", "kWh")
        if register is not None:
            delivered = register - transaction.meter_start
            return delivered if delivered >= 0 else None
    return None


def _latest(samples: Sequence[StoredMeterValue], measurand: str) -> list[StoredMeterValue]:
    """The samples of ``measurand`` taken at its latest reading time."""
    latest: datetime | None = None
    found: list[StoredMeterValue] = []
    for stored in samples:
        if stored.sample.measurand != measurand or _number(stored.sample) is None:
            continue
        if latest is None or stored.timestamp > latest:
            latest, found = stored.timestamp, [stored]
        elif stored.timestamp == latest:
            found.append(stored)
    return found


def power_w(transaction: Transaction, samples: Sequence[StoredMeterValue]) -> float | None:
    """Power drawn now in W, None when the readings do not tell."""
    if not transaction.active:
        return 0.0
    readings = _latest(samples, POWER)
    if readings:
        return total_or_phases(
            (s.sample.phase, watts)
            for s in readings
            if (watts := scaled(s.sample, "W", "kW")) is not None
        )
    return _power_from_current(samples)


def total_or_phases(watts: Iterable[tuple[str | None, float]]) -> float | None:
    """One power reading's (phase, W) samples as W: its total (the sample
    without a phase; the last one when several) if it has one, else the sum
    of its phases; None when there is no sample."""
    total: float | None = None
    phases: float | None = None
    for phase, value in watts:
        if phase is None:
            total = value
        else:
            phases = value if phases is None else phases + value
    return total if total is not None else phases


def _power_from_current(samples: Sequence[StoredMeterValue]) -> float | None:
    currents = _latest(samples, CURRENT)
    if not currents:
        return None
    at = currents[0].timestamp
    voltages: dict[str | None, float] = {}
    for stored in samples:
        if stored.timestamp == at and stored.sample.measurand == VOLTAGE:
            volts = _number(stored.sample)
            if volts is not None:
                voltages[stored.sample.phase] = volts
    amps = [(s.sample.phase, a) for s in currents if (a := _number(s.sample)) is not None]
    return current_times_voltage(amps, voltages)


def current_times_voltage(
    amps: Iterable[tuple[str | None, float]], voltages: Mapping[str | None, float]
) -> float | None:
    """Power in W from one reading's currents (phase, A) and voltages (by
    phase): each current times the voltage of its phase (``L1`` also takes
    ``L1-N`` or a voltage without a phase; a current without a phase takes
    the only voltage there is). None when no current found its voltage."""
    if not voltages:
        return None
    total = 0.0
    matched = False
    for phase, current in amps:
        volts = voltages.get(phase)
        if volts is None and phase is not None:
            volts = voltages.get(f"{phase}-N", voltages.get(None))
        if volts is None and phase is None and len(voltages) == 1:
            volts = next(iter(voltages.values()))
        if volts is None:
            continue
        total += current * volts
        matched = True
    return total if matched else None


def charging_state(
    transaction: Transaction, connector_status: str | None, power: float | None
) -> ChargingState:
    if not transaction.active:
        return ChargingState.FINISHED
    if connector_status in _NOT_CHARGING:
        return ChargingState.PLUGGED_IN_NOT_CHARGING
    if power is not None and power < CHARGING_THRESHOLD_W:
        return ChargingState.PLUGGED_IN_NOT_CHARGING
    if connector_status == "Charging" or power is not None:
        return ChargingState.CHARGING
    return ChargingState.PLUGGED_IN_NOT_CHARGING
