"""The charging planner for one car with no shared limit: exact, by cheapest slots.

A car needs ``energy_kwh`` between ``start`` and ``departure`` at no more than
``max_power_kw``. Cutting time at every signal boundary gives *slots* in which
price and CO2 are constant; the objective gives each slot a weight (a tuple
so that "money first, CO2 as tie-break" is a plain lexicographic order).
Filling the lightest slots first, the last one in part, is exactly optimal
(a fractional knapsack with one item per slot) — the joint LP in
:mod:`~opencsms.domain.smart_charging.site_planner` gives the same cost and the
property tests check that it does.

Rules from issue 5 on top of the optimum, each in the function that applies it:

- ties go to the *later* slot (the car stays flexible longer);
- the one partial slot sits against its charging neighbour (charging ends as
  the next slot begins, or begins as the previous one ends; across the whole
  slot at lower power when both neighbours charge), so it adds no stop/start;
  it never lasts less than the control interval (it runs longer at lower
  power, same energy, same cost);
- if the need cannot be met by departure, charge at full power from now and
  flag the shortfall (``charge_now``);
- never end an active slot early (``active_until``) and never pause for 15
  minutes or less (gaps that short are charged through, when the need allows);
- ``precondition_minutes`` charges just before departure; ``continuous``
  charges in one block (the cheapest window, ties to the later one);
- plan only over time the signals cover (``rates.covered_until``); energy that
  does not fit there is reported as ``unplanned_kwh``, to plan when the
  signals reach further.

Times are aware UTC datetimes; energies kWh, powers kW, prices per kWh in the
price rates' unit, CO2 in g/kWh.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from opencsms.domain.smart_charging.rates import Rate, covered_until

ObjectiveMode = Literal["price", "co2", "price+co2", "price_then_co2"]
OBJECTIVE_MODES: tuple[ObjectiveMode, ...] = ("price", "co2", "price+co2", "price_then_co2")
DEFAULT_CONTROL_INTERVAL = timedelta(minutes=15)
MAX_PAUSE = timedelta(minutes=15)
EPSILON_KWH = 1e-9
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Objective:
    """What a plan minimises. ``price+co2`` is ``price + lam * co2`` (``lam`` in
    price units per gram, per tenant); ``price_then_co2`` minimises money and
    breaks ties by CO2."""

    mode: ObjectiveMode = "price"
    lam: float = 0.0

    @property
    def needs_price(self) -> bool:
        return self.mode != "co2"

    @property
    def needs_co2(self) -> bool:
        return self.mode != "price"

    def weight(self, price: float | None, co2: float | None) -> tuple[float, ...]:
        """The slot's weight per kWh; smaller is better, compared as tuples."""
        p, c = price or 0.0, co2 or 0.0
        if self.mode == "price":
            return (p,)
        if self.mode == "co2":
            return (c,)
        if self.mode == "price+co2":
            return (p + self.lam * c,)
        return (p, c)


PRICE = Objective()
"""The default objective: money only."""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """One car's need. ``plug_in`` is when it can start; ``site_id`` names the
    shared limit it sits behind (None: none)."""

    car_id: str
    plug_in: datetime
    departure: datetime
    max_power_kw: float
    energy_kwh: float
    precondition_minutes: int = 0
    continuous: bool = False
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """Charge at ``power_kw`` over ``[start, end)``."""

    start: datetime
    end: datetime
    power_kw: float

    @property
    def energy_kwh(self) -> float:
        return self.power_kw * (self.end - self.start).total_seconds() / HOUR


@dataclass(frozen=True, slots=True)
class Slot:
    """A stretch of time in which every signal is constant (None: no signal)."""

    start: datetime
    end: datetime
    price: float | None
    co2: float | None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / HOUR


@dataclass(frozen=True, slots=True)
class CarPlan:
    """A car's schedule and what it costs against charging now.

    ``shortfall_kwh``: what cannot be charged by departure at full power (the
    plan is then ``charge_now``); ``unplanned_kwh``: what fits before departure
    but not in the time the signals cover. Cost and CO2 are None when a
    charged stretch has no signal."""

    car_id: str
    segments: tuple[Segment, ...]
    need_kwh: float
    shortfall_kwh: float
    unplanned_kwh: float
    charge_now: bool
    cost: float | None
    co2_g: float | None
    baseline_cost: float | None
    baseline_co2_g: float | None
    notes: tuple[str, ...] = field(default=())

    @property
    def energy_kwh(self) -> float:
        return sum(segment.energy_kwh for segment in self.segments)

    @property
    def met(self) -> bool:
        return self.shortfall_kwh <= 1e-6 and self.unplanned_kwh <= 1e-6


def build_slots(
    price: Sequence[Rate],
    co2: Sequence[Rate],
    start: datetime,
    end: datetime,
    cuts: Sequence[datetime] = (),
) -> list[Slot]:
    """``[start, end)`` cut at every rate boundary and at ``cuts``; each slot
    carries the price and CO2 in force (None in a gap). Rates normalised."""
    points = {start, end}
    for rates in (price, co2):
        for rate in rates:
            for moment in (rate.start, rate.end):
                if start < moment < end:
                    points.add(moment)
    points.update(moment for moment in cuts if start < moment < end)
    ordered = sorted(points)
    price_at, co2_at = _lookup(price), _lookup(co2)
    return [
        Slot(left, right, price_at(left), co2_at(left))
        for left, right in itertools.pairwise(ordered)
    ]


def _lookup(rates: Sequence[Rate]) -> _Lookup:
    return _Lookup(rates)


class _Lookup:
    """``rate_at`` with the start list built once (plans call it per slot)."""

    def __init__(self, rates: Sequence[Rate]) -> None:
        self.rates = rates
        self.starts = [rate.start for rate in rates]

    def __call__(self, moment: datetime) -> float | None:
        index = bisect.bisect_right(self.starts, moment) - 1
        if index >= 0 and moment < self.rates[index].end:
            return self.rates[index].value
        return None


def account(segments: Sequence[Segment], rates: Sequence[Rate]) -> float | None:
    """Energy × rate over ``segments`` (cost, or grams of CO2); None when any
    charged moment has no rate."""
    total = 0.0
    for segment in segments:
        if segment.power_kw == 0:
            continue
        for slot in build_slots(rates, (), segment.start, segment.end):
            if slot.price is None:
                return None
            total += slot.price * segment.power_kw * slot.hours
    return total


def charge_now_segments(
    start: datetime, departure: datetime, power_kw: float, need_kwh: float
) -> list[Segment]:
    """The baseline: full power from ``start`` until the need is met or departure."""
    if need_kwh <= EPSILON_KWH or departure <= start or power_kw <= 0:
        return []
    end = min(departure, start + timedelta(seconds=need_kwh / power_kw * HOUR))
    return [Segment(start, end, power_kw)]


def plan_car(
    request: ChargeRequest,
    price: Sequence[Rate],
    co2: Sequence[Rate] = (),
    *,
    now: datetime | None = None,
    objective: Objective = PRICE,
    control_interval: timedelta = DEFAULT_CONTROL_INTERVAL,
    active_until: datetime | None = None,
) -> CarPlan:
    """The cheapest schedule (by ``objective``) for one car with no shared limit.

    Preconditions: rates normalised (``rates.normalise``); aware datetimes;
    ``max_power_kw > 0``; ``energy_kwh >= 0``. ``now`` defaults to the plug-in
    time (planning starts at ``max(now, plug_in)``). ``active_until``: the car
    is charging in a slot of its current plan that ends then; the new plan
    keeps charging until then (never end an active slot early) and does not
    pause before a slot that starts within 15 minutes. Signal slots are
    assumed at least ``control_interval`` long (OCPP chargers apply limits no
    faster).
    """
    start = max(now or request.plug_in, request.plug_in)
    power, need, departure = request.max_power_kw, request.energy_kwh, request.departure
    if departure <= start:
        return finish_plan(
            request, [], price, co2, start, shortfall=need, unplanned=0.0, charge_now=True
        )
    reach = power * (departure - start).total_seconds() / HOUR
    if need > reach + EPSILON_KWH:
        segments = [Segment(start, departure, power)]
        return finish_plan(
            request,
            segments,
            price,
            co2,
            start,
            shortfall=need - reach,
            unplanned=0.0,
            charge_now=True,
        )
    horizon = departure
    if objective.needs_price:
        horizon = min(horizon, covered_until(price, start))
    if objective.needs_co2:
        horizon = min(horizon, covered_until(co2, start))
    forced: list[tuple[datetime, datetime]] = []
    if active_until is not None and active_until > start:
        forced.append((start, min(active_until, horizon)))
    if request.precondition_minutes > 0:
        forced.append(
            (max(start, departure - timedelta(minutes=request.precondition_minutes)), horizon)
        )
    forced = [(a, b) for a, b in forced if a < b]
    coverable = power * max(0.0, (horizon - start).total_seconds()) / HOUR
    target = min(need, coverable)
    unplanned = need - target
    if target <= EPSILON_KWH:
        return finish_plan(
            request, [], price, co2, start, shortfall=0.0, unplanned=unplanned, charge_now=False
        )
    if request.continuous:
        segments = _continuous(
            request, price, co2, start, horizon, target, objective, forced, control_interval
        )
    else:
        segments = _cheapest(
            price, co2, start, horizon, power, target, objective, forced, control_interval
        )
        segments = _charge_through_short_pauses(
            segments,
            price,
            co2,
            start,
            horizon,
            power,
            target,
            objective,
            forced,
            control_interval,
            charging_now=active_until is not None,
        )
    return finish_plan(
        request, segments, price, co2, start, shortfall=0.0, unplanned=unplanned, charge_now=False
    )


def finish_plan(
    request: ChargeRequest,
    segments: list[Segment],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    start: datetime,
    *,
    shortfall: float,
    unplanned: float,
    charge_now: bool,
) -> CarPlan:
    baseline = charge_now_segments(
        start, request.departure, request.max_power_kw, request.energy_kwh
    )
    return CarPlan(
        car_id=request.car_id,
        segments=tuple(merge_segments(segments)),
        need_kwh=request.energy_kwh,
        shortfall_kwh=max(0.0, shortfall),
        unplanned_kwh=max(0.0, unplanned),
        charge_now=charge_now,
        cost=account(segments, price) if price else None,
        co2_g=account(segments, co2) if co2 else None,
        baseline_cost=account(baseline, price) if price else None,
        baseline_co2_g=account(baseline, co2) if co2 else None,
    )


def merge_segments(segments: Sequence[Segment]) -> list[Segment]:
    """Adjacent segments at the same power become one; zero power is dropped."""
    merged: list[Segment] = []
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.power_kw <= 0 or segment.end <= segment.start:
            continue
        if (
            merged
            and merged[-1].end == segment.start
            and abs(merged[-1].power_kw - segment.power_kw) < 1e-9
        ):
            merged[-1] = Segment(merged[-1].start, segment.end, segment.power_kw)
        else:
            merged.append(segment)
    return merged


def select_energy(
    slots: Sequence[Slot],
    power_kw: float,
    need_kwh: float,
    objective: Objective,
    forced: Sequence[bool],
) -> list[float]:
    """Energy per slot: forced slots full, then the lightest slots (ties: the
    later slot) until ``need_kwh``, the last in part. Exactly optimal for the
    objective given the forced slots."""
    energy = [
        power_kw * slot.hours if is_forced else 0.0
        for slot, is_forced in zip(slots, forced, strict=True)
    ]
    remaining = need_kwh - sum(energy)
    order = sorted(
        (i for i in range(len(slots)) if not forced[i]),
        key=lambda i: (objective.weight(slots[i].price, slots[i].co2), -slots[i].start.timestamp()),
    )
    for i in order:
        if remaining <= EPSILON_KWH:
            break
        take = min(power_kw * slots[i].hours, remaining)
        energy[i] = take
        remaining -= take
    return energy


def _cheapest(
    price: Sequence[Rate],
    co2: Sequence[Rate],
    start: datetime,
    horizon: datetime,
    power: float,
    target: float,
    objective: Objective,
    forced: Sequence[tuple[datetime, datetime]],
    control_interval: timedelta,
) -> list[Segment]:
    slots = build_slots(price, co2, start, horizon, [t for pair in forced for t in pair])
    is_forced = [any(a <= slot.start and slot.end <= b for a, b in forced) for slot in slots]
    energy = select_energy(slots, power, target, objective, is_forced)
    return _segments(slots, energy, power, control_interval)


def _segments(
    slots: Sequence[Slot], energy: Sequence[float], power: float, control_interval: timedelta
) -> list[Segment]:
    """Slots' energies as segments; a partial slot sits against its charging
    neighbour and lasts at least the control interval (at lower power)."""
    segments: list[Segment] = []
    for i, slot in enumerate(slots):
        e = energy[i]
        if e <= EPSILON_KWH:
            continue
        full = power * slot.hours
        if e >= full - EPSILON_KWH:
            segments.append(Segment(slot.start, slot.end, power))
            continue
        before = i > 0 and slots[i - 1].end == slot.start and energy[i - 1] > EPSILON_KWH
        after = (
            i + 1 < len(slots) and slots[i + 1].start == slot.end and energy[i + 1] > EPSILON_KWH
        )
        if before and after:
            segments.append(Segment(slot.start, slot.end, e / slot.hours))
            continue
        length = timedelta(seconds=e / power * HOUR)
        length = min(max(length, control_interval), slot.end - slot.start)
        rate = e / (length.total_seconds() / HOUR)
        if before:
            segments.append(Segment(slot.start, slot.start + length, rate))
        else:
            segments.append(Segment(slot.end - length, slot.end, rate))
    return segments


def _charge_through_short_pauses(
    segments: list[Segment],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    start: datetime,
    horizon: datetime,
    power: float,
    target: float,
    objective: Objective,
    forced: list[tuple[datetime, datetime]],
    control_interval: timedelta,
    *,
    charging_now: bool,
) -> list[Segment]:
    """Never pause for :data:`MAX_PAUSE` or less: such a gap (and, when the car
    is charging now, the wait until a first segment that starts that soon) is
    forced to full power and the rest re-selected, as long as the forced
    energy alone stays within the need; repeated until no short pause is left."""
    for _ in range(64):
        merged = merge_segments(segments)
        gaps = [
            (a.end, b.start) for a, b in itertools.pairwise(merged) if b.start - a.end <= MAX_PAUSE
        ]
        if charging_now and merged and start < merged[0].start <= start + MAX_PAUSE:
            gaps.append((start, merged[0].start))
        fresh = [gap for gap in gaps if gap not in forced]
        if not fresh:
            return segments
        candidate = forced + fresh
        forced_energy = sum(power * (b - a).total_seconds() / HOUR for a, b in _union(candidate))
        if forced_energy > target + EPSILON_KWH:
            return segments
        forced = candidate
        segments = _cheapest(
            price, co2, start, horizon, power, target, objective, forced, control_interval
        )
    return segments


def _union(intervals: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    result: list[tuple[datetime, datetime]] = []
    for a, b in sorted(intervals):
        if result and a <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], b))
        else:
            result.append((a, b))
    return result


def _continuous(
    request: ChargeRequest,
    price: Sequence[Rate],
    co2: Sequence[Rate],
    start: datetime,
    horizon: datetime,
    target: float,
    objective: Objective,
    forced: Sequence[tuple[datetime, datetime]],
    control_interval: timedelta,
) -> list[Segment]:
    """One block of ``target / power`` hours (at least the control interval):
    the lightest window, ties to the later one. A window's weight is piecewise
    linear in its start, so the best start puts an edge on a slot boundary;
    only those starts are tried. An active slot pins the block to ``start``, a
    precondition to the horizon's end."""
    power = request.max_power_kw
    length = timedelta(seconds=target / power * HOUR)
    length = min(max(length, control_interval), horizon - start)
    rate = target / (length.total_seconds() / HOUR)
    slots = build_slots(price, co2, start, horizon)
    if any(a == start for a, _ in forced) and request.precondition_minutes == 0:
        candidates = [start]
    elif request.precondition_minutes > 0:
        candidates = [horizon - length]
    else:
        edges = {slot.start for slot in slots} | {slot.end for slot in slots}
        candidates = sorted(
            {e for e in edges if e + length <= horizon}
            | {e - length for e in edges if e - length >= start}
        )

    def weight(begin: datetime) -> tuple[float, ...]:
        total: tuple[float, ...] = ()
        for slot in slots:
            a, b = max(slot.start, begin), min(slot.end, begin + length)
            if a < b:
                w = objective.weight(slot.price, slot.co2)
                e = rate * (b - a).total_seconds() / HOUR
                total = tuple(x + e * y for x, y in zip(total or (0.0,) * len(w), w, strict=True))
        return tuple(round(x, 9) for x in total)

    best = min(candidates, key=lambda begin: (weight(begin), -begin.timestamp()))
    return [Segment(best, best + length, rate)]
