"""No slivers the cap leaves no room for: a joint plan a charger can be told.

A charger cannot be told less than 6 A (IEC 61851-1: the pilot then offers
0), so a car planned at less than that in a slot charges nothing there. In a
slot with room under the cap, :func:`~.live_plan.tellable` sends such a
sliver at 6 A for a shorter time (the same energy). Where the cap is full,
there is no room: the LP fills the cars to their maximum and hands the
remainder (45 kW less six cars of 7.4 kW: 0.6 kW) to one car, which then
draws 0, falls behind and is re-planned, again and again (e2e).

The exact model is a semi-continuous variable per car and slot (0, or
between the floor and the car's maximum), a MILP. HiGHS solves ours to
optimality in seconds for 20 cars and finds poor first solutions (cars left
short) within a second, so instead the LP's answer is repaired in rounds:

- slivers of one slot that hold a floor's worth together are pooled: the
  largest is lifted to the floor with the others' energy, given in full
  (they find it in other slots);
- a sliver in a full slot is lifted to the floor with energy from another
  car charging there that stays at or above the floor after giving it (the
  slot's total, and so its cost and the cap, unchanged); both are fixed at
  their new values;
- a car's last kWh (it needs less than the floor gives in the slot) stays,
  and the slot's cap is lowered by what it lacks of the floor: the room to
  tell it at the floor for a shorter time (:func:`~.live_plan.tellable`);
- else the sliver is dropped and the slot's cap lowered by it (so the next
  round does not hand it to another car);
- the LP is solved again with these fixed, and the cars find what they gave
  or lost in other slots. One slot is repaired per round, the earliest.

A round that would leave the cars more short in total than the LP's plan is
not taken: its slivers stay (they are sent as 0 and re-planned). Rounds stop
at the LP's deadline, or after :data:`MAX_ROUNDS`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from opencsms.domain.smart_charging.site_problem import FloatArray, IntArray, SiteProblem

SLIVER_KWH = 1e-6
"""Energy in a slot below this is none; a floor missed by this is met."""
SHORT_KWH = 1e-3
"""A repair round may leave the cars short by this much more in all (LP noise)."""
MAX_ROUNDS = 120
"""A safety stop; the LP's deadline governs (the e2e-shaped 20-car night takes 63 rounds, 0.3 s)."""

BoolArray = npt.NDArray[np.bool_]
Solve = Callable[[SiteProblem, float], tuple[FloatArray | None, str]]


def without_slivers(
    problem: SiteProblem, energy: FloatArray, floor_kw: float, solve: Solve, deadline: float
) -> tuple[SiteProblem, FloatArray]:
    """``energy`` (kWh per edge, the LP's optimum of ``problem``) with no car
    under ``floor_kw`` in a slot where the others leave it no room to be
    told at the floor for a shorter time, as far as the
    rounds above manage without leaving cars shorter (``solve`` re-solves a
    problem by the ``deadline`` of ``time.monotonic()``), with the problem
    as repaired (what later passes must respect: fixed edges, lowered caps)."""
    hours = np.array([slot.hours for slot in problem.slots], dtype=np.float64)
    floor = floor_kw * hours[problem.edge_slot]
    short = float(problem.needs.sum() - energy.sum())
    accepted = np.zeros(len(energy), dtype=bool)
    for _ in range(MAX_ROUNDS):
        if time.monotonic() >= deadline:
            break
        slivers = _slivers(problem, energy, floor, hours) & ~accepted
        if not slivers.any():
            break
        # one slot per round, the earliest: a round refused costs only its slot
        slot = int(problem.edge_slot[slivers].min())
        slivers &= problem.edge_slot == slot
        repaired = _lift_or_drop(problem, energy, floor, hours, slivers)
        found, _ = solve(repaired, deadline)
        if found is None or float(repaired.needs.sum() - found.sum()) > short + SHORT_KWH:
            accepted |= slivers  # these stay: the cars would end shorter without them
            continue
        problem, energy = repaired, found
    return problem, energy


def _slivers(
    problem: SiteProblem, energy: FloatArray, floor: FloatArray, hours: FloatArray
) -> BoolArray:
    """Edges under the floor where the others leave no room to tell them at
    the floor for a shorter time, not fixed (active or repaired)."""
    cap = np.array(problem.cap_kw, dtype=np.float64) * hours
    used = np.bincount(problem.edge_slot, weights=energy, minlength=len(problem.slots))
    room = cap[problem.edge_slot] - used[problem.edge_slot] + energy  # inf: uncapped
    free = problem.edge_min < problem.edge_max
    return (
        (energy > SLIVER_KWH)
        & (energy < floor - SLIVER_KWH)
        & (room < floor - SLIVER_KWH)
        & free
        & (problem.edge_min <= SLIVER_KWH)
    )


def _lift_or_drop(
    problem: SiteProblem,
    energy: FloatArray,
    floor: FloatArray,
    hours: FloatArray,
    slivers: BoolArray,
) -> SiteProblem:
    """``problem`` with each sliver lifted to the floor by a donor in its slot
    (both fixed) or fixed at 0 with its slot's cap lowered by it; smallest
    slivers first."""
    lower, upper = problem.edge_min.copy(), problem.edge_max.copy()
    cap = list(problem.cap_kw)
    plan = energy.copy()
    free = lower < upper
    fixed = np.bincount(problem.edge_car, weights=lower, minlength=len(problem.cars)).astype(
        np.float64
    )
    held = np.bincount(problem.edge_slot, weights=lower, minlength=len(problem.slots))
    """Per slot, what the fixed and forced edges take: a lowered cap stays above it."""
    order = np.flatnonzero(slivers)
    lifted = _pooled(problem, plan, floor, upper, fixed, order)
    for b in lifted:
        # b takes the floor from the other slivers of its slot, given in full
        slot = int(problem.edge_slot[b])
        gap = floor[b] - plan[b]
        for a in order[np.argsort(plan[order], kind="stable")]:
            if a in lifted or not free[a] or plan[a] <= SLIVER_KWH or gap <= SLIVER_KWH:
                continue
            given = min(plan[a], gap)
            plan[a] -= given
            gap -= given
            if plan[a] <= SLIVER_KWH:  # given in full: 0 here, its energy found elsewhere
                plan[a] = lower[a] = upper[a] = 0.0
                free[a] = False
        plan[b] = lower[b] = upper[b] = floor[b]
        free[b] = False
        fixed[int(problem.edge_car[b])] += floor[b]
        held[slot] += floor[b]
    order = order[free[order] & (plan[order] > SLIVER_KWH)]
    for b in order[np.argsort(plan[order], kind="stable")]:
        slot = int(problem.edge_slot[b])
        gap = floor[b] - plan[b]
        donors = np.flatnonzero(
            (problem.edge_slot == slot)
            & free
            & (plan - gap >= floor + SLIVER_KWH)
            & (plan - gap >= lower - SLIVER_KWH)
        )
        donors = donors[donors != b]
        # what a donor's car must take in all stays within its need too
        donors = donors[
            fixed[problem.edge_car[donors]] + plan[donors] - gap - lower[donors]
            <= problem.needs[problem.edge_car[donors]] + SLIVER_KWH
        ]
        car = int(problem.edge_car[b])
        # what the car must take in all stays within its need (else the LP is infeasible)
        fits = fixed[car] + floor[b] <= problem.needs[car] + SLIVER_KWH
        if donors.size and fits and plan[b] + gap <= upper[b] + SLIVER_KWH:
            a = int(donors[np.argmax(plan[donors])])
            fixed[car] += floor[b]
            fixed[int(problem.edge_car[a])] += plan[a] - gap - lower[a]
            held[slot] += floor[b] + plan[a] - gap - lower[a]
            plan[a] -= gap
            plan[b] = floor[b]
            for e in (a, b):
                lower[e] = upper[e] = plan[e]
                free[e] = False
        elif (
            not fits
            and plan[b] > SLIVER_KWH
            and fixed[car] + plan[b] <= problem.needs[car] + SLIVER_KWH
            and held[slot] + plan[b] + gap <= cap[slot] * hours[slot] + SLIVER_KWH
        ):
            # the car's last kWh: it can be told at the floor for a shorter time
            # if the others leave it room for that, so keep the room free
            cap[slot] -= gap / hours[slot]
            lower[b] = upper[b] = plan[b]
            free[b] = False
            fixed[car] += plan[b]
            held[slot] += plan[b]
        else:
            cap[slot] -= plan[b] / hours[slot]
            plan[b] = 0.0
            lower[b] = upper[b] = 0.0
            free[b] = False
    return dataclasses.replace(problem, edge_min=lower, edge_max=upper, cap_kw=cap)


def _pooled(
    problem: SiteProblem,
    plan: FloatArray,
    floor: FloatArray,
    upper: FloatArray,
    fixed: FloatArray,
    slivers: IntArray,
) -> list[int]:
    """The slivers to lift to the floor with the energy of the others of
    their slot (e2e: 3.3 and 0.84 kW in a slot with 4.14 kW left, both sent
    as 0; one car at 4.14 is told, the other finds its 0.84 elsewhere): the
    largest first, while the others hold enough, and only a car whose need
    takes the floor. ``slivers`` all lie in one slot (one slot per round)."""
    lifted: list[int] = []
    pool = float(plan[slivers].sum())
    for b in slivers[np.argsort(-plan[slivers], kind="stable")]:
        car = int(problem.edge_car[b])
        if pool < floor[b] - SLIVER_KWH or floor[b] > upper[b] + SLIVER_KWH:
            continue
        if fixed[car] + floor[b] > problem.needs[car] + SLIVER_KWH:
            continue  # the car's last kWh: told at the floor for a shorter time instead
        lifted.append(int(b))
        pool -= floor[b]
    return lifted
