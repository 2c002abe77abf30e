"""The joint planner: caps hold in every slot and every feasible need is met."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from opencsms.domain.smart_charging.planner import ChargeRequest, Objective
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import SitePlan, plan_site

T0 = datetime(2026, 1, 15, 16, tzinfo=UTC)
SLOT = timedelta(minutes=30)


def at(slots: int) -> datetime:
    return T0 + slots * SLOT


def series(values: list[float], unit: str) -> list[Rate]:
    return [Rate(at(i), at(i + 1), v, unit) for i, v in enumerate(values)]


def assert_within_caps(result: SitePlan, caps: list[float]) -> None:
    for i, cap in enumerate(caps):
        drawn = sum(
            s.power_kw
            for plan in result.plans
            for s in plan.segments
            if s.start < at(i + 1) and at(i) < s.end
        )
        assert drawn <= cap + 1e-6, f"slot {i}: {drawn} kW over the {cap} kW cap"


def can_all_be_met(cars: list[ChargeRequest], caps: list[float]) -> bool:
    """An independent LP feasibility check: x[c, t] in [0, power_c / 2] while
    plugged in, per slot sum <= cap / 2, per car sum == need."""
    n, m = len(cars), len(caps)
    a_eq = np.zeros((n, n * m))
    a_ub = np.zeros((m, n * m))
    upper = np.zeros(n * m)
    for c, car in enumerate(cars):
        for t in range(m):
            k = c * m + t
            a_eq[c, k] = 1
            a_ub[t, k] = 1
            upper[k] = (
                car.max_power_kw / 2 if car.plug_in <= at(t) and at(t + 1) <= car.departure else 0
            )
    result = linprog(
        np.zeros(n * m),
        A_ub=a_ub,
        b_ub=np.array(caps) / 2,
        A_eq=a_eq,
        b_eq=np.array([car.energy_kwh for car in cars]),
        bounds=list(zip(np.zeros(n * m), upper, strict=True)),
        method="highs",
    )
    return bool(result.status == 0)


def test_a_tight_car_gets_the_cheap_slot_it_needs() -> None:
    """Cap 7 kW. Car A (plugged 0–1 slot) can only charge in slot 0; car B is
    flexible over 4 slots. Alone, B would take slot 0 (cheapest); jointly B
    leaves it to A and takes the next cheapest."""
    price = series([1.0, 5.0, 3.0, 9.0], "p/kWh")
    cap = [Rate(at(0), at(4), 7.0, "kW")]
    a = ChargeRequest("A", at(0), at(1), 7.0, 3.5)
    b = ChargeRequest("B", at(0), at(4), 7.0, 3.5)
    for method in ("auto", "greedy"):
        result = plan_site([a, b], price, [], cap, method=method)  # type: ignore[arg-type]
        plan_a, plan_b = result.plans
        assert plan_a.met and plan_b.met
        assert abs((plan_a.cost or 0) - 3.5) < 1e-6 and abs((plan_b.cost or 0) - 10.5) < 1e-6
        assert_within_caps(result, [7.0] * 4)
    assert plan_site([a, b], price, [], cap).method == "lp"


def test_greedy_fallback_repairs_what_earliest_deadline_first_would_miss() -> None:
    """Car A departs first but is flexible; B departs later but can only
    charge in slot 1. Earliest-deadline-first gives A the cheap slot 1 and
    starves B; the max-flow repair moves A to slot 0."""
    price = series([9.0, 1.0, 9.0], "p/kWh")
    cap = [Rate(at(0), at(3), 4.0, "kW")]
    a = ChargeRequest("A", at(0), at(2), 4.0, 2.0)
    b = ChargeRequest("B", at(1), at(3), 4.0, 4.0)  # both remaining slots full
    result = plan_site([a, b], price, [], cap, method="greedy")
    assert all(plan.met for plan in result.plans)
    assert_within_caps(result, [4.0] * 3)


def test_an_infeasible_site_minimises_the_total_shortfall() -> None:
    price = series([1.0, 2.0], "p/kWh")
    cap = [Rate(at(0), at(2), 4.0, "kW")]
    cars = [ChargeRequest(f"c{i}", at(0), at(2), 4.0, 3.0) for i in range(2)]
    for method in ("auto", "greedy"):
        result = plan_site(cars, price, [], cap, method=method)  # type: ignore[arg-type]
        assert abs(sum(p.shortfall_kwh for p in result.plans) - 2.0) < 1e-6
        assert_within_caps(result, [4.0] * 2)


def test_a_time_limit_of_zero_falls_back_to_greedy() -> None:
    price = series([1.0, 2.0], "p/kWh")
    result = plan_site([ChargeRequest("c", at(0), at(2), 4.0, 3.0)], price, time_limit_s=0.0)
    assert result.method == "greedy" and "time limit" in result.reason
    assert result.plans[0].met


fleets = st.lists(
    st.tuples(
        st.integers(0, 10),
        st.integers(1, 12),
        st.sampled_from([3.7, 7.4, 11.0]),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    fleet=fleets,
    prices=st.lists(st.integers(0, 40), min_size=12, max_size=12),
    caps=st.lists(st.sampled_from([0.0, 3.7, 7.4, 11.0, 15.0, 30.0]), min_size=12, max_size=12),
    method=st.sampled_from(["auto", "greedy"]),
)
def test_every_plan_respects_every_cap_and_meets_every_feasible_need(
    fleet: list[tuple[int, int, float, float]], prices: list[int], caps: list[float], method: str
) -> None:
    cars = []
    for i, (arrive, stay, power, share) in enumerate(fleet):
        leave = min(12, arrive + stay)
        if leave <= arrive:
            leave = arrive + 1 if arrive < 12 else 12
            arrive = min(arrive, 11)
        cars.append(
            ChargeRequest(
                f"c{i}",
                at(arrive),
                at(leave),
                power,
                round(share * power * (leave - arrive) / 2, 3),
            )
        )
    price = series([float(p) for p in prices], "p/kWh")
    cap = series(caps, "kW")
    result = plan_site(cars, price, [], cap, objective=Objective(), method=method)  # type: ignore[arg-type]
    assert_within_caps(result, caps)
    for plan, car in zip(result.plans, cars, strict=True):
        for segment in plan.segments:
            assert car.plug_in <= segment.start and segment.end <= car.departure
            assert segment.power_kw <= car.max_power_kw + 1e-6
        assert plan.energy_kwh <= car.energy_kwh + 1e-6
    if can_all_be_met(cars, caps):
        tolerance = 1e-6 if method == "auto" else 0.002 * len(cars) * 12  # greedy works in whole Wh
        for plan in result.plans:
            assert plan.shortfall_kwh <= tolerance, (plan.car_id, plan.shortfall_kwh)
