"""From plans to what each station of a group should hold: pure functions.

:func:`station_targets` turns the plans in force into one
:class:`~.records.StationTarget` per member: its TxProfile plans, its share
of the site ceiling (:func:`cap_shares`), its own planned load (what a
single-period cap need not take early) and the offline default.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from opencsms.domain.smart_charging.live_inputs import GroupInputs
from opencsms.domain.smart_charging.live_plan import pieces
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ConnectorTarget,
    StationTarget,
    StoredPlan,
)

SHARE_STEP_KW = 0.1
"""Headroom shares are rounded *down* to this, so that they never add up to more than the cap."""


def keeps_charging(plan: StoredPlan) -> bool:
    """Whether the connector charges on at full power after the plan's segments."""
    return plan.method == "on" or (
        plan.method != "off" and (plan.shortfall_kwh > 1e-6 or plan.unplanned_kwh > 1e-6)
    )


def cap_shares(
    cap: Sequence[Rate], loads: Mapping[str, Sequence[Segment]]
) -> dict[str, tuple[Rate, ...]]:
    """Each station's share of ``cap`` (kW steps): its planned power plus an
    equal part of the headroom, so that the shares add up to the cap and each
    station can draw its plan. When the plans exceed the cap (stations switched
    on), the cap is split in proportion to the plans. Rounded down to
    :data:`SHARE_STEP_KW`; adjacent equal steps merged."""
    stations = sorted(loads)
    shares: dict[str, list[Rate]] = {s: [] for s in stations}
    if not stations:
        return {}
    for left, right, value in pieces(cap, list(loads.values())):
        load = {
            s: sum(seg.power_kw for seg in loads[s] if seg.start <= left < seg.end)
            for s in stations
        }
        total = sum(load.values())
        for s in stations:
            if total > value + 1e-6:  # over the cap, not by LP noise
                share = load[s] * value / total
                share = math.floor(share / SHARE_STEP_KW + 1e-6) * SHARE_STEP_KW
            else:
                # never under the plan (the TxProfile asks floor(plan), the cap
                # floor(plan + headroom): the cap never binds below the plan)
                headroom = max(0.0, value - total) / len(stations)
                share = load[s] + math.floor(headroom / SHARE_STEP_KW + 1e-6) * SHARE_STEP_KW
            # to the W, down; a mW over is LP noise (2.23399996 for 2.234), not a W
            share = math.floor(share * 1000 + 1e-3) / 1000
            steps = shares[s]
            if steps and steps[-1].end == left and steps[-1].value == share:
                steps[-1] = replace(steps[-1], end=right)
            else:
                steps.append(Rate(left, right, share, "kW"))
    return {s: tuple(steps) for s, steps in shares.items()}


def load_steps(segments: Sequence[Segment]) -> tuple[Rate, ...]:
    """The summed power of ``segments`` as kW steps (none where it is 0)."""
    points = sorted({t for s in segments for t in (s.start, s.end)})
    steps: list[Rate] = []
    for left, right in itertools.pairwise(points):
        kw = sum(s.power_kw for s in segments if s.start <= left < s.end)
        if kw <= 0:
            continue
        if steps and steps[-1].end == left and steps[-1].value == kw:
            steps[-1] = replace(steps[-1], end=right)
        else:
            steps.append(Rate(left, right, kw, "kW"))
    return tuple(steps)


def station_targets(
    inputs: GroupInputs,
    plans: Mapping[int, StoredPlan],
    offline_limit_kw: float | None,
) -> list[StationTarget]:
    """One target per member from the plans in force (by transaction id; a
    session without one yet charges at its full power, bounded by its
    station's share of the cap)."""
    connectors: dict[str, list[ConnectorTarget]] = {}
    loads: dict[str, list[Segment]] = {}
    for member in inputs.members:
        targets = connectors.setdefault(member.station_id, [])
        load = loads.setdefault(member.station_id, [])
        for session in member.sessions:
            t = session.transaction
            plan = plans.get(t.id)
            segments = plan.segments if plan is not None else ()
            # no plan yet (its plug-in re-plan is on its way): full power within
            # the station's share, never 0 for lack of a plan
            after = session.max_power_kw if plan is None or keeps_charging(plan) else None
            targets.append(ConnectorTarget(t.connector_id, t.id, t.started_at, segments, after))
            if member.mode is not ChargingMode.OFF:
                load.extend(segments)
    site = inputs.site
    shares: dict[str, tuple[Rate, ...]] = {}
    default = offline_limit_kw
    if site is not None and site.limit is not None and inputs.cap is not None:
        shares = cap_shares(inputs.cap, loads)
        if inputs.members:
            per_station = site.limit.limit_kw / len(inputs.members)
            default = math.floor(per_station / SHARE_STEP_KW + 1e-6) * SHARE_STEP_KW
    return [
        StationTarget(
            station_id=member.station_id,
            mode=member.mode,
            connectors=tuple(connectors[member.station_id]),
            station_cap_kw=shares.get(member.station_id) if shares else None,
            default_limit_kw=default,
            own_load_kw=load_steps(loads[member.station_id]) if shares else (),
        )
        for member in inputs.members
    ]
