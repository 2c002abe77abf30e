"""The chart JSON builder: one time axis for steps and lines, values where
each series speaks, ``None`` outside it, never more than 500 points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.dashboard.pages.chart_series import MAX_POINTS, Series, Step, chart, thin

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_steps_hold_and_lines_interpolate_on_one_axis() -> None:
    line = Series("Drawn", "kW", points=[(at(0), 2.0), (at(20), 4.0)])
    plan = Series("Planned", "kW", steps=[Step(at(10), at(30), 7.0)], dash=True)
    document = chart([line, plan])
    assert document["series"] == [
        {"label": "Drawn", "unit": "kW", "stepped": False, "dash": False},
        {"label": "Planned", "unit": "kW", "stepped": True, "dash": True},
    ]
    times, drawn, planned = document["data"]
    assert times == [at(m).timestamp() for m in (0, 10, 20, 30)]
    assert drawn == [2.0, 3.0, 4.0, None]  # between readings: the line; after: nothing
    assert planned == [None, 7.0, 7.0, 7.0]  # before the plan: nothing; its end holds


def test_long_series_are_thinned_to_the_cap() -> None:
    readings = [(at(m), float(m)) for m in range(5000)]
    steps = [Step(at(30 * i), at(30 * i + 30), float(i)) for i in range(400)]
    document = chart([Series("a", "kW", points=readings), Series("b", "kW", steps=steps)])
    times = document["data"][0]
    assert len(times) <= MAX_POINTS and times == sorted(times)
    assert times[0] == T0.timestamp()
    assert all(len(column) == len(times) for column in document["data"])


def test_thin_keeps_both_ends() -> None:
    points = [(at(m), float(m)) for m in range(101)]
    kept = thin(points, 11)
    assert [v for _, v in kept] == [float(m) for m in range(0, 101, 10)]
    assert thin(points[:5], 11) == points[:5]


def test_no_series_is_an_empty_chart() -> None:
    assert chart([]) == {"series": [], "data": [[]]}


def test_a_plan_that_waits_shows_its_wait_as_zero_not_a_gap() -> None:
    from opencsms.dashboard.pages.sessions import _with_pauses
    from opencsms.domain.smart_charging.planner import Segment

    t0 = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    segments = [Segment(t0 + 3 * hour, t0 + 4 * hour, 7.4), Segment(t0 + hour, t0 + 2 * hour, 6.0)]
    assert _with_pauses(segments, t0) == [
        Step(t0, t0 + hour, 0.0),
        Step(t0 + hour, t0 + 2 * hour, 6.0),
        Step(t0 + 2 * hour, t0 + 3 * hour, 0.0),
        Step(t0 + 3 * hour, t0 + 4 * hour, 7.4),
    ]
    assert _with_pauses(segments[1:], t0 + hour) == [Step(t0 + hour, t0 + 2 * hour, 6.0)]
