"""Plans a charger can be told, and re-plans that stay where they were: the
site LP's sliver repair (``floor_kw``) and its closest-to-previous phase
(``previous``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencsms.domain.smart_charging.planner import ChargeRequest, Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import SitePlan, plan_site

T0 = datetime(2027, 1, 11, 16, tzinfo=UTC)
SLOT = timedelta(minutes=30)
FLOOR_KW = 6 * 230 * 3 / 1000  # 6 A on three phases
# the e2e night's prices: an evening peak and a cheap small-hours valley
PRICES = [
    28.1, 31.5, 35.2, 38.9, 37.4, 33.0, 27.6, 24.3, 22.8, 21.0, 19.7, 18.2,
    17.5, 16.9, 15.8, 14.2, 13.1, 12.6, 12.0, 11.4, 11.9, 12.8, 13.6, 14.9,
    15.5, 16.8, 18.3, 20.9, 23.4, 25.0,
]  # fmt: skip


def at(slots: float) -> datetime:
    return T0 + slots * SLOT


def series(values: list[float], unit: str) -> list[Rate]:
    return [Rate(at(i), at(i + 1), v, unit) for i, v in enumerate(values)]


def night(cars: int = 20) -> list[ChargeRequest]:
    """The e2e's shape: cars of 7.383 and 10.971 kW (what 16 A at one decimal
    gives), arriving 17:00-17:40, leaving 01:30-03:00, needing 4-12 kWh."""
    return [
        ChargeRequest(
            f"c{i}",
            at(2) + timedelta(minutes=2 * i),
            at(19) + timedelta(minutes=(i * 7) % 90),
            7.383 if i % 3 else 10.971,
            4.0 + (7 * i) % 9,
        )
        for i in range(cars)
    ]


def untellable(result: SitePlan) -> list[tuple[str, datetime]]:
    """(car, slot start) of every car planned under the floor in a slot of the
    plan where the others leave it no room to be told at the floor for a
    shorter time (what :func:`~opencsms.domain.smart_charging.live_plan.tellable`
    does)."""
    found = []
    for slot, cap_kw in zip(result.slots, result.cap_kw, strict=True):
        powers = {
            plan.car_id: sum(
                s.power_kw for s in plan.segments if s.start < slot.end and slot.start < s.end
            )
            for plan in result.plans
        }
        total = sum(powers.values())
        for car, kw in powers.items():
            if 1e-6 < kw < FLOOR_KW - 1e-6 and cap_kw - (total - kw) < FLOOR_KW - 1e-6:
                found.append((car, slot.start))
    return found


def total_cost(result: SitePlan) -> float:
    return sum(plan.cost or 0.0 for plan in result.plans)


def test_a_full_valley_leaves_no_car_under_6_a() -> None:
    """The LP alone fills full slots with cars at their maximum and gives the
    remainder to one car (under 6 A: it would draw 0). With the floor, none is
    left under it, every need is still met, and the cost rises a little (3.2 %
    here: a dropped remainder's energy moves to a dearer slot) over an LP
    optimum no charger could have followed."""
    cars, price, cap = night(), series(PRICES, "p/kWh"), series([45.0] * len(PRICES), "kW")
    plain = plan_site(cars, price, [], cap)
    assert untellable(plain)  # the problem exists
    repaired = plan_site(cars, price, [], cap, floor_kw=FLOOR_KW)
    assert repaired.method == "lp"
    assert untellable(repaired) == []
    for plan, car in zip(repaired.plans, cars, strict=True):
        assert plan.shortfall_kwh == 0
        assert plan.energy_kwh == pytest.approx(car.energy_kwh, abs=1e-6)
    assert total_cost(repaired) <= total_cost(plain) * 1.05


@settings(max_examples=40, deadline=None)
@given(
    cars=st.lists(
        st.tuples(
            st.integers(0, 8),  # arrival slot
            st.integers(2, 12),  # slots plugged in
            st.sampled_from([7.383, 10.971, 22.0]),
            st.floats(0.1, 0.9),  # share of what full power could give
        ),
        min_size=2,
        max_size=8,
    ),
    cap_kw=st.sampled_from([11.0, 15.0, 22.0, 30.0]),
)
def test_the_repair_never_leaves_a_car_shorter_nor_breaks_a_cap(
    cars: list[tuple[int, int, float, float]], cap_kw: float
) -> None:
    requests = [
        ChargeRequest(
            f"c{i}",
            at(arrive),
            at(min(arrive + stay, 14)),
            power,
            round(share * power * (min(arrive + stay, 14) - arrive) / 2, 3),
        )
        for i, (arrive, stay, power, share) in enumerate(cars)
    ]
    price, cap = series(PRICES[:14], "p/kWh"), series([cap_kw] * 14, "kW")
    plain = plan_site(requests, price, [], cap)
    repaired = plan_site(requests, price, [], cap, floor_kw=FLOOR_KW)
    assert sum(p.shortfall_kwh for p in repaired.plans) <= (
        sum(p.shortfall_kwh for p in plain.plans) + 1e-3
    )
    for i in range(14):
        drawn = sum(
            s.power_kw
            for plan in repaired.plans
            for s in plan.segments
            if s.start < at(i + 1) and at(i) < s.end
        )
        assert drawn <= cap_kw + 1e-6
    for plan, request in zip(repaired.plans, requests, strict=True):
        for s in plan.segments:
            assert request.plug_in <= s.start and s.end <= request.departure
            assert s.power_kw <= request.max_power_kw + 1e-6


def test_among_equal_cost_plans_a_re_plan_keeps_the_previous_one() -> None:
    """Two cars, two equally priced slots, a cap that fits one car at a time:
    either car may take either slot. A re-plan keeps whichever way the cars
    were planned, both ways round (a full LP flipped them every minute)."""
    price = series([10.0, 10.0, 30.0], "p/kWh")
    cap = series([7.4, 7.4, 7.4], "kW")
    cars = [ChargeRequest(c, at(0), at(3), 7.4, 3.7) for c in ("a", "b")]
    for first, second in (("a", "b"), ("b", "a")):
        previous = {
            first: [Segment(at(0), at(1), 7.4)],
            second: [Segment(at(1), at(2), 7.4)],
        }
        result = plan_site(cars, price, [], cap, previous=previous)
        by_car = {plan.car_id: list(plan.segments) for plan in result.plans}
        assert by_car == previous


def test_an_active_car_keeps_the_power_it_charges_at_not_its_full_power() -> None:
    """A re-plan keeps an active car charging to the end of its slot at the
    power it has (``active_kw``), so a car due earlier still gets the rest
    of the cap: forced to full power, the active car took 11 of 15 kW and
    the car due at the slot's end could not be served (e2e at 01:45)."""
    price = series([10.0, 30.0, 30.0], "p/kWh")
    cap = series([15.0, 15.0, 15.0], "kW")
    active = ChargeRequest("active", at(0), at(3), 11.0, 6.0)
    due = ChargeRequest("due", at(0), at(1), 11.0, 5.5)  # 11 kW for the whole first slot
    until = {"active": at(1)}
    squeezed = plan_site([active, due], price, [], cap, active_until=until)
    assert squeezed.plans[1].shortfall_kwh > 1.0  # full power for the active car
    kept = plan_site([active, due], price, [], cap, active_until=until, active_kw={"active": 4.0})
    assert [p.shortfall_kwh for p in kept.plans] == [0.0, 0.0]
    first = [s for s in kept.plans[0].segments if s.start < at(1)]
    assert [(s.start, s.end, round(s.power_kw, 6)) for s in first] == [(at(0), at(1), 4.0)]


def test_two_slivers_of_a_slot_become_one_car_at_6_a() -> None:
    """A slot with 4.14 kW left that two cars must share as 3.3 and 0.84 kW
    (both sent as 0: e2e at 01:45, a car ended 0.8 kWh short): one car
    takes the whole floor, the other finds its 0.84 kW in a later slot."""
    price = series([10.0, 10.0, 20.0], "p/kWh")
    cap = series([FLOOR_KW, 2 * FLOOR_KW, FLOOR_KW], "kW")
    hour = FLOOR_KW / 2  # kWh at the floor in a slot
    cars = [
        # leaves after slot 1: must take 3.3 kW of slot 0
        ChargeRequest("s", at(0), at(2), FLOOR_KW, hour + 3.3 / 2),
        # can wait for slot 2, but slot 0 is cheaper: the LP gives it the 0.84 kW left
        ChargeRequest("a", at(0), at(3), FLOOR_KW, hour + 0.84 / 2),
    ]
    plain = plan_site(cars, price, [], cap)
    assert sorted(untellable(plain)) == [("a", at(0)), ("s", at(0))]
    repaired = plan_site(cars, price, [], cap, floor_kw=FLOOR_KW)
    assert untellable(repaired) == []
    assert [p.shortfall_kwh for p in repaired.plans] == [0.0, 0.0]
    by_car = {
        plan.car_id: [(s.start, s.end, round(s.power_kw, 3)) for s in plan.segments]
        for plan in repaired.plans
    }
    # s's 3.3 kW in slot 1 has room beside a's 4.14 there: told at 6 A, shorter
    assert by_car["s"] == [(at(0), at(1), round(FLOOR_KW, 3)), (at(1), at(2), 3.3)]
    assert by_car["a"] == [(at(1), at(2), round(FLOOR_KW, 3)), (at(2), at(3), 0.84)]
