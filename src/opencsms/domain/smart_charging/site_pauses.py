"""Joint plans without short pauses: a post-pass over the site LP's (or the
greedy's) energies.

Issue 5: never pause when the next slot starts within 15 minutes
(:data:`~opencsms.domain.smart_charging.planner.MAX_PAUSE`). The LP has no
notion of a pause (it would take integer variables), so after it a car's gap
of that length or less is charged through at its neighbours' power where the
site cap has room, the energy coming from the car's unmet need, else from its
heaviest other slots. A change is kept only when it leaves fewer short
pauses, so the pass ends; delivered energy never drops and caps and forced
(active-slot) energy still hold.
"""

from __future__ import annotations

import numpy as np

from opencsms.domain.smart_charging.planner import MAX_PAUSE
from opencsms.domain.smart_charging.site_problem import (
    CHARGING_KWH,
    TOLERANCE,
    FloatArray,
    SiteProblem,
)


def charge_through_short_pauses(
    problem: SiteProblem, energy: FloatArray, floor_kw: float | None = None
) -> FloatArray:
    """Each car's pauses of :data:`MAX_PAUSE` or less (and, for a car charging
    now, a wait that short before its next charge) charged through at the
    lower of the neighbours' powers, where the cap has room. The energy comes
    from the car's unmet need, else from its heaviest other slots (earlier
    first), never below their forced energy; a change is kept only when the
    car has fewer short pauses after it. With ``floor_kw`` (the least a
    charger can be told), a pause is charged through only at that power or
    more, and a donor slot keeps at least that much (no new sliver)."""
    energy = energy.copy()
    used: FloatArray = np.bincount(
        problem.edge_slot, weights=energy, minlength=len(problem.slots)
    ).astype(np.float64)
    for car, (first, last) in enumerate(problem.cars):
        if last - first < 2:
            continue
        for _ in range(4 * (last - first)):
            change = _fill_one_pause(problem, energy, used, car, floor_kw or 0.0)
            if change is None:
                break
            used += np.bincount(
                problem.edge_slot[first:last],
                weights=change - energy[first:last],
                minlength=len(problem.slots),
            )
            energy[first:last] = change
    return energy


def _short_pauses(problem: SiteProblem, x: FloatArray, car: int) -> list[tuple[int, int]]:
    """The car's short pauses as ranges of its edges (local indices)."""
    first, _ = problem.cars[car]
    on = x > CHARGING_KWH
    pauses: list[tuple[int, int]] = []
    i, n = 0, len(x)
    while i < n:
        if on[i]:
            i += 1
            continue
        j = i
        while j < n and not on[j]:
            j += 1
        inside = j < n and (i > 0 or problem.active[car])
        start = problem.slots[int(problem.edge_slot[first + i])].start
        end = problem.slots[int(problem.edge_slot[first + j - 1])].end
        if inside and end - start <= MAX_PAUSE:
            pauses.append((i, j))
        i = j
    return pauses


def _fill_one_pause(
    problem: SiteProblem, energy: FloatArray, used: FloatArray, car: int, floor_kw: float
) -> FloatArray | None:
    """The car's energies with its first fillable short pause charged through,
    or None when none can be."""
    first, last = problem.cars[car]
    x = energy[first:last]
    slot_of = problem.edge_slot[first:last]
    hours = np.array([problem.slots[int(t)].hours for t in slot_of])
    pauses = _short_pauses(problem, x, car)
    unmet = max(0.0, float(problem.needs[car] - x.sum()))
    for i, j in pauses:
        neighbours = [k for k in (i - 1, j) if 0 <= k < len(x)]
        power = min(float(x[k] / hours[k]) for k in neighbours)
        if power < floor_kw - TOLERANCE:
            continue
        add = power * hours[i:j]
        rooms = [
            problem.cap_kw[int(t)] * problem.slots[int(t)].hours - used[int(t)]
            for t in slot_of[i:j]
        ]
        if any(a > r + TOLERANCE for a, r in zip(add, rooms, strict=True)):
            continue
        candidate = x.copy()
        candidate[i:j] = add
        owed = float(add.sum()) - unmet
        donors = sorted(
            (k for k in range(len(x)) if not i <= k < j),
            key=lambda k: (tuple(-float(w[first + k]) for w in problem.weights), int(slot_of[k])),
        )
        for k in donors:
            if owed <= 0:
                break
            keep = float(problem.edge_min[first + k])
            if floor_kw > 0 and x[k] >= floor_kw * hours[k] - TOLERANCE:
                keep = max(keep, floor_kw * hours[k])
            elif floor_kw > 0:
                keep = float(x[k])  # already under the floor: not made any smaller
            take = min(owed, float(x[k]) - keep)
            if take > 0:
                candidate[k] -= take
                owed -= take
        if owed > TOLERANCE:
            continue
        if len(_short_pauses(problem, candidate, car)) < len(pauses):
            return candidate
    return None
