"""Metering and power control: what the meter reports and what the pilot offers.

The pilot current of a connector in a transaction is the first period of the
composite schedule (the same computation that answers GetCompositeSchedule),
re-applied at every schedule boundary through a timer and whenever profiles
or transactions change. When several transactions share a station, each gets
an equal share of the station-wide ChargePointMaxProfile. A limit below
6 A cannot be signalled on the pilot (IEC 61851-1) and becomes 0 A: the
connector goes SuspendedEVSE.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ocpp.v16.enums import ReadingContext

from opencsms.chargepoint.composite import composite_schedule, convert, limit_now_and_next
from opencsms.chargepoint.hardware import MeterReading
from opencsms.chargepoint.metering import meter_value
from opencsms.chargepoint.offline_queue import Payload
from opencsms.chargepoint.smart_charging import ProfileLimits, SchedulePeriod

if TYPE_CHECKING:
    from opencsms.chargepoint.station import ChargePoint

MIN_PILOT_CURRENT = 6.0
HORIZON = 86_400
"""Seconds of schedule looked at when applying a limit (re-applied at its end)."""


UNIT_NAMES = {"Current": "A", "Power": "W"}


def profile_limits(cp: ChargePoint) -> ProfileLimits:
    """The install limits the station advertises through its configuration."""
    config = cp.config
    units = config.get_list("ChargingScheduleAllowedChargingRateUnit")
    return ProfileLimits(
        max_stack_level=config.get_int("ChargeProfileMaxStackLevel", 10),
        max_periods=config.get_int("ChargingScheduleMaxPeriods", 24),
        allowed_units=frozenset(UNIT_NAMES[u] for u in units if u in UNIT_NAMES),
        max_installed=config.get_int("MaxChargingProfilesInstalled", 10),
    )


def composite_for(
    cp: ChargePoint, connector_id: int, duration: int, unit: str, start: datetime | None = None
) -> list[SchedulePeriod]:
    tx = cp.connectors[connector_id].transaction if connector_id else None
    phases, voltage = cp.info.phases, cp.info.voltage
    max_limit = convert(cp.info.max_current, "A", unit, phases=phases, voltage=voltage)
    return composite_schedule(
        cp.profiles.installed,
        connector_id=connector_id,
        start=start or cp.now(),
        duration=duration,
        unit=unit,
        phases=phases,
        voltage=voltage,
        max_limit=max_limit,
        tx_start=tx.start if tx else None,
        transaction_id=tx.id if tx else None,
    )


async def apply_limit(cp: ChargePoint, connector_id: int) -> None:
    connector = cp.connectors[connector_id]
    if connector.transaction is None:
        return
    limit, next_change = limit_now_and_next(composite_for(cp, connector_id, HORIZON, "A"))
    active = sum(1 for c in cp.connectors[1:] if c.transaction is not None)
    if active > 1:
        station_limit, station_next = limit_now_and_next(composite_for(cp, 0, HORIZON, "A"))
        limit = min(limit, math.floor(station_limit / active * 10) / 10)
        if station_next is not None:
            next_change = min(next_change or HORIZON, station_next)
    amps = 0.0 if limit < MIN_PILOT_CURRENT else min(limit, cp.info.max_current)
    await cp.hw(connector_id).pilot.set_current_limit(amps)
    cp.offered[connector_id] = amps
    connector.evse_paused = amps == 0
    cp.refresh(connector_id)

    async def again() -> None:
        await apply_limit(cp, connector_id)

    cp.timers.set_in(f"limit:{connector_id}", next_change or HORIZON, again)


async def rebalance(cp: ChargePoint) -> None:
    """Re-apply every running connector's limit (profiles or sharing changed)."""
    for connector in cp.connectors[1:]:
        if connector.transaction is not None:
            await apply_limit(cp, connector.id)


def post_sample(
    cp: ChargePoint,
    connector_id: int,
    reading: MeterReading,
    context: str,
    measurands: list[str] | None = None,
) -> None:
    """Queue a MeterValues for the connector (transaction message if one runs)."""
    connector = cp.connectors[connector_id]
    tx = connector.transaction
    value = meter_value(
        cp.now(),
        reading,
        measurands if measurands is not None else cp.config.get_list("MeterValuesSampledData"),
        context,
        offered_current=cp.offered.get(connector_id),
        phases=cp.info.phases,
        voltage=cp.info.voltage,
    )
    payload: Payload = {"connectorId": connector_id, "meterValue": [value]}
    if tx is not None:
        payload["transactionId"] = tx.wire_id
        cp.post_transaction("MeterValues", payload, tx.local_id)
    else:
        cp.post("MeterValues", payload)


def schedule_sample(cp: ChargePoint, connector_id: int) -> None:
    """Next Sample.Periodic for a running transaction, ``MeterValueSampleInterval`` on."""
    interval = cp.config.get_int("MeterValueSampleInterval", 0)
    key = f"sample:{connector_id}"
    if interval <= 0 or cp.connectors[connector_id].transaction is None:
        cp.timers.cancel(key)
        return

    async def sample() -> None:
        if cp.connectors[connector_id].transaction is None:
            return
        reading = await cp.hw(connector_id).meter.read()
        post_sample(cp, connector_id, reading, ReadingContext.sample_periodic)
        schedule_sample(cp, connector_id)

    cp.timers.set_in(key, interval, sample)


def next_aligned(now: datetime, interval: int) -> datetime:
    """The next instant that is a whole multiple of ``interval`` after midnight UTC."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (now - midnight).total_seconds()
    return midnight + timedelta(seconds=(math.floor(elapsed / interval) + 1) * interval)


def schedule_aligned(cp: ChargePoint) -> None:
    """Clock-aligned samples (Sample.Clock) every ``ClockAlignedDataInterval``."""
    interval = cp.config.get_int("ClockAlignedDataInterval", 0)
    if interval <= 0:
        cp.timers.cancel("aligned")
        return

    async def aligned() -> None:
        measurands = cp.config.get_list("MeterValuesAlignedData")
        for connector in cp.connectors[1:]:
            if connector.transaction is not None and measurands:
                reading = await cp.hw(connector.id).meter.read()
                post_sample(cp, connector.id, reading, ReadingContext.sample_clock, measurands)
        schedule_aligned(cp)

    cp.timers.set("aligned", next_aligned(cp.now(), interval), aligned)
