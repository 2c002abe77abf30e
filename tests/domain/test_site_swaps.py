"""A re-planned car's sliver under 6 A lifted by a swap with a kept plan
(e2e: KEBA-02 planned 4.07 kW in what the others left, sent as 0, ended
0.2 kWh short)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.site_swaps import Kept, swap_slivers

T0 = datetime(2027, 1, 12, 2, 15, tzinfo=UTC)
Q = timedelta(minutes=15)
FLOOR_KW = 4.14


def seg(quarter: int, quarters: int, kw: float) -> Segment:
    return Segment(T0 + quarter * Q, T0 + (quarter + quarters) * Q, kw)


def energy(segments: list[Segment]) -> float:
    return sum(s.energy_kwh for s in segments)


def power_at(segments: list[Segment], at: datetime) -> float:
    return sum(s.power_kw for s in segments if s.start <= at < s.end)


def test_a_kept_car_lends_the_gap_and_takes_it_back_later() -> None:
    mine = [seg(0, 1, 4.074), seg(1, 1, 7.383)]
    kept = [Kept((seg(0, 2, 7.0),), max_power_kw=7.4)]
    lifted, changed = swap_slivers(mine, kept, FLOOR_KW)
    assert [(s.start, s.end, round(s.power_kw, 3)) for s in lifted] == [
        (T0, T0 + Q, 4.14),
        (T0 + Q, T0 + 2 * Q, 7.317),
    ]
    [theirs] = changed.values()
    assert [(s.start, s.end, round(s.power_kw, 3)) for s in theirs] == [
        (T0, T0 + Q, 6.934),
        (T0 + Q, T0 + 2 * Q, 7.066),
    ]
    # each car's energy and the site's power at every moment are unchanged
    assert energy(lifted) == pytest.approx(energy(mine))
    assert energy(theirs) == pytest.approx(energy(list(kept[0].segments)))
    for at in (T0, T0 + Q):
        before = power_at(mine, at) + power_at(list(kept[0].segments), at)
        assert power_at(lifted, at) + power_at(theirs, at) == pytest.approx(before)


@pytest.mark.parametrize(
    ("kept", "why"),
    [
        (Kept((seg(0, 2, 4.15),), max_power_kw=7.4), "the kept car would fall under 6 A"),
        (Kept((seg(0, 2, 7.4),), max_power_kw=7.4), "the kept car has nothing to spare later"),
        (Kept((seg(0, 1, 7.0),), max_power_kw=7.4), "the kept car does not charge later"),
    ],
)
def test_no_swap_where_the_kept_car_cannot_take_part(kept: Kept, why: str) -> None:
    mine = [seg(0, 1, 4.074), seg(1, 1, 7.383)]
    lifted, changed = swap_slivers(mine, [kept], FLOOR_KW)
    assert (lifted, changed) == (mine, {}), why


def test_no_swap_where_the_sliver_car_has_nothing_to_give_back() -> None:
    """Its only other charge is at the floor: giving there would make a new sliver."""
    mine = [seg(0, 1, 4.074), seg(1, 1, 4.14)]
    kept = [Kept((seg(0, 2, 7.0),), max_power_kw=7.4)]
    assert swap_slivers(mine, kept, FLOOR_KW) == (mine, {})
