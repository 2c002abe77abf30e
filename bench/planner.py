"""Planner figures: single-car plans per second, and a capped site of 200 cars × 96 slots.

    python bench/planner.py [--plans 10000] [--cars 200] [--slots 96]

Single car: ``plan_car`` on random half-hour price series against a naive
baseline measured in the same run (re-sorting every slot by price and
filling, no rules, no accounting). Site: the joint LP (HiGHS) against the
greedy fallback (earliest departure first + max-flow repair): time and total
cost, printed as ratios.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from opencsms.domain.smart_charging.planner import ChargeRequest, plan_car
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import SitePlan, plan_site

FLOOR_KW = 6 * 230 * 3 / 1000
"""6 A on three phases: the least a charger can be told."""

T0 = datetime(2026, 1, 15, 16, tzinfo=UTC)


def series(values: list[float], unit: str, minutes: int) -> list[Rate]:
    step = timedelta(minutes=minutes)
    return [Rate(T0 + i * step, T0 + (i + 1) * step, v, unit) for i, v in enumerate(values)]


def naive(prices: list[float], power: float, need: float) -> float:
    """The baseline: sort, fill, sum (what a plan must at least do)."""
    cost, left = 0.0, need
    for value in sorted(prices):
        take = min(power / 2, left)
        cost += take * value
        left -= take
        if left <= 0:
            break
    return cost


def single(plans: int, rng: random.Random) -> None:
    cases = []
    for _ in range(plans):
        prices = [round(rng.uniform(-2, 40), 1) for _ in range(30)]
        power = rng.choice([3.7, 7.4, 11.0])
        need = rng.uniform(1, power * 14)
        cases.append((prices, series(prices, "p/kWh", 30), power, need))
    started = time.perf_counter()
    baseline = [naive(p, power, need) for p, _, power, need in cases]
    naive_s = time.perf_counter() - started
    started = time.perf_counter()
    results = [
        plan_car(ChargeRequest("c", T0, T0 + timedelta(hours=15), power, need), rates)
        for _, rates, power, need in cases
    ]
    plan_s = time.perf_counter() - started
    worst = max(
        abs((r.cost or 0) - b) / max(1.0, abs(b)) for r, b in zip(results, baseline, strict=True)
    )
    print(f"single car: {plans} plans of 30 slots")
    print(f"  plan_car      {plan_s:.2f} s, {plan_s / plans * 1e6:.0f} µs per plan")
    print(f"  naive sort    {naive_s:.3f} s, {naive_s / plans * 1e6:.1f} µs per plan")
    print(
        f"  time ratio plan_car / naive = {plan_s / naive_s:.0f}; "
        f"worst cost difference {worst:.1e} (relative)"
    )


def site_problem(
    cars: int, slots: int, rng: random.Random
) -> tuple[list[ChargeRequest], list[Rate], list[Rate]]:
    """Random cars over ``slots`` quarter-hours and a cap that binds: the
    requests, the price series and the cap (also used by planner_stall.py)."""
    prices = [round(rng.uniform(5, 40), 1) for _ in range(slots)]
    price = series(prices, "p/kWh", 15)
    horizon = slots * 15
    requests = []
    for i in range(cars):
        arrive = rng.randrange(0, horizon // 2)
        leave = min(horizon, arrive + rng.randrange(120, horizon))
        power = rng.choice([7.4, 11.0, 22.0])
        need = rng.uniform(0.2, 0.8) * power * (leave - arrive) / 60
        requests.append(
            ChargeRequest(
                f"c{i}", T0 + timedelta(minutes=arrive), T0 + timedelta(minutes=leave), power, need
            )
        )
    total_need = sum(r.energy_kwh for r in requests)
    cap_kw = 0.9 * total_need / (horizon / 60) * 1.5
    return requests, price, [Rate(T0, T0 + timedelta(minutes=horizon), cap_kw, "kW")]


def site(cars: int, slots: int, rng: random.Random) -> None:
    requests, price, cap = site_problem(cars, slots, rng)
    total_need = sum(r.energy_kwh for r in requests)
    cap_kw = cap[0].value
    started = time.perf_counter()
    lp = plan_site(requests, price, [], cap, time_limit_s=60)
    lp_s = time.perf_counter() - started
    started = time.perf_counter()
    tellable = plan_site(requests, price, [], cap, time_limit_s=60, floor_kw=FLOOR_KW)
    tellable_s = time.perf_counter() - started
    started = time.perf_counter()
    greedy = plan_site(requests, price, [], cap, method="greedy")
    greedy_s = time.perf_counter() - started
    lp_cost = sum(p.cost or 0 for p in lp.plans)
    greedy_cost = sum(p.cost or 0 for p in greedy.plans)
    short_lp = sum(p.shortfall_kwh for p in lp.plans)
    short_greedy = sum(p.shortfall_kwh for p in greedy.plans)
    print(
        f"site: {cars} cars × {slots} quarter-hours, cap {cap_kw:.0f} kW, need {total_need:.0f} kWh"
    )
    print(
        f"  LP ({lp.method}, {lp.reason})  {lp_s:.2f} s, "
        f"cost {lp_cost:.0f}, shortfall {short_lp:.3f} kWh"
    )
    print(
        f"  greedy + max-flow      {greedy_s:.2f} s, "
        f"cost {greedy_cost:.0f}, shortfall {short_greedy:.3f} kWh"
    )
    print(f"  greedy / LP: cost {greedy_cost / lp_cost:.4f}, time {greedy_s / lp_s:.2f}")
    tellable_cost = sum(p.cost or 0 for p in tellable.plans)
    print(
        f"  LP + 6 A repair        {tellable_s:.2f} s, cost {tellable_cost:.0f}, shortfall "
        f"{sum(p.shortfall_kwh for p in tellable.plans):.3f} kWh; segments under 6 A: "
        f"{under_floor(lp)} -> {under_floor(tellable)}"
    )
    print(f"  repaired / LP: cost {tellable_cost / lp_cost:.4f}, time {tellable_s / lp_s:.2f}")


def under_floor(result: SitePlan) -> int:
    """Segments a charger cannot be told (under 6 A), in slots the cap fills."""
    count = 0
    for slot, cap_kw in zip(result.slots, result.cap_kw, strict=True):
        segments = [
            s
            for plan in result.plans
            for s in plan.segments
            if s.start < slot.end and slot.start < s.end
        ]
        if sum(s.power_kw for s in segments) >= cap_kw - 1e-6:
            count += sum(1 for s in segments if s.power_kw < FLOOR_KW - 1e-6)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--cars", type=int, default=200)
    parser.add_argument("--slots", type=int, default=96)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    single(args.plans, rng)
    site(args.cars, args.slots, rng)


if __name__ == "__main__":
    main()
