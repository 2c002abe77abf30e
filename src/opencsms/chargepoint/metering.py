"""Turning meter readings into OCPP 1.6 MeterValue objects (section 7.31-7.32).

Which measurands are sampled is configuration (``MeterValuesSampledData``,
``StopTxnSampledData``, ``MeterValuesAlignedData``); the context says why a
sample was taken (Sample.Periodic, Transaction.Begin/End, Sample.Clock,
Trigger). Units are explicit on every value so a central system never has
to guess Wh from kWh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.v16.enums import ReadingContext

from opencsms.chargepoint.clock import ocpp_time
from opencsms.chargepoint.hardware import MeterReading

PHASES = ("L1", "L2", "L3")


def _value(measurand: str, value: str, unit: str, context: str, **extra: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "value": value,
        "context": context,
        "format": "Raw",
        "measurand": measurand,
        "unit": unit,
    }
    out.update(extra)
    out.setdefault("location", "Outlet")
    return out


def sampled_values(
    reading: MeterReading,
    measurands: list[str],
    context: str,
    *,
    offered_current: float | None = None,
    phases: int = 3,
    voltage: float = 230.0,
) -> list[dict[str, Any]]:
    """SampledValue objects for the measurands this reading can provide."""
    out: list[dict[str, Any]] = []
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(_value(measurand, str(round(reading.energy_wh)), "Wh", context))
        elif measurand == "Power.Active.Import":
            out.append(_value(measurand, f"{reading.power_w:.1f}", "W", context))
        elif measurand == "Current.Import":
            for phase, amps in zip(PHASES, reading.current_a, strict=False):
                out.append(_value(measurand, f"{amps:.2f}", "A", context, phase=phase))
        elif measurand == "Voltage":
            for phase, volts in zip(PHASES, reading.voltage_v, strict=False):
                out.append(_value(measurand, f"{volts:.1f}", "V", context, phase=f"{phase}-N"))
        elif measurand == "SoC" and reading.soc_percent is not None:
            out.append(
                _value(measurand, f"{reading.soc_percent:.0f}", "Percent", context, location="EV")
            )
        elif measurand == "Temperature" and reading.temperature_c is not None:
            out.append(
                _value(
                    measurand, f"{reading.temperature_c:.1f}", "Celsius", context, location="Body"
                )
            )
        elif measurand == "Current.Offered" and offered_current is not None:
            out.append(_value(measurand, f"{offered_current:.1f}", "A", context))
        elif measurand == "Power.Offered" and offered_current is not None:
            watts = offered_current * voltage * phases
            out.append(_value(measurand, f"{watts:.1f}", "W", context))
    return out


def meter_value(
    timestamp: datetime,
    reading: MeterReading,
    measurands: list[str],
    context: str = ReadingContext.sample_periodic,
    **kwargs: Any,
) -> dict[str, Any]:
    values = sampled_values(reading, measurands, context, **kwargs)
    if not values:  # the schema wants at least one sampledValue
        values = sampled_values(reading, ["Energy.Active.Import.Register"], context)
    return {"timestamp": ocpp_time(timestamp), "sampledValue": values}
