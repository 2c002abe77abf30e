"""Rates normalised into a signal: sorted UTC, no overlaps, one unit, gaps kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from opencsms.domain.smart_charging.rates import (
    Rate,
    RateError,
    covered_until,
    normalise,
    rate_at,
)

T0 = datetime(2026, 1, 1, 16, tzinfo=UTC)
HALF = timedelta(minutes=30)


def slot(n: int, value: float, unit: str = "p/kWh") -> Rate:
    return Rate(T0 + n * HALF, T0 + (n + 1) * HALF, value, unit)


def test_sorted_to_utc_and_duplicates_from_page_edges_dropped() -> None:
    cet = timezone(timedelta(hours=1))
    shifted = Rate(slot(1, 20).start.astimezone(cet), slot(1, 20).end.astimezone(cet), 20, "p/kWh")
    rates = normalise([slot(2, 30), shifted, slot(0, 10), slot(2, 30)])
    assert rates == [slot(0, 10), slot(1, 20), slot(2, 30)]
    assert all(rate.start.tzinfo is UTC for rate in rates)


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ([Rate(T0.replace(tzinfo=None), T0 + HALF, 1, "p/kWh")], "no time zone"),
        ([Rate(T0, T0, 1, "p/kWh")], "ends before it starts"),
        ([slot(0, 1), slot(1, 1, "gCO2/kWh")], "mixed units"),
        ([slot(0, 1), Rate(T0 + HALF / 2, T0 + 2 * HALF, 2, "p/kWh")], "overlap"),
        ([slot(0, 1), slot(0, 2)], "overlap"),
    ],
)
def test_what_cannot_form_a_signal_is_refused_with_a_reason(
    rates: list[Rate], message: str
) -> None:
    with pytest.raises(RateError, match=message):
        normalise(rates)


def test_rate_at_and_coverage_stop_at_gaps() -> None:
    rates = normalise([slot(0, 10), slot(1, 20), slot(3, 40)])  # slot 2 missing
    assert rate_at(rates, T0) == slot(0, 10)
    assert rate_at(rates, T0 + HALF - timedelta(seconds=1)) == slot(0, 10)
    assert rate_at(rates, T0 + HALF) == slot(1, 20)  # intervals are half-open
    assert rate_at(rates, T0 + 2 * HALF) is None  # in the gap
    assert rate_at(rates, T0 - HALF) is None
    assert covered_until(rates, T0 + HALF / 2) == T0 + 2 * HALF
    assert covered_until(rates, T0 + 2 * HALF) == T0 + 2 * HALF  # nothing covered
    assert covered_until(rates, T0 + 3 * HALF) == T0 + 4 * HALF
