"""Session accounting from metered energy, golden cases computed by hand
(the arithmetic is in each docstring), and properties: energy is conserved by
the slot split, cost is monotone in prices."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencsms.domain.model import SampledValue, StoredMeterValue, TagStatus, Transaction
from opencsms.domain.smart_charging.accounting import (
    AccountingError,
    AnomalyKind,
    Interval,
    SessionAccount,
    account_session,
    charge_now,
    energy_by_slot,
    metered_intervals,
    savings_report,
)
from opencsms.domain.smart_charging.rates import Rate

T0 = datetime(2027, 1, 4, 16, tzinfo=UTC)
HALF = timedelta(minutes=30)
E = "Energy.Active.Import.Register"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def session(
    start: float, meter_start: int, stop: float | None, meter_stop: int | None, tx: int = 1
) -> Transaction:
    return Transaction(
        tx,
        f"CP{tx}",
        1,
        "TAG",
        TagStatus.ACCEPTED,
        meter_start=meter_start,
        started_at=at(start),
        meter_stop=meter_stop,
        stopped_at=None if stop is None else at(stop),
    )


def reading(
    minutes: float,
    value: str,
    unit: str | None = None,
    phase: str | None = None,
    tx: int | None = 1,
    fmt: str | None = None,
) -> StoredMeterValue:
    return StoredMeterValue(
        "CP1", 1, tx, tx, at(minutes), at(minutes), SampledValue(value, E, unit, phase, format=fmt)
    )


def slots(values: list[float], unit: str = "p/kWh", first: int = 0) -> list[Rate]:
    return [
        Rate(T0 + (first + i) * HALF, T0 + (first + i + 1) * HALF, v, unit)
        for i, v in enumerate(values)
    ]


PRICES = slots([10, 20, 30])
CO2 = slots([100, 200, 300], "gCO2/kWh")


def three_slot_account() -> SessionAccount:
    """Readings every 10 minutes over three half-hour slots (10, 20, 30 p/kWh;
    100, 200, 300 g/kWh), register in Wh from 1000:

    16:00 1000, 16:10 2000, 16:20 3000, 16:30 4000  → slot 1: 3 kWh
    16:40 4500, 16:50 5000, 17:00 5500              → slot 2: 1.5 kWh
    17:10 5500, 17:20 5700, 17:30 6000 (stop)       → slot 3: 0.5 kWh

    energy 5 kWh; cost 3×10 + 1.5×20 + 0.5×30 = 75 p; CO2 300 + 300 + 150 = 750 g.
    Baseline at the measured 6 kW (1 kWh in 10 min): 5 kWh in 50 min from
    16:00 → 3 kWh in slot 1, 2 kWh in slot 2: 30 + 40 = 70 p, 300 + 400 = 700 g.
    Saving 70 − 75 = −5 p (−5/70 = −7.142857 %): charging late cost more.
    """
    values = [2000, 3000, 4000, 4500, 5000, 5500, 5500, 5700]
    samples = [reading(10 * (i + 1), str(v)) for i, v in enumerate(values)]
    return account_session(session(0, 1000, 90, 6000), samples, PRICES, CO2, 6.0)


def test_three_slots_readings_every_ten_minutes() -> None:
    account = three_slot_account()
    assert account.energy_kwh == pytest.approx(5.0)
    assert account.cost == pytest.approx(75.0)
    assert account.cost_unit == "p"
    assert account.co2_g == pytest.approx(750.0)
    assert account.baseline_cost == pytest.approx(70.0)
    assert account.baseline_co2_g == pytest.approx(700.0)
    assert account.saving == pytest.approx(-5.0)
    assert account.saving_pct == pytest.approx(-100 * 5 / 70)
    assert account.co2_saving_g == pytest.approx(-50.0)
    assert account.unpriced_kwh == account.baseline_unpriced_kwh == 0
    assert account.anomalies == ()


def test_readings_not_aligned_to_slots_split_linearly() -> None:
    """16:20 → 16:50: 3 kWh over 30 min, 10 min in slot 1 (1 kWh) and 20 min in
    slot 2 (2 kWh); 16:50 → 17:05: 1.5 kWh over 15 min, 10 min in slot 2
    (1 kWh) and 5 min in slot 3 (0.5 kWh). Slots (1, 3, 0.5) kWh; cost
    1×10 + 3×20 + 0.5×30 = 85 p."""
    transaction = session(20, 0, 65, 4500)
    metering = metered_intervals(transaction, [reading(50, "3000")])
    assert metering.intervals == (
        Interval(at(20), at(50), 3.0),
        Interval(at(50), at(65), 1.5),
    )
    split = energy_by_slot(metering.intervals, PRICES)
    assert split.kwh == pytest.approx((1.0, 3.0, 0.5))
    assert split.uncovered_kwh == 0
    assert split.price(PRICES) == pytest.approx(85.0)


def test_register_reset_counts_from_the_new_value() -> None:
    """1000 → 2000 (1 kWh), falls to 50 and stays (reset: nothing counted for
    the fall), 50 → 1050 (1 kWh): 2 kWh, flagged."""
    metering = metered_intervals(
        session(0, 1000, 30, 1050), [reading(10, "2000"), reading(20, "50")]
    )
    assert metering.energy_kwh == pytest.approx(2.0)
    assert [a.kind for a in metering.anomalies] == [AnomalyKind.REGISTER_RESET]
    assert metering.anomalies[0].at == at(20)


def test_register_glitch_is_skipped() -> None:
    """1000 → 2000 → 0 → 3000: the 0 comes back above 2000, a glitch. 2 kWh:
    1 kWh 16:00–16:10, 1 kWh 16:10–16:30 (split over the skipped reading)."""
    metering = metered_intervals(
        session(0, 1000, 30, 3000), [reading(10, "2000"), reading(20, "0")]
    )
    assert metering.intervals == (Interval(at(0), at(10), 1.0), Interval(at(10), at(30), 1.0))
    assert [a.kind for a in metering.anomalies] == [AnomalyKind.REGISTER_GLITCH]


def test_stop_below_start_counts_nothing() -> None:
    metering = metered_intervals(session(0, 5000, 30, 100), [])
    assert metering.energy_kwh == 0
    assert [a.kind for a in metering.anomalies] == [AnomalyKind.REGISTER_RESET]


def test_kwh_units_and_phase_registers() -> None:
    """1.5 kWh at 16:10 = 1500 Wh; at 16:20 only phases: 700 + 800 + 900 =
    2400 Wh; stop 3000: intervals 1.5, 0.9, 0.6 kWh."""
    samples = [
        reading(10, "1.5", "kWh"),
        reading(20, "700", phase="L1"),
        reading(20, "0.8", "kWh", phase="L2"),
        reading(20, "900", phase="L3"),
        reading(25, "2500", phase="L1"),  # a phase beside a total: the total wins
        reading(25, "2700"),
    ]
    metering = metered_intervals(session(0, 0, 30, 3000), samples)
    assert [i.kwh for i in metering.intervals] == pytest.approx([1.5, 0.9, 0.3, 0.3])
    assert metering.anomalies == ()


def test_samples_outside_duplicated_out_of_order_or_unreadable() -> None:
    """Only the 16:10 (1000) and 16:20 (2500) readings count, given out of
    order: 0 → 1000 → 2500 → 3000 (stop)."""
    samples = [
        reading(20, "2500"),
        reading(10, "1000"),
        reading(10, "1000"),  # duplicate: silent
        reading(10, "1100"),  # conflicting: first kept, flagged
        reading(-5, "0"),  # before the start
        reading(45, "9000"),  # after the stop
        reading(15, "x"),  # not a number
        reading(15, "3", "MWh"),  # unknown unit
        reading(15, "abc", fmt="SignedData"),  # skipped silently
        reading(15, "99999", tx=2),  # another transaction's
        reading(30, "3000"),  # the stop again: same value
    ]
    metering = metered_intervals(session(0, 0, 30, 3000), samples)
    assert [(i.start, i.kwh) for i in metering.intervals] == [
        (at(0), 1.0),
        (at(10), 1.5),
        (at(20), 0.5),
    ]
    kinds = sorted(a.kind for a in metering.anomalies)
    assert kinds == sorted(
        [
            AnomalyKind.OUTSIDE_SESSION,
            AnomalyKind.CONFLICTING_READING,
            AnomalyKind.UNREADABLE,
            AnomalyKind.UNREADABLE,
        ]
    )


def test_active_session_runs_to_its_latest_reading() -> None:
    metering = metered_intervals(
        session(0, 0, None, None), [reading(10, "500"), reading(20, "1500")]
    )
    assert metering.energy_kwh == pytest.approx(1.5)
    assert metering.intervals[-1].end == at(20)


def test_unpriced_gap_is_reported_not_priced_at_zero() -> None:
    """Prices only 16:00–16:30 (10) and 17:00–17:30 (30); 2 kW for 90 min:
    1 kWh per half hour. Cost 1×10 + 1×30 = 40 p, 1 kWh unpriced, no saving
    claimed (the baseline at 3 kW has 1.5 kWh in the gap too). CO2 covers
    everything: 100 + 200 + 300 = 600 g; baseline 3 kWh in 60 min = 1.5 + 1.5
    kWh → 150 + 300 = 450 g; CO2 saving −150 g."""
    prices = [PRICES[0], PRICES[2]]
    samples = [reading(30, "1000"), reading(60, "2000")]
    account = account_session(session(0, 0, 90, 3000), samples, prices, CO2, 3.0)
    assert account.cost == pytest.approx(40.0)
    assert account.unpriced_kwh == pytest.approx(1.0)
    assert account.baseline_unpriced_kwh == pytest.approx(1.5)  # 16:30–17:00 at 3 kW
    assert account.saving is None and account.saving_pct is None
    assert account.co2_g == pytest.approx(600.0)
    assert account.co2_saving_g == pytest.approx(-150.0)


F1_PRICES = [
    28.1,
    31.5,
    35.2,
    38.9,
    37.4,
    33.0,
    27.6,
    24.3,
    22.8,
    21.0,
    19.7,
    18.2,
    17.5,
    16.9,
    15.8,
]
F1_PRICES += [
    14.2,
    13.1,
    12.6,
    12.0,
    11.4,
    11.9,
    12.8,
    13.6,
    14.9,
    15.5,
    16.8,
    18.3,
    20.9,
    23.4,
    25.0,
]
F1_CO2 = [231, 245, 262, 270, 258, 240, 221, 205, 190, 176, 165, 152, 140, 131, 125, 118, 112]
F1_CO2 += [108, 104, 101, 99, 103, 110, 121, 134, 150, 168, 187, 204, 215]


def f1_account() -> SessionAccount:
    """The issue's F1 case, metered as the price plan charges it: 20 kWh at
    7.4 kW (3.7 kWh per half hour) in the five cheapest slots 00:30–03:00
    (12.6, 12.0, 11.4, 11.9, 12.8) and 1.5 kWh at the end of 00:00–00:30 (13.1).
    Cost 1.5×13.1 + 3.7×60.7 = 19.65 + 224.59 = 244.24 p; CO2 1.5×112 +
    3.7×515 = 2073.5 g. Baseline from 16:00: 3.7×(28.1 + 31.5 + 35.2 + 38.9 +
    37.4) + 1.5×33.0 = 633.07 + 49.5 = 682.57 p; 3.7×1266 + 1.5×240 =
    5044.2 g. Saving 438.33 p = 64.2 %."""
    registers = [0] * 16 + [1500, 5200, 8900, 12600, 16300, 20000] + [20000] * 8
    samples = [reading(30 * (i + 1), str(v), tx=2) for i, v in enumerate(registers[:-1])]
    return account_session(
        session(0, 0, 15 * 60, 20000, tx=2),
        samples,
        slots(F1_PRICES),
        slots([float(v) for v in F1_CO2], "gCO2/kWh"),
        7.4,
    )


def test_f1_saving_from_metered_energy() -> None:
    account = f1_account()
    assert account.energy_kwh == pytest.approx(20.0)
    assert account.cost == pytest.approx(244.24)
    assert account.baseline_cost == pytest.approx(682.57)
    assert account.saving == pytest.approx(438.33)
    assert round(account.saving_pct or 0, 1) == 64.2
    assert account.co2_g == pytest.approx(2073.5)
    assert account.baseline_co2_g == pytest.approx(5044.2)


def test_baseline_from_plug_in() -> None:
    """Plugged in at 16:30, 1 kWh at 2 kW: 16:30–17:00 at 20 p."""
    account = account_session(session(60, 0, 90, 1000), [], PRICES, CO2, 2.0, plugged_in_at=at(30))
    assert account.baseline_cost == pytest.approx(20.0)
    assert account.cost == pytest.approx(30.0)


def test_savings_report_over_a_period() -> None:
    """Three sessions start in the period: three-slot (CP1, −5 of 70 p), F1
    (CP2, 438.33 of 682.57 p) and the unpriced one (CP1, not compared); one
    starts at the period's end and is left out. Saving 433.33 p of 752.57 p
    compared baseline = 57.58 %; cost 75 + 244.24 + 40 = 359.24 p."""
    unpriced = account_session(
        session(0, 0, 90, 3000),
        [reading(30, "1000"), reading(60, "2000")],
        [PRICES[0], PRICES[2]],
        CO2,
        3.0,
    )
    later = replace(three_slot_account(), started_at=at(24 * 60))
    report = savings_report(
        [three_slot_account(), f1_account(), unpriced, later], at(0), at(24 * 60)
    )
    total = report.total
    assert report.cost_unit == "p"
    assert (total.sessions, total.compared, total.co2_compared) == (3, 2, 3)
    assert total.energy_kwh == pytest.approx(28.0)
    assert total.cost == pytest.approx(359.24)
    assert total.saving == pytest.approx(433.33)
    assert total.saving_pct == pytest.approx(100 * 433.33 / 752.57)
    assert total.unpriced_kwh == pytest.approx(1.0)
    assert list(report.by_station) == ["CP1", "CP2"]
    cp1 = report.by_station["CP1"]
    assert (cp1.sessions, cp1.compared) == (2, 1)
    assert cp1.saving == pytest.approx(-5.0)
    assert cp1.cost == pytest.approx(115.0)
    assert report.by_station["CP2"].saving == pytest.approx(438.33)


def test_units_are_checked() -> None:
    transaction = session(0, 0, 30, 1000)
    with pytest.raises(AccountingError, match="per kWh"):
        account_session(transaction, [], slots([10], "EUR/MWh"), CO2, 7.4)
    with pytest.raises(AccountingError, match="g/kWh"):
        account_session(transaction, [], PRICES, slots([1], "tCO2/kWh"), 7.4)
    with pytest.raises(AccountingError, match="positive"):
        charge_now(at(0), 1.0, 0.0)
    euro = replace(three_slot_account(), cost_unit="EUR")
    with pytest.raises(AccountingError, match="currencies"):
        savings_report([three_slot_account(), euro], at(0), at(60))


def test_no_rates_leaves_everything_unpriced() -> None:
    account = account_session(session(0, 0, 30, 1000), [], [], [], 2.0)
    assert (account.cost, account.unpriced_kwh, account.cost_unit) == (0, 1.0, None)
    assert account.saving is None and account.co2_saving_g is None


# --- properties --------------------------------------------------------------

_steps = st.lists(st.tuples(st.integers(1, 120), st.integers(0, 20_000)), min_size=1, max_size=30)
_signal = st.lists(
    st.tuples(st.integers(0, 3), st.integers(1, 90), st.floats(-50, 100)), max_size=40
)


def _rates(spec: list[tuple[int, int, float]]) -> list[Rate]:
    """Consecutive rates from T0 − 2 h with gaps of 0–3 × 15 minutes."""
    rates, moment = [], T0 - timedelta(hours=2)
    for gap, minutes, value in spec:
        start = moment + gap * timedelta(minutes=15)
        moment = start + timedelta(minutes=minutes)
        rates.append(Rate(start, moment, value, "p/kWh"))
    return rates


def _metered(steps: list[tuple[int, int]]) -> tuple[Transaction, list[StoredMeterValue]]:
    minute, register, samples = 0, 1000, []
    for gap, wh in steps:
        minute, register = minute + gap, register + wh
        samples.append(reading(minute, str(register)))
    return session(0, 1000, minute, register), samples[:-1]


@settings(max_examples=200, deadline=None)
@given(_steps, _signal)
def test_allocation_conserves_the_metered_energy(
    steps: list[tuple[int, int]], spec: list[tuple[int, int, float]]
) -> None:
    transaction, samples = _metered(steps)
    assert transaction.meter_stop is not None
    delta = (transaction.meter_stop - transaction.meter_start) / 1000
    metering = metered_intervals(transaction, samples)
    assert metering.energy_kwh == pytest.approx(delta)
    split = energy_by_slot(metering.intervals, _rates(spec))
    assert all(kwh >= 0 for kwh in split.kwh) and split.uncovered_kwh >= 0
    assert sum(split.kwh) + split.uncovered_kwh == pytest.approx(delta, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(_steps, _signal, st.lists(st.floats(0, 50), min_size=40, max_size=40))
def test_cost_is_monotone_in_prices(
    steps: list[tuple[int, int]], spec: list[tuple[int, int, float]], rises: list[float]
) -> None:
    transaction, samples = _metered(steps)
    rates = _rates(spec)
    higher = [
        replace(rate, value=rate.value + rise) for rate, rise in zip(rates, rises, strict=False)
    ]
    low = account_session(transaction, samples, rates, [], 7.4)
    high = account_session(transaction, samples, higher, [], 7.4)
    assert high.cost >= low.cost - 1e-9
    assert high.baseline_cost >= low.baseline_cost - 1e-9
    assert high.unpriced_kwh == low.unpriced_kwh


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.integers(0, 5000)), min_size=1, max_size=20))
def test_any_register_series_counts_no_negative_energy(steps: list[tuple[int, int]]) -> None:
    """Arbitrary registers (resets, glitches): every interval is non-negative
    and the total never exceeds the sum of the upward steps."""
    samples = [
        reading(sum(g for g, _ in steps[: i + 1]), str(wh)) for i, (_, wh) in enumerate(steps)
    ]
    metering = metered_intervals(session(0, 1000, None, None), samples)
    values = [1000] + [wh for _, wh in steps]
    upward = sum(max(0, b - a) for a, b in itertools.pairwise(values)) / 1000
    assert all(i.kwh >= 0 and i.end > i.start for i in metering.intervals)
    assert metering.energy_kwh <= upward + 1e-9
