"""Energy, power now and charging state from meter readings, case by case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.charging_state import ChargingState, charging_state, energy_wh, power_w
from opencsms.domain.model import SampledValue, StoredMeterValue, TagStatus, Transaction

T0 = datetime(2027, 1, 1, tzinfo=UTC)
ACTIVE = Transaction(1, "CP", 1, "TAG", TagStatus.ACCEPTED, meter_start=1000, started_at=T0)
FINISHED = replace(ACTIVE, meter_stop=4000, stopped_at=T0 + timedelta(hours=1), energy_wh=3000)


def s(
    minute: int,
    measurand: str,
    value: str,
    unit: str | None = None,
    phase: str | None = None,
    fmt: str | None = None,
) -> StoredMeterValue:
    at = T0 + timedelta(minutes=minute)
    return StoredMeterValue(
        "CP", 1, 1, 1, at, at, SampledValue(value, measurand, unit, phase, format=fmt)
    )


E, P, A, V = "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], None),
        ([s(1, E, "1500")], 500.0),
        ([s(1, E, "1500", "Wh"), s(2, E, "2.5", "kWh")], 1500.0),
        ([s(1, E, "1500"), s(2, E, "900", phase="L1")], 500.0),  # phase values are not the total
        ([s(1, E, "1500"), s(2, E, "oops")], 500.0),
        ([s(1, E, "1500"), s(2, E, "3000", "MWh")], 500.0),  # unknown unit skipped
        ([s(1, E, "999")], None),  # below meter_start
        ([s(1, E, "abc", fmt="SignedData")], None),
    ],
)
def test_energy_of_an_active_transaction(
    samples: list[StoredMeterValue], expected: float | None
) -> None:
    assert energy_wh(ACTIVE, samples) == expected


def test_energy_of_a_finished_transaction_is_what_it_reported() -> None:
    assert energy_wh(FINISHED, [s(1, E, "99999")]) == 3000.0
    assert energy_wh(replace(FINISHED, energy_wh=None, meter_anomaly=True), []) is None


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], None),
        ([s(1, P, "7000"), s(2, P, "11", "kW")], 11000.0),
        ([s(2, P, "3000", phase="L1"), s(2, P, "3100", phase="L2")], 6100.0),
        ([s(2, P, "3000", phase="L1"), s(2, P, "6100")], 6100.0),  # the total wins
        ([s(1, A, "16"), s(1, V, "230")], 3680.0),
        (
            [
                s(1, A, "16", phase="L1"),
                s(1, A, "10", phase="L2"),
                s(1, V, "230", phase="L1-N"),
                s(1, V, "230", phase="L2-N"),
            ],
            5980.0,
        ),
        ([s(1, A, "16"), s(0, V, "230")], None),  # voltage from another reading
        ([s(1, A, "16")], None),
        ([s(1, P, "0"), s(1, A, "16"), s(1, V, "230")], 0.0),  # power preferred
    ],
)
def test_power_now(samples: list[StoredMeterValue], expected: float | None) -> None:
    assert power_w(ACTIVE, samples) == expected


def test_a_finished_transaction_draws_nothing() -> None:
    assert power_w(FINISHED, [s(1, P, "7000")]) == 0.0


@pytest.mark.parametrize(
    ("status", "power", "expected"),
    [
        ("Charging", 7000.0, ChargingState.CHARGING),
        ("Charging", None, ChargingState.CHARGING),
        ("Charging", 0.0, ChargingState.PLUGGED_IN_NOT_CHARGING),
        ("SuspendedEV", 7000.0, ChargingState.PLUGGED_IN_NOT_CHARGING),
        ("SuspendedEVSE", None, ChargingState.PLUGGED_IN_NOT_CHARGING),
        ("Preparing", None, ChargingState.PLUGGED_IN_NOT_CHARGING),
        (None, 7000.0, ChargingState.CHARGING),
        (None, 20.0, ChargingState.PLUGGED_IN_NOT_CHARGING),
        (None, None, ChargingState.PLUGGED_IN_NOT_CHARGING),
    ],
)
def test_charging_state(status: str | None, power: float | None, expected: ChargingState) -> None:
    assert charging_state(ACTIVE, status, power) is expected


def test_finished_is_finished_whatever_the_status() -> None:
    assert charging_state(FINISHED, "Charging", 7000.0) is ChargingState.FINISHED
