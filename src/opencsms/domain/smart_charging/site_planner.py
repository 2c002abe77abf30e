"""The joint planner for cars behind one shared site limit: an LP, with a greedy fallback.

Cheapest-slot selection is optimal for one car but not for many sharing a
cap (a cheap slot given to a flexible car may be the only slot a tight car
has). So the site is one linear program (scipy ``linprog(method="highs")``,
HiGHS is the best open LP solver scipy ships): ``x[c, t]`` kWh for car ``c`` in
slot ``t``, ``0 <= x <= power_c * hours_t`` while the car is plugged in, the
sum over cars ``<= cap_t * hours_t`` in every slot, and per car ``sum_t x +
short_c = need_c``. Lexicographic phases make "no feasible deadline is
missed" a hard priority, not a penalty weight: first the least total
shortfall (skipped when every need can be met, the usual case), then each
objective component in turn (money, then CO2 for ``price_then_co2``) with the
earlier optima held.

Two more passes serve the live system (``opencsms plan`` does without):
with ``previous`` plans, a last phase takes, among the equal-cost optima,
the one moving the least energy from them (a re-plan every few minutes
otherwise swaps equal slots between cars and starts and stops them); with
``floor_kw``, :mod:`.site_slivers` repairs the plan so that no car is left
under the least power a charger can be told in a slot the cap fills.

HiGHS gets a wall-clock ``time_limit``. When it runs out (or fails), the
greedy fallback plans: cars by earliest departure each take their lightest
slots within what the cap leaves, then a max-flow over the residual network
(scipy ``maximum_flow``, integer Wh) moves energy so that the total delivered
is the maximum possible — every need is met whenever the needs can be met
together. The fallback's cost is not optimal; ``bench/planner.py`` prints how
far from the LP it lands.

Two comfort rules of issue 5 hold here as in
:func:`~opencsms.domain.smart_charging.planner.plan_car`:

- never end an active slot early (``active_until``): a car charging now keeps
  its full power until the end of its current slot, as lower bounds on its
  edges (the greedy gives that energy first). The site cap is a hard limit
  (the grid operator's, or the fuse's) and this rule is a comfort rule, so
  when a new event lowers the cap below what the active cars draw, their
  forced energy in that slot is scaled down to the cap, in proportion; the
  forced energy never exceeds a car's need either. The plan is never
  infeasible because of it.
- never pause for :data:`~opencsms.domain.smart_charging.planner.MAX_PAUSE`
  or less: a post-pass (:func:`.site_pauses.charge_through_short_pauses`) charges such a
  gap through at its neighbours' power when the cap has room, taking the
  energy from the car's unmet need, else from its heaviest other slots
  (delivered energy never drops, caps and forced energy still hold). Slots
  of 30 minutes never leave such gaps; short ones come from cap steps,
  plug-ins, departures and active slots cut mid-slot.

Joint plans charge at constant power within a slot; partial-slot placement and
continuous windows apply to :func:`~opencsms.domain.smart_charging.planner.plan_car`
only.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array, csr_array, hstack, vstack
from scipy.sparse.csgraph import maximum_flow

from opencsms.domain.smart_charging.planner import (
    PRICE,
    CarPlan,
    ChargeRequest,
    Objective,
    Segment,
    Slot,
    build_slots,
    finish_plan,
)
from opencsms.domain.smart_charging.rates import Rate, covered_until
from opencsms.domain.smart_charging.site_pauses import charge_through_short_pauses
from opencsms.domain.smart_charging.site_problem import (
    CHARGING_KWH,
    TOLERANCE,
    FloatArray,
    IntArray,
    SiteProblem,
)
from opencsms.domain.smart_charging.site_slivers import without_slivers

Method = Literal["lp", "greedy"]
DEFAULT_TIME_LIMIT_S = 10.0
NOISE_KWH = 1e-6


@dataclass(frozen=True, slots=True)
class SitePlan:
    """Plans for every car of the site, how they were found, and the slots used."""

    plans: tuple[CarPlan, ...]
    method: Method
    reason: str
    slots: tuple[Slot, ...]
    cap_kw: tuple[float, ...]


def plan_site(
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate] = (),
    cap: Sequence[Rate] | None = None,
    *,
    objective: Objective = PRICE,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    method: Literal["auto", "greedy"] = "auto",
    active_until: Mapping[str, datetime] | None = None,
    previous: Mapping[str, Sequence[Segment]] | None = None,
    floor_kw: float | None = None,
    active_kw: Mapping[str, float] | None = None,
) -> SitePlan:
    """Joint plans for ``requests`` sharing the site ceiling ``cap`` (kW steps,
    as :func:`~opencsms.domain.smart_charging.grid.effective_cap` gives; time it
    does not cover is uncapped, None: no cap at all).

    Preconditions: rates normalised; aware datetimes; positive powers. Each car
    is planned from its plug-in to its departure, within the time the signals
    the objective needs cover (energy beyond that is ``unplanned_kwh``).
    ``method="greedy"`` skips the LP (benchmarks, and a forced fallback).

    ``active_until`` maps a ``car_id`` to the end of the slot of its current
    plan it is charging in now: the car charges at full power from its
    ``plug_in`` (the planning start) until then (clipped to its departure and
    the signals), as far as its need and the cap allow — when the active cars
    together exceed the cap in a slot, each gets its forced power scaled by
    the same factor so that the cap is used in full. ``active_kw`` gives
    such a car the power it keeps instead of its full power (a re-plan keeps
    the power of the slot it is in: full power squeezed cars due earlier
    out of the cap, e2e).

    ``previous`` maps a ``car_id`` to the segments of the plan it has now: a
    re-plan. A site LP has many optima of equal cost (two cars can swap
    equally priced slots); among them the LP takes the one closest to the
    previous plans (least energy moved, a last lexicographic phase), so that
    re-planning every few minutes does not start and stop cars for nothing
    (e2e: a car's drawn power flipped each minute between two optima).

    ``floor_kw``: the least power a charger can be told (6 A); where the cap
    is full, the LP's plan is repaired so that no car is planned under it
    (:mod:`.site_slivers`).
    """
    problem = _build(
        requests,
        price,
        co2,
        cap or (),
        objective,
        active_until or {},
        previous or {},
        active_kw or {},
    )
    energy: FloatArray | None = None
    reason = "greedy requested"
    chosen: Method = "greedy"
    repaired = problem
    if method == "auto":
        deadline = time.monotonic() + time_limit_s
        energy, reason = _solve_lp(problem, deadline)
        chosen = "lp" if energy is not None else "greedy"
        if energy is not None and floor_kw is not None:
            repaired, energy = without_slivers(problem, energy, floor_kw, _solve_lp, deadline)
    if energy is None:
        energy = _greedy(problem)
    # within the repaired caps: the room kept for a car's last kWh stays free
    energy = charge_through_short_pauses(repaired, energy, floor_kw)
    plans = []
    for car, request in enumerate(requests):
        first, last = problem.cars[car]
        segments = [
            Segment(
                problem.slots[t].start,
                problem.slots[t].end,
                float(energy[e]) / problem.slots[t].hours,
            )
            for e, t in zip(range(first, last), problem.edge_slot[first:last], strict=True)
            if energy[e] > 1e-9
        ]
        delivered = float(energy[first:last].sum())
        coverable = float(problem.edge_max[first:last].sum())
        reach = (
            request.max_power_kw
            * max(0.0, (request.departure - request.plug_in).total_seconds())
            / 3600
        )
        unplanned = max(0.0, min(request.energy_kwh, reach) - coverable)
        shortfall = max(0.0, request.energy_kwh - delivered - unplanned)
        plans.append(
            finish_plan(
                request,
                segments,
                price,
                co2,
                request.plug_in,
                shortfall=shortfall if shortfall > 1e-6 else 0.0,
                unplanned=unplanned,
                charge_now=False,
            )
        )
    return SitePlan(tuple(plans), chosen, reason, tuple(problem.slots), tuple(problem.cap_kw))


def _build(
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    cap: Sequence[Rate],
    objective: Objective,
    active_until: Mapping[str, datetime],
    previous: Mapping[str, Sequence[Segment]],
    active_kw: Mapping[str, float],
) -> SiteProblem:
    windows: list[tuple[datetime, datetime]] = []
    for request in requests:
        end = request.departure
        if objective.needs_price:
            end = min(end, covered_until(price, request.plug_in))
        if objective.needs_co2:
            end = min(end, covered_until(co2, request.plug_in))
        windows.append((request.plug_in, max(request.plug_in, end)))
    if not windows or all(a >= b for a, b in windows):
        none = np.zeros(0, dtype=np.int64)
        needs = np.array([r.energy_kwh for r in requests], dtype=np.float64)
        deadlines = [b for _, b in windows]
        return SiteProblem(
            [],
            [],
            [(0, 0)] * len(requests),
            deadlines,
            none,
            none,
            np.zeros(0),
            np.zeros(0),
            needs,
            [np.zeros(0)],
            [False] * len(requests),
        )
    start, end = min(a for a, _ in windows), max(b for _, b in windows)
    active = [r.car_id in active_until for r in requests]
    forced_end = [
        max(a, min(active_until[r.car_id], b)) if is_active else a
        for r, (a, b), is_active in zip(requests, windows, active, strict=True)
    ]
    cuts = (
        [t for window in windows for t in window]
        + [t for rate in cap for t in (rate.start, rate.end)]
        + forced_end
    )
    slots = build_slots(price, co2, start, end, cuts)
    caps = build_slots(cap, (), start, end, [slot.start for slot in slots])
    cap_kw = [math.inf if c.price is None else c.price for c in caps]
    starts = [slot.start for slot in slots]
    cars: list[tuple[int, int]] = []
    edge_car: list[int] = []
    edge_slot: list[int] = []
    edge_max: list[float] = []
    for car, (request, (a, b)) in enumerate(zip(requests, windows, strict=True)):
        first = len(edge_slot)
        for t in range(_index(starts, a), _index(starts, b)):
            edge_car.append(car)
            edge_slot.append(t)
            edge_max.append(request.max_power_kw * slots[t].hours)
        cars.append((first, len(edge_slot)))
    weight_rows = [objective.weight(slots[t].price, slots[t].co2) for t in edge_slot]
    components = len(objective.weight(0.0, 0.0))
    weights = [
        np.array([row[k] for row in weight_rows], dtype=np.float64) for k in range(components)
    ]
    needs = np.array([r.energy_kwh for r in requests], dtype=np.float64)
    edge_max_array = np.array(edge_max, dtype=np.float64)
    earlier = None
    if previous:
        earlier = np.minimum(
            np.array(
                [
                    _energy_in(previous.get(requests[int(car)].car_id, ()), slots[t])
                    for car, t in zip(edge_car, edge_slot, strict=True)
                ],
                dtype=np.float64,
            ),
            edge_max_array,
        )
    return SiteProblem(
        slots,
        cap_kw,
        cars,
        [b for _, b in windows],
        np.array(edge_car, dtype=np.int64),
        np.array(edge_slot, dtype=np.int64),
        edge_max_array,
        _forced(
            slots,
            cap_kw,
            cars,
            edge_slot,
            np.minimum(
                edge_max_array,
                [
                    active_kw.get(requests[int(c)].car_id, math.inf) * slots[t].hours
                    for c, t in zip(edge_car, edge_slot, strict=True)
                ],
            ),
            needs,
            forced_end,
        ),
        needs,
        weights,
        active,
        earlier,
    )


def _energy_in(segments: Sequence[Segment], slot: Slot) -> float:
    """kWh ``segments`` give within ``slot``."""
    return sum(
        s.power_kw * (min(s.end, slot.end) - max(s.start, slot.start)).total_seconds() / 3600
        for s in segments
        if s.start < slot.end and s.end > slot.start
    )


def _forced(
    slots: list[Slot],
    cap_kw: list[float],
    cars: list[tuple[int, int]],
    edge_slot: list[int],
    edge_max: FloatArray,
    needs: FloatArray,
    forced_end: list[datetime],
) -> FloatArray:
    """kWh per edge that an active car must take, slot by slot in time order:
    full power until its active slot ends or its need is met, every active
    car's share scaled by one factor where together they exceed the cap (the
    cap is a hard limit, the active slot a comfort rule)."""
    lower = np.zeros(len(edge_slot))
    by_slot: dict[int, list[tuple[int, int]]] = {}
    for car, (first, last) in enumerate(cars):
        for e in range(first, last):
            if slots[edge_slot[e]].end > forced_end[car]:
                break
            by_slot.setdefault(edge_slot[e], []).append((car, e))
    given = np.zeros(len(cars))
    for t in sorted(by_slot):
        want = [
            (car, e, min(edge_max[e], max(0.0, needs[car] - given[car]))) for car, e in by_slot[t]
        ]
        total = sum(w for _, _, w in want)
        limit = cap_kw[t] * slots[t].hours
        scale = limit / total if total > limit else 1.0
        for car, e, w in want:
            lower[e] = w * scale
            given[car] += w * scale
    return lower


def _index(starts: list[datetime], moment: datetime) -> int:
    return bisect.bisect_left(starts, moment)


def _solve_lp(problem: SiteProblem, deadline: float) -> tuple[FloatArray | None, str]:
    """Energy per edge from the lexicographic LPs, or None and why not."""
    n_edges, n_cars = len(problem.edge_slot), len(problem.cars)
    if n_edges == 0:
        return np.zeros(0), "nothing to plan"
    n_vars = n_edges + n_cars  # x per edge, then the shortfall per car
    edges = np.arange(n_edges)
    a_eq = csr_array(
        coo_array(
            (
                np.ones(n_vars),
                (
                    np.concatenate([problem.edge_car, np.arange(n_cars)]),
                    np.concatenate([edges, n_edges + np.arange(n_cars)]),
                ),
            ),
            shape=(n_cars, n_vars),
        )
    )
    capped = [t for t, c in enumerate(problem.cap_kw) if math.isfinite(c)]
    row_of = {t: i for i, t in enumerate(capped)}
    mask = np.array([int(t) in row_of for t in problem.edge_slot], dtype=bool)
    cap_rows = np.array([row_of[int(t)] for t in problem.edge_slot[mask]], dtype=np.int64)
    rows: list[Any] = [
        csr_array(
            coo_array(
                (np.ones(len(cap_rows)), (cap_rows, edges[mask])), shape=(len(capped), n_vars)
            )
        )
    ]
    limits: list[FloatArray] = [
        np.array([problem.cap_kw[t] * problem.slots[t].hours for t in capped])
    ]
    upper = np.concatenate([problem.edge_max, problem.needs])
    lower = np.concatenate([problem.edge_min, np.zeros(n_cars)])
    no_short = upper.copy()
    no_short[n_edges:] = 0.0
    bounds = np.stack([lower, no_short], axis=1)
    phases = [np.concatenate([w, np.zeros(n_cars)]) for w in problem.weights]
    result = _linprog(phases[0], rows, limits, a_eq, problem.needs, bounds, deadline)
    if result is not None and result.status == 2:  # some need cannot be met: least shortfall first
        bounds = np.stack([lower, upper], axis=1)
        least_short = np.concatenate([np.zeros(n_edges), np.ones(n_cars)])
        least = _linprog(least_short, rows, limits, a_eq, problem.needs, bounds, deadline)
        if least is None or least.status != 0:
            return None, _why(least)
        rows.append(csr_array(least_short.reshape(1, -1)))
        limits.append(np.array([least.fun + TOLERANCE * (1 + abs(least.fun))]))
        result = _linprog(phases[0], rows, limits, a_eq, problem.needs, bounds, deadline)
    for k in range(1, len(phases)):
        if result is None or result.status != 0:
            break
        rows.append(csr_array(phases[k - 1].reshape(1, -1)))
        limits.append(np.array([result.fun + TOLERANCE * (1 + abs(result.fun))]))
        result = _linprog(phases[k], rows, limits, a_eq, problem.needs, bounds, deadline)
    if result is None or result.status != 0:
        return None, _why(result)
    x = np.asarray(result.x[:n_edges], dtype=np.float64)
    if problem.previous is not None:
        rows.append(csr_array(phases[-1].reshape(1, -1)))
        limits.append(np.array([result.fun + TOLERANCE * (1 + abs(result.fun))]))
        closest = _closest_to(problem.previous, rows, limits, a_eq, problem.needs, bounds, deadline)
        if closest is not None:
            x = closest
    # under a mWh is solver noise (1e-8 kWh became an 18 µs segment at 6 A)
    return np.where(x < NOISE_KWH, 0.0, x), "optimal"


def _closest_to(
    previous: FloatArray,
    rows: list[Any],
    limits: list[FloatArray],
    a_eq: Any,
    b_eq: FloatArray,
    bounds: Any,
    deadline: float,
) -> FloatArray | None:
    """Among the plans ``rows`` allow (every objective held at its optimum),
    the one keeping the most of ``previous`` (kWh per edge): an extra
    ``kept_e <= min(x_e, previous_e)`` per edge the previous plans used, and
    the most kept in all. With each car's total fixed, that is the plan
    moving the least energy. None: the solve did not finish (keep the optimum
    found)."""
    used = np.flatnonzero(previous > CHARGING_KWH)
    n_edges = len(previous)
    if used.size == 0:
        return None
    n_vars = rows[0].shape[1]
    aux = np.arange(used.size)
    padded: list[Any] = [hstack([r, csr_array((r.shape[0], used.size))]) for r in rows]
    # kept_e - x_e <= 0
    padded.append(
        csr_array(
            coo_array(
                (
                    np.concatenate([np.ones(used.size), -np.ones(used.size)]),
                    (np.concatenate([aux, aux]), np.concatenate([n_vars + aux, used])),
                ),
                shape=(used.size, n_vars + used.size),
            )
        )
    )
    kept_bounds = np.stack([np.zeros(used.size), previous[used]], axis=1)
    cost = np.concatenate([np.zeros(n_vars), -np.ones(used.size)])
    result = _linprog(
        cost,
        padded,
        [*limits, np.zeros(used.size)],
        hstack([a_eq, csr_array((a_eq.shape[0], used.size))]),
        b_eq,
        np.vstack([bounds, kept_bounds]),
        deadline,
    )
    if result is None or result.status != 0:
        return None
    return np.asarray(result.x[:n_edges], dtype=np.float64)


def _why(result: Any) -> str:
    return "LP stopped: time limit" if result is None else f"LP stopped: {result.message}"


def _linprog(
    cost: FloatArray,
    rows: list[Any],
    limits: list[FloatArray],
    a_eq: Any,
    b_eq: FloatArray,
    bounds: Any,
    deadline: float,
) -> Any:
    """One HiGHS solve within what is left of the wall-clock budget (None: none left)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    a_ub: Any = vstack(rows, format="csr")
    b_ub: FloatArray | None = np.concatenate(limits)
    if a_ub.shape[0] == 0:
        a_ub, b_ub = None, None
    return linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
        options={"time_limit": remaining},
    )


def _greedy(problem: SiteProblem) -> FloatArray:
    """Active slots first, then earliest departure first, lightest slots first
    (ties: the later), in whole Wh; then a max-flow on the residual network
    tops up every car it can."""
    n_edges, n_cars, n_slots = len(problem.edge_slot), len(problem.cars), len(problem.slots)
    if n_edges == 0:
        return np.zeros(0)
    edge_cap = np.floor(problem.edge_max * 1000 + 1e-6).astype(np.int64)
    room = np.bincount(problem.edge_slot, weights=edge_cap, minlength=n_slots).astype(np.int64)
    slot_left = np.array(
        [
            int(room[t])
            if not math.isfinite(c)
            else min(int(room[t]), math.floor(c * slot.hours * 1000 + 1e-6))
            for t, (c, slot) in enumerate(zip(problem.cap_kw, problem.slots, strict=True))
        ],
        dtype=np.int64,
    )
    forced = np.minimum(np.floor(problem.edge_min * 1000 + 1e-6).astype(np.int64), edge_cap)
    for index in np.flatnonzero(forced):  # rounding may overshoot a slot by a Wh: trim it
        slot = int(problem.edge_slot[index])
        kept = min(int(forced[index]), int(slot_left[slot]))
        forced[index] = kept
        slot_left[slot] -= kept
    flow = forced.copy()
    need = np.round(problem.needs * 1000).astype(np.int64)
    given = np.bincount(problem.edge_car, weights=forced, minlength=n_cars).astype(np.int64)
    for car in sorted(range(n_cars), key=lambda c: problem.deadlines[c]):
        first, last = problem.cars[car]
        remaining = int(need[car] - given[car])
        ranked = sorted(
            range(first, last),
            key=lambda e: (tuple(float(w[e]) for w in problem.weights), -int(problem.edge_slot[e])),
        )
        for e in ranked:
            if remaining <= 0:
                break
            t = int(problem.edge_slot[e])
            take = min(int(edge_cap[e] - flow[e]), int(slot_left[t]), remaining)
            if take > 0:
                flow[e] += take
                slot_left[t] -= take
                remaining -= take
    delivered = np.bincount(problem.edge_car, weights=flow, minlength=n_cars).astype(np.int64)
    if np.any(delivered < need):
        flow += _augment(problem, flow, forced, edge_cap, slot_left, need - delivered)
    return flow.astype(np.float64) / 1000


def _augment(
    problem: SiteProblem,
    flow: IntArray,
    forced: IntArray,
    edge_cap: IntArray,
    slot_left: IntArray,
    need_left: IntArray,
) -> IntArray:
    """Extra flow per edge from a max-flow on the residual network of ``flow``:
    source → car (need left), car ⇄ slot (room left, and flow above the
    forced energy that can be moved elsewhere), slot ⇄ sink (cap left, and
    use that can be given back). Augmenting a feasible flow to a maximum one
    keeps most of what the greedy chose and reaches the largest total any plan
    with those forced energies can deliver."""
    n_cars, n_slots = len(problem.cars), len(problem.slots)
    source, sink = 0, 1 + n_cars + n_slots
    car_node = 1 + problem.edge_car
    slot_node = 1 + n_cars + problem.edge_slot
    slot_nodes = 1 + n_cars + np.arange(n_slots)
    used = np.bincount(problem.edge_slot, weights=flow, minlength=n_slots).astype(np.int64)
    rows = np.concatenate(
        [np.zeros(n_cars, dtype=np.int64), car_node, slot_node, slot_nodes, np.full(n_slots, sink)]
    )
    cols = np.concatenate(
        [1 + np.arange(n_cars), slot_node, car_node, np.full(n_slots, sink), slot_nodes]
    )
    caps = np.concatenate(
        [np.maximum(need_left, 0), edge_cap - flow, flow - forced, slot_left, used]
    )
    keep = caps > 0
    graph = csr_array(
        (caps[keep].astype(np.int32), (rows[keep], cols[keep])), shape=(sink + 1, sink + 1)
    )
    net = maximum_flow(graph, source, sink).flow.tocsr()
    return np.asarray(net[car_node, slot_node], dtype=np.int64).ravel()
