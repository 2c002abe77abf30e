"""Verification: reading GetCompositeSchedule and comparing it with what we asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.profiles import ProfileOptions, default_profile, tx_profile
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import ConnectorTarget
from opencsms.domain.smart_charging.verification import (
    MAX_HORIZON,
    MIN_HORIZON,
    CompositeError,
    check_duration,
    composite_request,
    parse_composite,
    verify,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def reply(unit: str, *periods: tuple[int, float], duration: int = 3600) -> dict[str, object]:
    return {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2030-01-01T12:00:00Z",
        "chargingSchedule": {
            "duration": duration,
            "startSchedule": "2030-01-01T12:00:00Z",
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
        },
    }


def test_request_and_duration() -> None:
    assert composite_request(1, duration=3600, unit="W") == {
        "connectorId": 1,
        "duration": 3600,
        "chargingRateUnit": "W",
    }
    assert check_duration([Rate(NOW, at(10), 1.0, "kW")], NOW) == MIN_HORIZON
    steps = [Rate(NOW, at(120), 1.0, "kW"), Rate(at(120), at(9999), 0.0, "kW")]
    assert check_duration(steps, NOW) == 7260
    assert check_duration([Rate(at(5000), at(9999), 0.0, "kW")], NOW) == MAX_HORIZON


def test_parse_amps_and_watts_into_kw() -> None:
    steps = parse_composite(reply("A", (0, 16.0), (1800, 0.0)))
    assert [(r.start, r.end, round(r.value, 3)) for r in steps] == [
        (at(0), at(30), 11.04),
        (at(30), at(60), 0.0),
    ]
    watts = parse_composite(reply("W", (0, 7400.0)), phases=1)
    assert [(r.start, r.end, r.value) for r in watts] == [(at(0), at(60), 7.4)]
    one_phase = reply("A", (0, 16.0))
    one_phase["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 1  # type: ignore[index]
    assert parse_composite(one_phase)[0].value == pytest.approx(3.68)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"status": "Rejected"}, "Rejected"),
        ({"status": "Accepted"}, "no chargingSchedule"),
        ({"status": "Accepted", "chargingSchedule": {"chargingRateUnit": "A"}}, "scheduleStart"),
        ({**reply("A", (0, 1.0)), "scheduleStart": "yesterday"}, "bad scheduleStart"),
        ({**reply("kW", (0, 1.0))}, "unit"),
        ({**reply("A"), "chargingSchedule": {"chargingRateUnit": "A"}}, "no periods"),
    ],
)
def test_unreadable_replies(bad: dict[str, object], match: str) -> None:
    with pytest.raises(CompositeError, match=match):
        parse_composite(bad)


def test_verified_when_the_station_applies_what_we_asked_or_less() -> None:
    plan = ConnectorTarget(1, 7, at(-5), (Segment(at(0), at(30), 11.04),))
    built = tx_profile(plan, now=NOW, options=ProfileOptions())
    exact = parse_composite(reply("A", (0, 16.0), (1800, 0.0)))
    assert verify(built.limits_kw, exact, tolerance_kw=0.3).ok
    lower = parse_composite(reply("A", (0, 10.0), (1800, 0.0)))
    assert verify(built.limits_kw, lower, tolerance_kw=0.3).ok
    within_tolerance = parse_composite(reply("A", (0, 16.3), (1800, 0.0)))
    assert verify(built.limits_kw, within_tolerance, tolerance_kw=0.3).ok


def test_not_verified_when_the_station_allows_more() -> None:
    built = default_profile(7.0, now=NOW, options=ProfileOptions())
    ignored = parse_composite(reply("A", (0, 32.0)))
    verdict = verify(built.limits_kw, ignored, tolerance_kw=0.3)
    assert not verdict.ok
    assert verdict.detail == (
        "at 2030-01-01T12:00:00+00:00 the station allows 22.08 kW, we asked 6.97 kW"
    )
    plan = ConnectorTarget(1, 7, at(-5), (Segment(at(0), at(30), 11.04),))
    built = tx_profile(plan, now=NOW, options=ProfileOptions())
    late_drop = parse_composite(reply("A", (0, 16.0), (2400, 0.0)))  # still 16 A at 30'
    assert not verify(built.limits_kw, late_drop, tolerance_kw=0.3).ok


def test_station_clock_a_little_behind_is_not_held_against_it() -> None:
    built = default_profile(7.0, now=at(1), options=ProfileOptions())
    composite = parse_composite(reply("A", (0, 32.0), (60, 10.1)))
    assert verify(built.limits_kw, composite, tolerance_kw=0.3).ok
    assert not verify(built.limits_kw, (), tolerance_kw=0.3).ok
    before_ours = parse_composite(reply("A", (0, 32.0), duration=30))
    assert verify(built.limits_kw, before_ours, tolerance_kw=0.3).detail == (
        "the composite schedule does not cover the profile"
    )


def test_not_verified_when_the_station_delivers_clearly_less_than_it_could() -> None:
    """Bug (e2e): a dropped update while an older profile of ours holds the
    connector at 0 passed as "at or under what was asked". Asked 11.04 kW for
    the first 30', the composite says 0 there and 16 A later: the station
    could deliver it (its ceiling is 16 A), so the profile is not in effect."""
    plan = ConnectorTarget(
        1, 7, at(-5), (Segment(at(0), at(30), 11.04), Segment(at(40), at(60), 11.04))
    )
    built = tx_profile(plan, now=NOW, options=ProfileOptions())
    older = parse_composite(reply("A", (0, 0.0), (2400, 16.0), (3600, 0.0), duration=3700))
    verdict = verify(built.limits_kw, older, tolerance_kw=0.3)
    assert not verdict.ok
    assert verdict.detail == (
        "at 2030-01-01T12:00:00+00:00 the station allows 0.00 kW, "
        "we asked 11.04 kW and it could deliver 11.04 kW"
    )
    assert verify(built.limits_kw, older, tolerance_kw=0.3, under=False).ok


def test_under_delivery_allows_the_station_ceiling_and_our_other_bounds() -> None:
    plan = ConnectorTarget(1, 7, at(-5), (Segment(at(0), at(30), 22.08),))
    built = tx_profile(plan, now=NOW, options=ProfileOptions())
    hardware = parse_composite(reply("A", (0, 16.0), (1800, 0.0)))  # a 16 A station
    assert verify(built.limits_kw, hardware, tolerance_kw=0.3).ok
    capped = parse_composite(reply("A", (0, 32.0), (600, 10.0), (1800, 0.0)))
    cap = (Rate(at(0), at(10), 30.0, "kW"), Rate(at(10), at(600), 6.9, "kW"))
    assert verify(built.limits_kw, capped, tolerance_kw=0.3, bounds=[cap]).ok
    assert not verify(built.limits_kw, capped, tolerance_kw=0.3).ok
    everything_off = parse_composite(reply("A", (0, 0.0)))  # cannot be told from "off"
    assert verify(built.limits_kw, everything_off, tolerance_kw=0.3).ok
