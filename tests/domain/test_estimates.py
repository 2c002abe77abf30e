"""Power now, peak power, time to finish and charging state, case by case
(hand arithmetic in the docstrings), and the taper model against the
simulator's EV."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.charging_state import ChargingState
from opencsms.domain.model import SampledValue, StoredMeterValue, TagStatus, Transaction
from opencsms.domain.smart_charging.estimates import (
    Taper,
    estimate_session,
    peak_power_w,
    power_now_w,
    time_to_finish,
)
from opencsms.domain.smart_charging.live_inputs import LiveDefaults, max_power_kw
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.records import StoredPlan
from opencsms.simulator.ev import EV

T0 = datetime(2027, 1, 4, 16, tzinfo=UTC)
ACTIVE = Transaction(1, "CP1", 1, "TAG", TagStatus.ACCEPTED, meter_start=0, started_at=T0)
P, A, V = "Power.Active.Import", "Current.Import", "Voltage"


def s(
    minute: int, measurand: str, value: str, unit: str | None = None, phase: str | None = None
) -> StoredMeterValue:
    moment = T0 + timedelta(minutes=minute)
    return StoredMeterValue(
        "CP1", 1, 1, 1, moment, moment, SampledValue(value, measurand, unit, phase)
    )


def test_power_from_current_times_voltage_per_phase() -> None:
    """16 A × 230 V + 15 A × 231 V + 14 A × 229 V = 3680 + 3465 + 3206 = 10351 W;
    ``phases`` plays no part when the phases are reported."""
    samples = [
        s(1, A, "16", "A", "L1"),
        s(1, A, "15", "A", "L2"),
        s(1, A, "14", "A", "L3"),
        s(1, V, "230", "V", "L1-N"),
        s(1, V, "231", "V", "L2-N"),
        s(1, V, "229", "V", "L3-N"),
    ]
    assert power_now_w(ACTIVE, samples) == pytest.approx(10351.0)
    assert power_now_w(ACTIVE, samples, phases=3) == pytest.approx(10351.0)


def test_single_current_times_voltage_times_phases() -> None:
    """16 A per phase at 230 V: 3680 W on one phase, 11040 W on three."""
    samples = [s(1, A, "16", "A"), s(1, V, "230", "V")]
    assert power_now_w(ACTIVE, samples) == pytest.approx(3680.0)
    assert power_now_w(ACTIVE, samples, phases=3) == pytest.approx(11040.0)


def test_power_sample_in_kw_wins_and_the_latest_reading_counts() -> None:
    assert power_now_w(ACTIVE, [s(1, P, "7.4", "kW"), s(1, A, "32", "A"), s(1, V, "230")]) == 7400
    # a later current reading beats an earlier power reading
    samples = [s(1, P, "7400", "W"), s(2, A, "10", "A"), s(2, V, "230")]
    assert power_now_w(ACTIVE, samples, phases=3) == pytest.approx(6900.0)
    # a reading time with nothing usable does not hide an earlier one
    assert power_now_w(ACTIVE, [s(1, P, "7400"), s(2, A, "10")]) == 7400
    assert power_now_w(ACTIVE, []) is None
    finished = replace(ACTIVE, stopped_at=T0 + timedelta(hours=1), meter_stop=1000)
    assert power_now_w(finished, [s(1, P, "7400")]) == 0.0


def test_stale_power_is_not_power_now() -> None:
    samples = [s(0, P, "7400")]
    now = T0 + timedelta(minutes=10)
    assert power_now_w(ACTIVE, samples, now=now, max_age=timedelta(minutes=15)) == 7400
    assert power_now_w(ACTIVE, samples, now=now, max_age=timedelta(minutes=5)) is None


def test_peak_power_within_the_session() -> None:
    samples = [s(-5, P, "11000"), s(1, P, "3000"), s(2, P, "7.4", "kW"), s(3, P, "5000")]
    assert peak_power_w(ACTIVE, samples) == 7400
    finished = replace(ACTIVE, stopped_at=T0 + timedelta(minutes=2), meter_stop=1000)
    assert peak_power_w(finished, samples) == 7400  # the 5000 W reading is after the stop
    assert peak_power_w(finished, [s(3, P, "5000")]) is None


def test_time_to_finish_without_taper() -> None:
    """30 kWh into the battery at 10 kW metered, 90 % efficient: 30 / 9 h = 3 h 20 min."""
    assert time_to_finish(30, 10_000) == timedelta(hours=3, minutes=20)
    assert time_to_finish(30, 10_000, efficiency=1.0) == timedelta(hours=3)
    assert time_to_finish(0, 10_000) == timedelta()
    assert time_to_finish(5, 0) is None


def test_time_to_finish_with_taper() -> None:
    """60 kWh battery at 50 %, 30 kWh needed (to 100 %), 10 kW, 90 %, taper
    from 80 % to a 10 % floor (reached at 98 %). ∫ds/f: flat 50→80 = 30;
    linear 80→98 = 20·ln(20/2) = 20·ln 10; floor 98→100 = 2/0.1 = 20.
    Hours = 0.6 kWh/% ÷ 9 kW × (50 + 20 ln 10) = (50 + 20 ln 10)/15 ≈ 6.4034."""
    eta = time_to_finish(30, 10_000, soc=50, battery_kwh=60, taper=Taper())
    assert eta is not None
    assert eta.total_seconds() / 3600 == pytest.approx((50 + 20 * math.log(10)) / 15)


def test_taper_infers_full_power_from_a_car_already_tapering() -> None:
    """At 90 % the car takes (100 − 90)/20 = 0.5 of full power: 5 kW
    measured → 10 kW full. 3 kWh = 5 % (90 → 95): ∫ = 20·ln(10/5) = 20 ln 2;
    hours = 0.6/9 × 20 ln 2 = (4/3) ln 2 ≈ 0.924 (constant 5 kW would say 0.667)."""
    eta = time_to_finish(3, 5_000, soc=90, battery_kwh=60, taper=Taper())
    assert eta is not None
    assert eta.total_seconds() / 3600 == pytest.approx(4 / 3 * math.log(2))


def test_need_beyond_full_is_capped_at_full() -> None:
    """At 95 % (factor 0.25, 2.5 kW measured → 10 kW), 10 kWh needed but only
    5 % fits: ∫ 95→98 = 20·ln(5/2), 98→100 = 20; hours = (20 ln 2.5 + 20)/15."""
    eta = time_to_finish(10, 2_500, soc=95, battery_kwh=60, taper=Taper())
    assert eta is not None
    assert eta.total_seconds() / 3600 == pytest.approx((20 * math.log(2.5) + 20) / 15)


def test_taper_model_matches_the_simulated_ev() -> None:
    """The simulator's EV (lossless, 11 kW, taper 80 %, floor 10 %) charged
    from 40 % to full in 1-second steps takes what the model says, within
    the step error."""
    ev = EV(battery_kwh=60, soc=40, max_power_w=11_000)
    seconds = 0
    while not ev.full:
        ev.absorb(ev.acceptance_w() / 3600.0)
        seconds += 1
    eta = time_to_finish(36, 11_000, efficiency=1.0, soc=40, battery_kwh=60, taper=Taper())
    assert eta is not None
    assert eta.total_seconds() == pytest.approx(seconds, rel=1e-3)


def test_taper_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="taper"):
        Taper(start_soc=100)
    with pytest.raises(ValueError, match="taper"):
        Taper(floor=0)
    with pytest.raises(ValueError, match="efficiency"):
        time_to_finish(1, 1000, efficiency=0)


@pytest.mark.parametrize(
    ("status", "samples", "state"),
    [
        ("Charging", [s(1, P, "7400")], ChargingState.CHARGING),
        ("Charging", [s(1, P, "40")], ChargingState.PLUGGED_IN_NOT_CHARGING),
        ("SuspendedEV", [s(1, P, "7400")], ChargingState.PLUGGED_IN_NOT_CHARGING),
        (None, [s(1, A, "16"), s(1, V, "230")], ChargingState.CHARGING),
        ("Charging", [s(-30, P, "40")], ChargingState.CHARGING),  # stale: the status decides
        (None, [s(-30, P, "7400")], ChargingState.PLUGGED_IN_NOT_CHARGING),  # stale, no status
    ],
)
def test_charging_or_plugged_in(
    status: str | None, samples: list[StoredMeterValue], state: ChargingState
) -> None:
    estimate = estimate_session(
        ACTIVE, samples, status, T0 + timedelta(minutes=2), max_age=timedelta(minutes=10)
    )
    assert estimate.state is state


def test_estimate_while_charging() -> None:
    """16 A × 230 V × 3 = 11040 W; 9.936 kWh at 90 %: 9.936/(0.9 × 11.04) = 1 h."""
    now = T0 + timedelta(minutes=5)
    samples = [s(5, A, "16", "A"), s(5, V, "230", "V")]
    estimate = estimate_session(ACTIVE, samples, "Charging", now, 9.936, phases=3)
    assert estimate.state is ChargingState.CHARGING
    assert estimate.power_w == pytest.approx(11040)
    assert estimate.time_to_finish is not None
    assert estimate.time_to_finish.total_seconds() == pytest.approx(3600)
    assert estimate.finish_at is not None
    assert abs(estimate.finish_at - (now + timedelta(hours=1))) < timedelta(seconds=1)
    paused = estimate_session(ACTIVE, samples, "SuspendedEVSE", now, 9.936, phases=3)
    assert paused.time_to_finish is None and paused.finish_at is None


def test_a_car_drawing_what_its_plan_offers_now_keeps_its_assumed_power() -> None:
    """Measured power wins only when it tells: a car offered 4.14 kW now (and
    7.4 kW later in its plan) that draws 4.14 kW could take more; a car
    offered 7.4 kW that draws 4.0 kW could not. Comparing the reading with
    the plan's *highest* power made nine cars of the e2e night 4.14 kW cars."""
    plan = StoredPlan(
        1, 1, "CP1", 1, T0, "need", "lp",
        (
            Segment(T0, T0 + timedelta(hours=1), 4.14),
            Segment(T0 + timedelta(hours=1), T0 + timedelta(hours=2), 7.4),
        ),
        10.0,
    )  # fmt: skip
    defaults = LiveDefaults(power_kw=7.4)
    at_floor = [s(30, P, "4140", "W")]
    assert max_power_kw(ACTIVE, at_floor, None, [plan], defaults) == (7.4, "default")
    held_back = [s(30, P, "4140", "W"), s(90, P, "4000", "W")]
    assert max_power_kw(ACTIVE, held_back, None, [plan], defaults) == (4.14, "measured")
    # a reading in the minute after the rise still shows the old limit: no verdict
    just_after = [s(30, P, "4140", "W"), s(60, P, "4140", "W")]
    assert max_power_kw(ACTIVE, just_after, None, [plan], defaults) == (7.4, "default")
    # nor a minute later: a one-period cap's rise goes out at the sweep after
    # it (e2e: DELTA-01 became a 4.14 kW car at 23:31 and ended 1.7 kWh short)
    a_sweep_later = [s(30, P, "4140", "W"), s(61, P, "4140", "W")]
    assert max_power_kw(ACTIVE, a_sweep_later, None, [plan], defaults) == (7.4, "default")
