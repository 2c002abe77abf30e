"""The single-car planner: the golden case F1, the issue-5 rules, greedy == LP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from opencsms.domain.smart_charging.planner import (
    ChargeRequest,
    Objective,
    Segment,
    plan_car,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import plan_site

T0 = datetime(2026, 1, 15, 16, tzinfo=UTC)
# fmt: off
F1_PRICE = [28.1, 31.5, 35.2, 38.9, 37.4, 33.0, 27.6, 24.3, 22.8, 21.0,
            19.7, 18.2, 17.5, 16.9, 15.8, 14.2, 13.1, 12.6, 12.0, 11.4,
            11.9, 12.8, 13.6, 14.9, 15.5, 16.8, 18.3, 20.9, 23.4, 25.0]
F1_CO2 = [231, 245, 262, 270, 258, 240, 221, 205, 190, 176, 165, 152, 140, 131, 125,
          118, 112, 108, 104, 101, 99, 103, 110, 121, 134, 150, 168, 187, 204, 215]
# fmt: on


def series(values: list[float], unit: str, minutes: int = 30, start: datetime = T0) -> list[Rate]:
    step = timedelta(minutes=minutes)
    return [Rate(start + i * step, start + (i + 1) * step, v, unit) for i, v in enumerate(values)]


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


F1 = ChargeRequest("F1", T0, at(15), 7.4, 20.0)
PRICE, CO2 = series(F1_PRICE, "p/kWh"), series([float(v) for v in F1_CO2], "gCO2/kWh")


def test_f1_price_plan_costs_244_24_p_against_682_57_p() -> None:
    """By hand: a half-hour at 7.4 kW is 3.7 kWh; 20 kWh = 5 full slots + 1.5 kWh.

    Cheapest five (slot i starts 16:00 + 30i min): 11.4 (01:30), 11.9 (02:00),
    12.0 (01:00), 12.6 (00:30), 12.8 (02:30) = 60.7 p × 3.7 = 224.59 p, one run
    00:30–03:00. The sixth cheapest is 13.1 (00:00–00:30), right before the
    run: 1.5 kWh × 13.1 = 19.65 p, placed at the slot's end. Total 244.24 p.
    Charge now: 16:00–18:30 full, 28.1+31.5+35.2+38.9+37.4 = 171.1 × 3.7 =
    633.07 p, plus 1.5 kWh at 33.0 = 49.5 p: 682.57 p; saving 1 − 244.24 /
    682.57 = 64.2 %. The partial 1.5 kWh lasts 12.2 min at 7.4 kW, below the
    15-minute control interval, so it runs 00:15–00:30 at 6.0 kW (same energy,
    same price)."""
    plan = plan_car(F1, PRICE, CO2)
    assert round(plan.cost or 0, 2) == 244.24
    assert abs((plan.cost or 0) - 244.24) < 1e-6
    assert abs((plan.baseline_cost or 0) - 682.57) < 1e-6
    assert round(100 * (1 - (plan.cost or 0) / (plan.baseline_cost or 1)), 1) == 64.2
    assert plan.met and not plan.charge_now
    assert abs(plan.energy_kwh - 20.0) < 1e-9
    assert plan.segments == (
        Segment(at(8.25), at(8.5), plan.segments[0].power_kw),
        Segment(at(8.5), at(11), 7.4),
    )
    assert abs(plan.segments[0].power_kw - 6.0) < 1e-9


def test_f1_co2_plan_emits_2070_5_g_against_5044_2_g() -> None:
    """By hand: lowest five CO2 slots 99 (02:00), 101 (01:30), 103 (02:30), 104
    (01:00), 108 (00:30) = 515 × 3.7 = 1,905.5 g; the next lowest is 110 (03:00,
    right after the run; 112 at 00:00 is heavier): 1.5 × 110 = 165 g. Total
    2,070.5 g — the optimum, which the issue prints rounded as "at most 2,070
    g" (no plan can emit less: this is the fractional-knapsack optimum, and the
    LP agrees). Charge now: (231+245+262+270+258) × 3.7 = 4,684.2 g + 1.5 ×
    240 = 360 g: 5,044.2 g ("5,044 g")."""
    plan = plan_car(F1, PRICE, CO2, objective=Objective("co2"))
    assert abs((plan.co2_g or 0) - 2070.5) < 1e-6
    assert abs((plan.baseline_co2_g or 0) - 5044.2) < 1e-6
    assert plan.segments[0] == Segment(at(8.5), at(11), 7.4)
    assert plan.segments[1].start == at(11) and plan.segments[1].end == at(11.25)
    lp = plan_site([F1], PRICE, CO2, objective=Objective("co2")).plans[0]
    assert abs((lp.co2_g or 0) - 2070.5) < 1e-6


def test_money_first_co2_breaks_ties_and_lambda_weighs_co2() -> None:
    price = series([10.0, 10.0, 10.0, 20.0], "p/kWh")
    co2 = series([300.0, 100.0, 200.0, 0.0], "gCO2/kWh")
    car = ChargeRequest("c", T0, at(2), 2.0, 1.0)  # one full half-hour slot
    plan = plan_car(car, price, co2, objective=Objective("price_then_co2"))
    assert plan.segments == (Segment(at(0.5), at(1), 2.0),)
    heavy = plan_car(car, price, co2, objective=Objective("price+co2", lam=0.1))
    assert heavy.segments == (Segment(at(1.5), at(2), 2.0),)  # 20 + 0 < 10 + 10


def test_ties_go_to_the_later_slot() -> None:
    plan = plan_car(ChargeRequest("c", T0, at(2), 2.0, 1.0), series([5.0] * 4, "p/kWh"), [])
    assert plan.segments == (Segment(at(1.5), at(2), 2.0),)


def test_the_partial_slot_sits_after_a_charging_slot_before_it() -> None:
    price = series([9.0, 1.0, 2.0, 9.0], "p/kWh")
    plan = plan_car(ChargeRequest("c", T0, at(2), 4.0, 3.0), price, [])  # 2 kWh + 1 kWh
    assert plan.segments == (Segment(at(0.5), at(1.25), 4.0),)


def test_a_need_that_cannot_be_met_charges_now_and_flags_the_shortfall() -> None:
    plan = plan_car(ChargeRequest("c", T0, at(2), 7.0, 20.0), PRICE, CO2)
    assert plan.charge_now and not plan.met
    assert plan.segments == (Segment(T0, at(2), 7.0),)
    assert abs(plan.shortfall_kwh - 6.0) < 1e-9


def test_an_active_slot_is_not_ended_early() -> None:
    plan = plan_car(F1, PRICE, CO2, active_until=at(0.5))
    assert plan.segments[0] == Segment(T0, at(0.5), 7.4)
    assert abs(plan.energy_kwh - 20.0) < 1e-9


def test_no_pause_of_15_minutes_or_less() -> None:
    """Quarter-hour prices with one dear quarter between two cheap runs: the
    car charges through it rather than stop for 15 minutes."""
    price = series([1.0, 1.0, 9.0, 1.0, 1.0, 9.0, 9.0, 9.0], "p/kWh", minutes=15)
    car = ChargeRequest("c", T0, at(2), 4.0, 4.0)
    plan = plan_car(car, price, [])
    assert len(plan.segments) == 1
    gaps = [b.start - a.end for a, b in zip(plan.segments, plan.segments[1:], strict=False)]
    assert all(gap > timedelta(minutes=15) for gap in gaps)
    assert abs(plan.energy_kwh - 4.0) < 1e-9


def test_precondition_charges_just_before_departure() -> None:
    plan = plan_car(ChargeRequest("c", T0, at(15), 7.4, 20.0, 30), PRICE, CO2)
    assert plan.segments[-1].end == at(15) and plan.segments[-1].start <= at(14.5)
    assert abs(plan.energy_kwh - 20.0) < 1e-9


def test_continuous_window_is_one_block_at_the_cheapest_place() -> None:
    plan = plan_car(ChargeRequest("c", T0, at(15), 7.4, 20.0, continuous=True), PRICE, CO2)
    assert len(plan.segments) == 1
    assert plan.segments[0].end == at(11)  # the block ends with the 12.8 slot
    assert abs((plan.cost or 0) - 244.24) < 1e-6


def test_plans_only_over_covered_time() -> None:
    short = PRICE[:10]  # 16:00–21:00
    plan = plan_car(F1, short, [])
    assert all(segment.end <= at(5) for segment in plan.segments)
    assert abs(plan.energy_kwh - 20.0) < 1e-9
    tiny = plan_car(F1, PRICE[:2], [])  # one hour: 7.4 kWh fit, 12.6 wait for signals
    assert abs(tiny.unplanned_kwh - 12.6) < 1e-9 and not tiny.met


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.integers(-5, 40), min_size=2, max_size=24),
    co2=st.lists(st.integers(0, 400), min_size=24, max_size=24),
    power=st.sampled_from([3.7, 7.4, 11.0, 22.0]),
    share=st.floats(0.0, 1.0),
    mode=st.sampled_from(["price", "co2", "price+co2", "price_then_co2"]),
)
def test_greedy_cost_equals_the_lp_cost(
    prices: list[int], co2: list[int], power: float, share: float, mode: str
) -> None:
    price_rates = series([float(p) for p in prices], "p/kWh")
    co2_rates = series([float(c) for c in co2], "gCO2/kWh")
    hours = len(prices) / 2
    car = ChargeRequest("c", T0, at(hours), power, share * power * hours)
    objective = Objective(mode, lam=0.05)  # type: ignore[arg-type]
    greedy = plan_car(car, price_rates, co2_rates, objective=objective)
    lp = plan_site([car], price_rates, co2_rates, objective=objective).plans[0]

    def value(plan_cost: float | None, plan_co2: float | None) -> float:
        cost, grams = plan_cost or 0.0, plan_co2 or 0.0
        return {"price": cost, "co2": grams, "price+co2": cost + 0.05 * grams}.get(mode, cost)

    a, b = value(greedy.cost, greedy.co2_g), value(lp.cost, lp.co2_g)
    assert abs(a - b) <= 1e-6 * max(1.0, abs(b))
    assert abs(greedy.energy_kwh - lp.energy_kwh) < 1e-6
