"""The joint planner: caps hold in every slot, every feasible need is met, an
active slot is never ended early and short pauses are charged through."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from opencsms.domain.smart_charging.planner import CarPlan, ChargeRequest, Objective, Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import SitePlan, plan_site

T0 = datetime(2026, 1, 15, 16, tzinfo=UTC)
SLOT = timedelta(minutes=30)


def at(slots: float) -> datetime:
    return T0 + slots * SLOT


def series(values: list[float], unit: str, step: float = 1.0) -> list[Rate]:
    """Rates of ``step`` half-hours each from ``T0``."""
    return [Rate(at(i * step), at((i + 1) * step), v, unit) for i, v in enumerate(values)]


def assert_within_caps(result: SitePlan, caps: list[float], step: float = 1.0) -> None:
    for i, cap in enumerate(caps):
        drawn = sum(
            s.power_kw
            for plan in result.plans
            for s in plan.segments
            if s.start < at((i + 1) * step) and at(i * step) < s.end
        )
        assert drawn <= cap + 1e-6, f"slot {i}: {drawn} kW over the {cap} kW cap"


def can_all_be_met(
    cars: list[ChargeRequest],
    caps: list[float],
    lower: list[list[float]] | None = None,
    step: float = 1.0,
) -> bool:
    """An independent LP feasibility check: x[c, t] in [lower, power_c * h]
    while plugged in, per slot sum <= cap * h, per car sum == need (slots of
    ``step`` half-hours, ``h`` hours)."""
    hours = step / 2
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
                car.max_power_kw * hours
                if car.plug_in <= at(t * step) and at((t + 1) * step) <= car.departure
                else 0
            )
    result = linprog(
        np.zeros(n * m),
        A_ub=a_ub,
        b_ub=np.array(caps) * hours,
        A_eq=a_eq,
        b_eq=np.array([car.energy_kwh for car in cars]),
        bounds=list(zip(np.array(lower).ravel() if lower else np.zeros(n * m), upper, strict=True)),
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


QUARTER = timedelta(minutes=15)


def power_of(plan: CarPlan, start: datetime, end: datetime) -> float:
    """The car's power over ``[start, end)`` (its segments are constant there)."""
    return sum(s.power_kw for s in plan.segments if s.start < end and start < s.end)


def energy_until(plan: CarPlan, moment: datetime) -> float:
    return sum(
        Segment(s.start, min(s.end, moment), s.power_kw).energy_kwh
        for s in plan.segments
        if s.start < moment
    )


def test_an_active_car_keeps_charging_until_its_slot_ends() -> None:
    """Slot 0 is dear, but car A is charging in it now: it goes on until the
    slot ends, then takes the cheapest slot for the rest. B, not active,
    skips slot 0."""
    price = series([9.0, 5.0, 1.0, 2.0], "p/kWh")
    cap = [Rate(at(0), at(4), 14.0, "kW")]
    a = ChargeRequest("A", at(0), at(4), 7.0, 7.0)
    b = ChargeRequest("B", at(0), at(4), 7.0, 7.0)
    for method in ("auto", "greedy"):
        result = plan_site([a, b], price, [], cap, method=method, active_until={"A": at(1)})  # type: ignore[arg-type]
        plan_a, plan_b = result.plans
        assert plan_a.segments == (Segment(at(0), at(1), 7.0), Segment(at(2), at(3), 7.0))
        assert plan_b.segments == (Segment(at(2), at(4), 7.0),)
        assert plan_a.met and plan_b.met


def test_an_active_slot_ending_mid_slot_is_kept_to_the_minute_and_clipped_to_departure() -> None:
    price = series([9.0, 1.0], "p/kWh")
    car = ChargeRequest("A", at(0), at(2), 4.0, 2.0)
    result = plan_site([car], price, active_until={"A": at(0.5)})
    [plan] = result.plans
    assert plan.segments[0] == Segment(at(0), at(0.5), 4.0)
    assert abs(plan.energy_kwh - 2.0) < 1e-6
    short = ChargeRequest("B", at(0), at(1), 4.0, 2.0)  # departs before its slot would end
    [plan] = plan_site([short], price, active_until={"B": at(2)}).plans
    assert plan.segments == (Segment(at(0), at(1), 4.0),) and plan.met


def test_the_forced_energy_never_exceeds_the_need() -> None:
    """Active for two slots but only 1 kWh short: the car charges 1 kWh, at
    once (in slot 0, the dearer one), not 7 kWh."""
    price = series([9.0, 1.0], "p/kWh")
    car = ChargeRequest("A", at(0), at(2), 7.0, 1.0)
    for method in ("auto", "greedy"):
        [plan] = plan_site([car], price, method=method, active_until={"A": at(2)}).plans  # type: ignore[arg-type]
        assert abs(plan.energy_kwh - 1.0) < 1e-6
        assert plan.segments[0].start == at(0) and plan.segments[-1].end <= at(1)


def test_a_cap_below_the_active_cars_scales_them_down_and_stays_feasible() -> None:
    """An event drops the cap to 7 kW in slot 0 while two 11 kW cars charge:
    each keeps 3.5 kW there (the cap is the hard limit), and 0 kW leaves both
    paused; the plan is found, not infeasible."""
    price = series([1.0, 2.0, 3.0], "p/kWh")
    cars = [ChargeRequest(c, at(0), at(3), 11.0, 5.0) for c in ("A", "B")]
    active = {"A": at(1), "B": at(1)}
    for low in (7.0, 0.0):
        cap = [Rate(at(0), at(1), low, "kW"), Rate(at(1), at(3), 22.0, "kW")]
        for method in ("auto", "greedy"):
            result = plan_site(cars, price, [], cap, method=method, active_until=active)  # type: ignore[arg-type]
            assert result.method == ("lp" if method == "auto" else "greedy")
            for plan in result.plans:
                assert abs(power_of(plan, at(0), at(1)) - low / 2) < 0.01
                assert plan.met


def test_a_short_pause_is_charged_through() -> None:
    """Quarter-hour prices 1, 1, 9, 1, 1 and a need of four quarters: the
    cheapest plan pauses 15 minutes in the dear quarter; the plan charges
    through it (the energy comes off the earliest cheap quarter)."""
    price = [
        Rate(T0 + i * QUARTER, T0 + (i + 1) * QUARTER, v, "p/kWh")
        for i, v in enumerate([1.0, 1.0, 9.0, 1.0, 1.0])
    ]
    car = ChargeRequest("A", T0, T0 + 5 * QUARTER, 4.0, 4.0)
    for method in ("auto", "greedy"):
        [plan] = plan_site([car], price, method=method).plans  # type: ignore[arg-type]
        assert plan.segments == (Segment(T0 + QUARTER, T0 + 5 * QUARTER, 4.0),)
        assert plan.met


def test_a_short_pause_the_cap_forces_stays() -> None:
    price = [
        Rate(T0 + i * QUARTER, T0 + (i + 1) * QUARTER, v, "p/kWh")
        for i, v in enumerate([1.0, 1.0, 9.0, 1.0, 1.0])
    ]
    cap = [Rate(T0 + 2 * QUARTER, T0 + 3 * QUARTER, 0.0, "kW")]
    car = ChargeRequest("A", T0, T0 + 5 * QUARTER, 4.0, 4.0)
    [plan] = plan_site([car], price, [], cap).plans
    assert power_of(plan, T0 + 2 * QUARTER, T0 + 3 * QUARTER) == 0.0 and plan.met


def forced_lower_bounds(
    cars: list[ChargeRequest],
    caps: list[float],
    active: Mapping[str, datetime],
    step: float = 1.0,
) -> list[list[float]]:
    """The rule, written out per slot of ``step`` half-hours: an active car
    takes full power until its slot ends or its need is met; where active cars
    exceed the cap they share it in proportion."""
    hours = step / 2
    lower = [[0.0] * len(caps) for _ in cars]
    given = [0.0] * len(cars)
    for t, cap in enumerate(caps):
        want = [0.0] * len(cars)
        for c, car in enumerate(cars):
            until = active.get(car.car_id)
            if (
                until is not None
                and car.plug_in <= at(t * step)
                and at((t + 1) * step) <= min(until, car.departure)
            ):
                want[c] = min(car.max_power_kw * hours, car.energy_kwh - given[c])
        limit = cap * hours
        scale = limit / sum(want) if sum(want) > limit else 1.0
        for c in range(len(cars)):
            lower[c][t] = want[c] * scale
            given[c] += want[c] * scale
    return lower


@settings(max_examples=80, deadline=None)
@given(
    fleet=fleets,
    actives=st.lists(st.one_of(st.none(), st.integers(1, 12)), min_size=6, max_size=6),
    prices=st.lists(st.integers(0, 40), min_size=12, max_size=12),
    caps=st.lists(st.sampled_from([0.0, 3.7, 7.4, 11.0, 15.0, 30.0]), min_size=12, max_size=12),
    method=st.sampled_from(["auto", "greedy"]),
    step=st.sampled_from([1.0, 0.5]),
)
def test_active_cars_keep_their_power_unless_the_cap_is_full(
    fleet: list[tuple[int, int, float, float]],
    actives: list[int | None],
    prices: list[int],
    caps: list[float],
    method: str,
    step: float,
) -> None:
    """Random active slots (on the signals' grid of half-hours or quarters,
    so that the independent LP sees the same slots; quarters leave short
    pauses to charge through): caps hold, an active car charges at full power
    in each slot of its active slot unless the cap is full there or its need
    is met by the slot's end, and every need that can be met with those
    forced energies is met."""
    cars, active = [], {}
    for i, (arrive, stay, power, share) in enumerate(fleet):
        arrive = min(arrive, 11)
        leave = min(12, arrive + stay)
        need = round(share * power * (leave - arrive) * step / 2, 3)
        cars.append(ChargeRequest(f"c{i}", at(arrive * step), at(leave * step), power, need))
        chosen = actives[i]
        if chosen is not None:
            active[f"c{i}"] = at((arrive + chosen) * step)
    price = series([float(p) for p in prices], "p/kWh", step)
    cap_rates = series(caps, "kW", step)
    result = plan_site(cars, price, [], cap_rates, method=method, active_until=active)  # type: ignore[arg-type]
    assert_within_caps(result, caps, step)
    slack = 1e-6 if method == "auto" else 0.01 * len(cars) / step  # greedy works in whole Wh
    for t, cap in enumerate(caps):
        start, end = at(t * step), at((t + 1) * step)
        drawn = sum(power_of(plan, start, end) for plan in result.plans)
        for plan, car in zip(result.plans, cars, strict=True):
            until = active.get(car.car_id)
            if until is None or not (car.plug_in <= start and end <= min(until, car.departure)):
                continue
            assert (
                power_of(plan, start, end) >= car.max_power_kw - slack
                or drawn >= cap - slack
                or energy_until(plan, end) >= car.energy_kwh - slack
            ), (car.car_id, t)
    for plan, car in zip(result.plans, cars, strict=True):
        for segment in plan.segments:
            assert car.plug_in <= segment.start and segment.end <= car.departure
            assert segment.power_kw <= car.max_power_kw + 1e-6
        assert plan.energy_kwh <= car.energy_kwh + 1e-6
    if can_all_be_met(cars, caps, forced_lower_bounds(cars, caps, active, step), step):
        tolerance = 1e-6 if method == "auto" else 0.002 * len(cars) * 12
        for plan in result.plans:
            assert plan.shortfall_kwh <= tolerance, (plan.car_id, plan.shortfall_kwh)
