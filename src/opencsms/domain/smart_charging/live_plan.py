"""From a group's inputs to stored plans and station targets: pure functions.

:func:`plan_group` plans every active session of a group (a site, or a lone
station) with the same engines ``opencsms plan`` uses: the joint site LP when
the site has a limit, else the exact single-car planner per car. On top:

- **the switch**: a station switched ``on`` charges at full power now (its
  load is taken off the ceiling the smart cars share); ``off`` charges nothing;
- **no signal now**: when the objective's signal does not cover ``now`` there
  is nothing to optimise, so cars charge as soon as possible (within the cap):
  the planners get a synthetic series that only ever rises, whose cheapest
  slots are the earliest ones, and the plan says so in its notes;
- **tellable segments**: a segment under 6 A (a partial slot spread over the
  control interval, a sliver of an LP) would be sent as 0 and the car would
  end that much short, under the drift floor that would re-plan it: it is
  told at 6 A for a shorter time against its charging neighbour (the same
  energy) where the cap has room then; else it stays as the LP made it (sent as 0, the car falls
  behind and is re-planned: dropping it would hide the missing energy from
  the plan, and a site of cars sharing less than 6 A each lost most of its
  plan that way) (:func:`tellable`);
- **incremental re-plans**: a re-plan for metered drift, a stop, a plug-in or
  a station coming back keeps every smart session whose plan is on track
  (not behind by more than :data:`BEHIND_KWH`, no shortfall) and plans the
  others jointly within what the kept plans leave of the cap. A full LP of
  the site has many optima of equal cost: re-planned every few minutes, it
  moved cars' slots later and later until some could no longer be served
  (e2e). When one of the rest cannot be served that way, the whole site is
  planned again, except for drift (a car behind its plan is planned in what
  the others leave, and a drift re-plan keeps plans younger than
  :data:`DRIFT_REPLAN_AFTER`); where what they leave puts one of the rest
  under 6 A, a kept plan lends the gap by a swap (:mod:`.site_swaps`);
- **after the plan**: a plan with a shortfall (the need cannot be met by
  departure) or with energy beyond the signals' reach keeps charging at full
  power after its segments (``ConnectorTarget.after_kw``), so a car is never
  stopped for lack of a plan.

What each station then holds is :mod:`.station_targets`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from opencsms.domain.smart_charging.live_inputs import GroupInputs, SessionInput
from opencsms.domain.smart_charging.planner import (
    PRICE,
    CarPlan,
    ChargeRequest,
    Objective,
    Segment,
    charge_now_segments,
    finish_plan,
    plan_car,
)
from opencsms.domain.smart_charging.profiles import min_charging_kw
from opencsms.domain.smart_charging.rates import Rate, rate_at
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    StoredPlan,
)
from opencsms.domain.smart_charging.session_view import behind_kwh
from opencsms.domain.smart_charging.site_planner import plan_site
from opencsms.domain.smart_charging.site_swaps import Kept, swap_slivers

ASAP_STEP = timedelta(minutes=15)
ASAP_UNIT = "asap"
BEHIND_KWH = 0.03
"""A session this far behind its plan (metered vs planned since it was made)
is re-planned: less would end a car short only by what a meter rounds."""
DRIFT_REPLAN_AFTER = timedelta(minutes=5)
"""A drift re-plan keeps plans younger than this: re-planned every minute, a
tight night churned (every re-plan cut slots at ``now`` and moved the cars a
little; the plans broke into minutes-long segments that single-period caps
could not follow, e2e)."""
INCREMENTAL = frozenset({"drift", "stop", "plug-in", "reconnect"})
"""Re-plan reasons that keep the plans on track (see the module docstring)."""
FLOOR_KW = min_charging_kw()
"""Less than this (6 A at 230 V x 3) is sent as 0."""


def asap_rates(start: datetime, end: datetime) -> list[Rate]:
    """A series that rises every step: its cheapest slots are the earliest."""
    rates: list[Rate] = []
    at, value = start, 0.0
    while at < end:
        rates.append(Rate(at, min(at + ASAP_STEP, end), value, ASAP_UNIT))
        at, value = at + ASAP_STEP, value + 1.0
    return rates


def subtract_load(cap: Sequence[Rate], segments: Sequence[Segment]) -> list[Rate]:
    """``cap`` minus the power of ``segments`` (never below 0), step by step."""
    if not segments:
        return list(cap)
    out: list[Rate] = []
    for left, right, value in pieces(cap, [segments]):
        load = sum(s.power_kw for s in segments if s.start <= left < s.end)
        out.append(Rate(left, right, max(0.0, value - load), cap[0].unit))
    return out


def pieces(
    cap: Sequence[Rate], loads: Sequence[Sequence[Segment]]
) -> list[tuple[datetime, datetime, float]]:
    """``cap``'s steps cut at every segment boundary inside them."""
    pieces: list[tuple[datetime, datetime, float]] = []
    for step in cap:
        points = {step.start, step.end}
        for segments in loads:
            for s in segments:
                for t in (s.start, s.end):
                    if step.start < t < step.end:
                        points.add(t)
        ordered = sorted(points)
        pieces.extend((a, b, step.value) for a, b in itertools.pairwise(ordered))
    return pieces


def _request(
    station_id: str, session: SessionInput, now: datetime, site: str | None
) -> ChargeRequest:
    need = session.assumed
    return ChargeRequest(
        car_id=str(session.transaction.id),
        plug_in=now,
        departure=need.departure,
        max_power_kw=session.max_power_kw,
        energy_kwh=session.remaining_kwh,
        precondition_minutes=need.precondition_minutes,
        continuous=need.continuous,
        site_id=site,
    )


def _active_segment(session: SessionInput, now: datetime, price: Sequence[Rate]) -> Segment | None:
    """The part of the current plan's segment charging at ``now`` that lies
    in the slot of ``now`` (the signal's step): what a re-plan keeps. A merged
    segment can run for hours; kept whole it held the cap for cars due
    earlier (e2e: four cars planned nothing at 01:45 and ended short)."""
    plan = session.latest_plan
    if plan is None or plan.method in ("on", "off"):
        return None
    for segment in plan.segments:
        # a segment under the floor is sent as 0: the car is not charging
        if segment.start <= now < segment.end and segment.power_kw >= FLOOR_KW - 1e-9:
            slot = rate_at(price, now)
            end = segment.end if slot is None else min(segment.end, slot.end)
            return Segment(now, end, segment.power_kw)
    return None


def _active_until(session: SessionInput, now: datetime, price: Sequence[Rate]) -> datetime | None:
    segment = _active_segment(session, now, price)
    return segment.end if segment is not None else None


def _actives(
    smart: Sequence[tuple[str, SessionInput]],
    requests: Sequence[ChargeRequest],
    now: datetime,
    price: Sequence[Rate],
) -> tuple[dict[str, datetime], dict[str, float]]:
    """Per car charging now, the end of its slot and the power it charges at
    (never ended early: issue 5's comfort rule; without it re-plans a minute
    apart stopped and started cars as equal-cost plans alternated)."""
    until: dict[str, datetime] = {}
    power: dict[str, float] = {}
    for (_, session), request in zip(smart, requests, strict=True):
        segment = _active_segment(session, now, price)
        if segment is not None:
            until[request.car_id] = segment.end
            power[request.car_id] = segment.power_kw
    return until, power


def _previous(
    smart: Sequence[tuple[str, SessionInput]], requests: Sequence[ChargeRequest], now: datetime
) -> dict[str, list[Segment]]:
    """Per car with a smart plan in force, its segments from ``now`` on (the
    site LP stays as close to them as the objective allows)."""
    out: dict[str, list[Segment]] = {}
    for (_, session), request in zip(smart, requests, strict=True):
        plan = session.latest_plan
        if plan is None or plan.method in ("on", "off"):
            continue
        out[request.car_id] = [
            Segment(max(s.start, now), s.end, s.power_kw) for s in plan.segments if s.end > now
        ]
    return out


def _stored(
    station_id: str,
    session: SessionInput,
    plan: CarPlan,
    *,
    now: datetime,
    reason: str,
    method: str,
    notes: Sequence[str] = (),
    priced: bool = True,
) -> StoredPlan:
    notes = list(notes)
    if plan.shortfall_kwh > 1e-6:
        notes.append(
            f"{plan.shortfall_kwh:.2f} kWh cannot be charged by departure: "
            "full power, and on while connected"
        )
    if plan.unplanned_kwh > 1e-6:
        notes.append(
            f"{plan.unplanned_kwh:.2f} kWh beyond the signals: full power after the plan "
            "until signals reach further"
        )
    t = session.transaction
    return StoredPlan(
        id=0,
        transaction_id=t.id,
        station_id=station_id,
        connector_id=t.connector_id,
        created_at=now,
        reason=reason,
        method=method,
        # to the mW: an LP's 5.8600000424 kW must not read as more than a 5.860 share
        segments=tuple(replace(s, power_kw=round(s.power_kw, 6)) for s in plan.segments),
        need_kwh=session.remaining_kwh,
        shortfall_kwh=plan.shortfall_kwh,
        unplanned_kwh=plan.unplanned_kwh,
        charge_now=plan.charge_now,
        cost=plan.cost if priced else None,
        co2_g=plan.co2_g if priced else None,
        baseline_cost=plan.baseline_cost if priced else None,
        baseline_co2_g=plan.baseline_co2_g if priced else None,
        notes=tuple(notes),
    )


def tellable(
    plans: Sequence[CarPlan],
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    now: datetime,
    *,
    cap: Sequence[Rate] | None = None,
    other_load: Sequence[Segment] = (),
) -> list[CarPlan]:
    """``plans`` with every segment under :data:`FLOOR_KW` told at it, shorter
    (:func:`_at_floor`), where ``cap`` (less ``other_load`` and the other
    plans) has room all along (else left as it is); costs recomputed. Plans without one are
    returned as they are."""
    out = list(plans)
    for index, plan in enumerate(plans):
        if not any(0 < s.power_kw < FLOOR_KW - 1e-9 for s in plan.segments):
            continue
        segments: list[Segment] = []
        for segment in plan.segments:
            if not 0 < segment.power_kw < FLOOR_KW - 1e-9:
                segments.append(segment)
                continue
            raised = _at_floor(segment, plan.segments)
            if cap is not None:
                others = [s for i, p in enumerate(out) if i != index for s in p.segments]
                if not _fits(cap, [*others, *other_load, *segments, raised], raised):
                    segments.append(segment)  # no room: as planned (see the docstring)
                    continue
            segments.append(raised)
        out[index] = finish_plan(
            requests[index],
            segments,
            price,
            co2,
            now,
            shortfall=plan.shortfall_kwh,
            unplanned=plan.unplanned_kwh,
            charge_now=plan.charge_now,
        )
    return out


def _at_floor(segment: Segment, neighbours: Sequence[Segment]) -> Segment:
    """``segment``'s energy at :data:`FLOOR_KW`, shorter, against the charging
    neighbour it touches (so no extra stop and start; the plan's energy stays)."""
    length = timedelta(hours=segment.energy_kwh / FLOOR_KW)
    if any(n.start == segment.end and n.power_kw > 0 for n in neighbours) and not any(
        n.end == segment.start and n.power_kw > 0 for n in neighbours
    ):
        return Segment(segment.end - length, segment.end, FLOOR_KW)
    return Segment(segment.start, segment.start + length, FLOOR_KW)


def _fits(cap: Sequence[Rate], load: Sequence[Segment], segment: Segment) -> bool:
    """Whether ``load`` stays within ``cap`` all along ``segment`` (a stretch
    the cap does not cover has no room)."""
    steps = [
        Rate(max(r.start, segment.start), min(r.end, segment.end), r.value, r.unit)
        for r in cap
        if r.start < segment.end and r.end > segment.start
    ]
    covered = sum((r.end - r.start).total_seconds() for r in steps)
    if covered < (segment.end - segment.start).total_seconds() - 1e-6:
        return False
    for left, _, value in pieces(steps, [load]):
        total = sum(s.power_kw for s in load if s.start <= left < s.end)
        if total > value + 1e-9:
            return False
    return True


def plan_group(inputs: GroupInputs, reason: str) -> list[StoredPlan]:
    """A new plan for every active session of the group (ids 0: not stored yet)."""
    now = inputs.now
    site = inputs.site
    site_id = site.site_id if site is not None else None
    objective = site.objective if site is not None else PRICE
    price, co2 = list(inputs.price), list(inputs.co2)
    out: list[StoredPlan] = []
    on_segments: list[Segment] = []
    smart: list[tuple[str, SessionInput]] = []
    for member in inputs.members:
        for session in member.sessions:
            request = _request(member.station_id, session, now, site_id)
            if member.mode is ChargingMode.OFF:
                plan = finish_plan(
                    request, [], price, co2, now, shortfall=0.0, unplanned=0.0, charge_now=False
                )
                out.append(
                    _stored(
                        member.station_id,
                        session,
                        plan,
                        now=now,
                        reason=reason,
                        method="off",
                        notes=["switched off"],
                    )
                )
            elif member.mode is ChargingMode.ON:
                end = max(request.departure, now + timedelta(hours=1))
                segments = charge_now_segments(now, end, request.max_power_kw, request.energy_kwh)
                on_segments.extend(segments)
                plan = finish_plan(
                    request,
                    segments,
                    price,
                    co2,
                    now,
                    shortfall=0.0,
                    unplanned=0.0,
                    charge_now=True,
                )
                out.append(
                    _stored(
                        member.station_id,
                        session,
                        plan,
                        now=now,
                        reason=reason,
                        method="on",
                        notes=["switched on: full power now"],
                    )
                )
            else:
                smart.append((member.station_id, session))
    if not smart:
        return out
    notes: list[str] = []
    priced = True
    missing = [
        name
        for name, series, needed in (
            ("price", price, objective.needs_price),
            ("CO2", co2, objective.needs_co2),
        )
        if needed and rate_at(series, now) is None
    ]
    if missing:
        notes.append(f"no {' or '.join(missing)} signal covers now: charging as soon as possible")
        price, co2, objective, priced = asap_rates(now, inputs.horizon), [], PRICE, False
    requests = [_request(st, s, now, site_id) for st, s in smart]
    if inputs.cap is not None and reason in INCREMENTAL and not missing:
        partial = _plan_the_rest(
            smart, requests, price, co2, inputs.cap, on_segments, now, objective, reason
        )
        if partial is not None:
            rest, method = partial
            out.extend(
                _stored(station_id, session, plan, now=now, reason=reason, method=method)
                for (station_id, session), plan in rest
            )
            return out
    if inputs.cap is not None:
        cap = subtract_load(inputs.cap, on_segments)
        method, site_plans = _plan_jointly(smart, requests, price, co2, cap, objective, now)
        for (station_id, session), plan in zip(smart, site_plans, strict=True):
            out.append(
                _stored(
                    station_id,
                    session,
                    plan,
                    now=now,
                    reason=reason,
                    method=method,
                    notes=notes,
                    priced=priced,
                )
            )
        return out
    for (station_id, session), request in zip(smart, requests, strict=True):
        plan = plan_car(
            request,
            price,
            co2,
            now=now,
            objective=objective,
            active_until=_active_until(session, now, price),
        )
        [plan] = tellable([plan], [request], price, co2, now)
        out.append(
            _stored(
                station_id,
                session,
                plan,
                now=now,
                reason=reason,
                method="single",
                notes=notes,
                priced=priced,
            )
        )
    return out


def on_track(session: SessionInput, now: datetime, reason: str) -> bool:
    """Whether the session's plan in force still serves it: a smart plan with
    no shortfall, not behind by more than :data:`BEHIND_KWH`. For a drift
    re-plan, a plan younger than :data:`DRIFT_REPLAN_AFTER` is kept as it is."""
    plan = session.latest_plan
    if plan is None or plan.method not in ("lp", "greedy", "single"):
        return False
    if reason == "drift" and now - plan.created_at < DRIFT_REPLAN_AFTER:
        return True
    if plan.shortfall_kwh > 1e-6 or plan.unplanned_kwh > 1e-6:
        return False
    planned, metered = behind_kwh(session.transaction, plan, session.samples)
    return planned - metered <= BEHIND_KWH


def _plan_the_rest(
    smart: Sequence[tuple[str, SessionInput]],
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    cap: Sequence[Rate],
    on_segments: Sequence[Segment],
    now: datetime,
    objective: Objective,
    reason: str,
) -> tuple[list[tuple[tuple[str, SessionInput], CarPlan]], str] | None:
    """Plans for the sessions not on track, within the cap the kept plans
    leave; None when every session must be planned again (none is kept, or
    one of the rest would be short of its need and ``reason`` is not drift)."""
    kept_load: list[Segment] = []
    rest: list[int] = []
    for index, (_, session) in enumerate(smart):
        plan = session.latest_plan
        if plan is not None and on_track(session, now, reason):
            kept_load.extend(
                Segment(max(s.start, now), s.end, s.power_kw) for s in plan.segments if s.end > now
            )
        else:
            rest.append(index)
    if len(rest) == len(smart):
        return None
    if not rest:
        return [], "lp"
    left = subtract_load(cap, [*on_segments, *kept_load])
    their = [requests[i] for i in rest]
    theirs = [smart[i] for i in rest]
    method, plans = _plan_jointly(theirs, their, price, co2, left, objective, now)
    if reason != "drift" and any(new.shortfall_kwh > 1e-6 for new in plans):
        # a short car gets the whole site's help (the kept plans may give way),
        # not what the others left: an infeasible car left with nothing got 0
        # until departure (e2e at 200x: 2.6 of 8 kWh). Not for drift: a car
        # behind its plan is planned in what the others leave; re-planning the
        # whole site for it every few minutes moved every car and left the
        # cars 8.7 kWh short in all at the end of the e2e night (1.2 without).
        return None
    kept = [i for i in range(len(smart)) if i not in set(rest)]
    swapped = _swapped(dict(zip(rest, plans, strict=True)), kept, smart, requests, price, co2, now)
    return [(smart[i], plan) for i, plan in swapped.items()], method


def _swapped(
    rest: dict[int, CarPlan],
    kept: Sequence[int],
    smart: Sequence[tuple[str, SessionInput]],
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    now: datetime,
) -> dict[int, CarPlan]:
    """``rest`` (plans by index in ``smart``) with their slivers under 6 A
    lifted by swaps with the ``kept`` plans (:mod:`.site_swaps`), and the
    kept plans a swap changed."""
    if not any(_under_floor(plan) for plan in rest.values()):
        return rest
    others = []
    for i in kept:
        stored = smart[i][1].latest_plan
        assert stored is not None  # kept: on track
        segments = tuple(
            Segment(max(s.start, now), s.end, s.power_kw) for s in stored.segments if s.end > now
        )
        others.append(Kept(segments, requests[i].max_power_kw))
    out = dict(rest)
    for i, plan in rest.items():
        if not _under_floor(plan):
            continue
        mine, changed = swap_slivers(plan.segments, others, FLOOR_KW)
        if not changed:
            continue
        out[i] = finish_plan(
            requests[i], mine, price, co2, now, shortfall=plan.shortfall_kwh,
            unplanned=plan.unplanned_kwh, charge_now=plan.charge_now,
        )  # fmt: skip
        for index, theirs in changed.items():
            others[index] = Kept(tuple(theirs), others[index].max_power_kw)
            out[kept[index]] = finish_plan(
                requests[kept[index]], theirs, price, co2, now, shortfall=0.0, unplanned=0.0,
                charge_now=False,
            )  # fmt: skip
    return out


def _under_floor(plan: CarPlan) -> bool:
    return any(0 < s.power_kw < FLOOR_KW - 1e-9 for s in plan.segments)


def _plan_jointly(
    smart: Sequence[tuple[str, SessionInput]],
    requests: Sequence[ChargeRequest],
    price: Sequence[Rate],
    co2: Sequence[Rate],
    cap: Sequence[Rate],
    objective: Objective,
    now: datetime,
) -> tuple[str, list[CarPlan]]:
    """The site LP for ``smart`` under ``cap`` as the live system plans: active
    slots kept, close to the plans in force, repaired for 6 A and told at it."""
    active_until, active_kw = _actives(smart, requests, now, price)
    site_plan = plan_site(
        requests,
        price,
        co2,
        cap,
        objective=objective,
        active_until=active_until,
        active_kw=active_kw,
        previous=_previous(smart, requests, now),
        floor_kw=FLOOR_KW,
    )
    return site_plan.method, tellable(site_plan.plans, requests, price, co2, now, cap=cap)
