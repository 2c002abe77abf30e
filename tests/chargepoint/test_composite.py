"""Composite schedule against hand-worked OCPP 1.6 cases.

Every case states the arithmetic it expects; "now" is a Monday 17:30 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opencsms.chargepoint.composite import composite_schedule, convert
from opencsms.chargepoint.smart_charging import (
    ChargingProfile,
    InstalledProfile,
    SchedulePeriod,
)

NOW = datetime(2025, 1, 6, 17, 30, tzinfo=UTC)


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    stack: int = 0,
    kind: str = "Relative",
    unit: str = "A",
    start: datetime | None = None,
    duration: int | None = None,
    recurrency: str | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    tx: int | None = None,
) -> ChargingProfile:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p[0], "limit": p[1], **({"numberPhases": p[2]} if len(p) > 2 else {})}
            for p in periods
        ],
    }
    if start is not None:
        schedule["startSchedule"] = start.isoformat()
    if duration is not None:
        schedule["duration"] = duration
    data: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency:
        data["recurrencyKind"] = recurrency
    if valid_from:
        data["validFrom"] = valid_from.isoformat()
    if valid_to:
        data["validTo"] = valid_to.isoformat()
    if tx is not None:
        data["transactionId"] = tx
    return ChargingProfile.from_payload(data)


def compose(
    *installed: tuple[int, ChargingProfile],
    unit: str = "A",
    duration: int = 7200,
    phases: int = 3,
    max_limit: float = 32.0,
    tx_start: datetime | None = NOW,
    connector: int = 1,
) -> list[tuple[int, float]]:
    periods = composite_schedule(
        [InstalledProfile(c, p) for c, p in installed],
        connector_id=connector,
        start=NOW,
        duration=duration,
        unit=unit,
        phases=phases,
        voltage=230.0,
        max_limit=max_limit,
        tx_start=tx_start,
        transaction_id=7,
    )
    return [(p.start, p.limit) for p in periods]


def test_no_profile_gives_the_hardware_limit() -> None:
    assert compose() == [(0, 32.0)]


def test_higher_stack_level_wins_while_it_runs() -> None:
    # stack 0: 20 A always; stack 1: 10 A from 18:00 for one hour.
    # 17:30-18:00 -> 20 A (offset 0); 18:00-19:00 -> 10 A (offset 1800);
    # 19:00 on -> back to 20 A (offset 5400).
    base = profile(1, "TxDefaultProfile", [(0, 20)])
    evening = profile(
        2,
        "TxDefaultProfile",
        [(0, 10)],
        stack=1,
        kind="Absolute",
        start=NOW.replace(hour=18, minute=0),
        duration=3600,
    )
    assert compose((0, base), (0, evening)) == [(0, 20.0), (1800, 10.0), (5400, 20.0)]


def test_validity_window_ends_a_higher_stack() -> None:
    # stack 2 at 8 A is valid until 17:40 (600 s), then stack 1 at 16 A applies.
    low = profile(1, "TxDefaultProfile", [(0, 16)], stack=1)
    high = profile(2, "TxDefaultProfile", [(0, 8)], stack=2, valid_to=NOW + timedelta(seconds=600))
    assert compose((1, low), (1, high)) == [(0, 8.0), (600, 16.0)]


def test_tx_profile_overrides_tx_default_whatever_the_stack() -> None:
    # TxDefault at stack 5 says 16 A; the TxProfile (stack 0) says 20 A, then 8 A after 600 s.
    default = profile(1, "TxDefaultProfile", [(0, 16)], stack=5)
    tx = profile(2, "TxProfile", [(0, 20), (600, 8)], tx=7)
    assert compose((0, default), (1, tx)) == [(0, 20.0), (600, 8.0)]


def test_tx_profile_ignored_without_transaction() -> None:
    default = profile(1, "TxDefaultProfile", [(0, 16)])
    tx = profile(2, "TxProfile", [(0, 20)])
    assert compose((0, default), (1, tx), tx_start=None) == [(0, 16.0)]


def test_charge_point_max_caps_the_transaction() -> None:
    # Tx wants 20 A; from 18:30 (offset 3600) the station-wide cap is 12 A -> min = 12 A.
    cap = profile(
        1, "ChargePointMaxProfile", [(0, 12)], kind="Absolute", start=NOW + timedelta(hours=1)
    )
    tx = profile(2, "TxProfile", [(0, 20)])
    assert compose((0, cap), (1, tx)) == [(0, 20.0), (3600, 12.0)]


def test_connector_zero_reports_only_the_station_cap() -> None:
    cap = profile(1, "ChargePointMaxProfile", [(0, 25)])
    tx = profile(2, "TxProfile", [(0, 10)])
    assert compose((0, cap), (1, tx), connector=0) == [(0, 25.0)]


def test_recurring_daily_night_tariff() -> None:
    # Daily from 2025-01-01 22:00: 32 A for 8 h (until 06:00), then 10 A, duration 24 h.
    # At 17:30 the instance of 01-05 22:00 is 19.5 h in -> 10 A.
    # 22:00 (offset 4.5 h = 16200 s) -> 32 A; 06:00 (offset 12.5 h = 45000 s) -> 10 A.
    night = profile(
        1,
        "TxDefaultProfile",
        [(0, 32), (28800, 10)],
        kind="Recurring",
        recurrency="Daily",
        start=datetime(2025, 1, 1, 22, tzinfo=UTC),
        duration=86400,
    )
    assert compose((0, night), duration=86400) == [(0, 10.0), (16200, 32.0), (45000, 10.0)]


def test_recurring_weekly() -> None:
    # Weekly from Monday 2024-12-30 00:00: 6 A for the first 18 h of the week, then 16 A.
    # Now is Monday 17:30 -> 6 A; at 18:00 (1800 s) -> 16 A.
    weekly = profile(
        1,
        "TxDefaultProfile",
        [(0, 6), (64800, 16)],
        kind="Recurring",
        recurrency="Weekly",
        start=datetime(2024, 12, 30, tzinfo=UTC),
    )
    assert compose((0, weekly), duration=3600) == [(0, 6.0), (1800, 16.0)]


def test_relative_counts_from_transaction_start() -> None:
    # Relative: 16 A for the first hour of the transaction, then 32 A.
    # The transaction began 30 min ago -> 16 A for 1800 s more, then 32 A.
    ramp = profile(1, "TxProfile", [(0, 16), (3600, 32)])
    assert compose((1, ramp), tx_start=NOW - timedelta(minutes=30)) == [(0, 16.0), (1800, 32.0)]


def test_power_profile_converted_to_current() -> None:
    # 11040 W / (230 V * 3 phases) = 16 A.
    tx = profile(1, "TxProfile", [(0, 11040)], unit="W")
    assert compose((1, tx)) == [(0, 16.0)]


def test_number_phases_in_the_conversion() -> None:
    # 3680 W on one phase: 3680 / 230 = 16 A per phase.
    tx = profile(1, "TxProfile", [(0, 3680, 1)], unit="W")
    assert compose((1, tx)) == [(0, 16.0)]
    # a single-phase station: 7360 W / 230 V = 32 A, whatever the default 3 phases says.
    tx = profile(1, "TxProfile", [(0, 7360)], unit="W")
    assert compose((1, tx), phases=1) == [(0, 32.0)]


def test_current_profile_reported_in_watts() -> None:
    # 16 A * 230 V * 3 = 11040 W; cap of the hardware 32 A = 22080 W.
    tx = profile(1, "TxProfile", [(0, 16)])
    assert compose((1, tx), unit="W", max_limit=22080.0) == [(0, 11040.0)]


def test_min_across_units_rounds_down() -> None:
    # Station cap 7000 W = 7000 / 690 = 10.144... A; Tx 16 A -> min = 10.1 A (rounded down).
    cap = profile(1, "ChargePointMaxProfile", [(0, 7000)], unit="W")
    tx = profile(2, "TxProfile", [(0, 16)])
    assert compose((0, cap), (1, tx)) == [(0, 10.1)]


def test_absolute_schedule_not_yet_started_and_duration_over() -> None:
    # Absolute from 18:00 for 30 min at 0 A: nothing before, 0 A 18:00-18:30, nothing after.
    pause = profile(
        1,
        "TxDefaultProfile",
        [(0, 0)],
        kind="Absolute",
        start=NOW.replace(hour=18, minute=0),
        duration=1800,
    )
    assert compose((1, pause)) == [(0, 32.0), (1800, 0.0), (3600, 32.0)]


@pytest.mark.parametrize(
    ("limit", "frm", "to", "expected"),
    [
        (16, "A", "W", 11040.0),
        (11040, "W", "A", 16.0),
        (10, "A", "A", 10.0),
    ],
)
def test_convert(limit: float, frm: str, to: str, expected: float) -> None:
    assert convert(limit, frm, to, phases=3, voltage=230.0) == pytest.approx(expected)


def test_schedule_period_dataclass_roundtrip() -> None:
    p = profile(3, "TxProfile", [(0, 10.5), (60, 0)], tx=5)
    assert ChargingProfile.from_payload(p.to_payload()) == p
    assert p.schedule.periods[1] == SchedulePeriod(60, 0.0)
