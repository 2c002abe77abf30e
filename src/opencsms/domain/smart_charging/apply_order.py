"""In which order a re-plan's station targets are applied, so that the site's
cap holds *while* they are being replaced.

Each station holds its share of the site's ceiling (ChargePointMaxProfile)
and its sessions' TxProfiles. A re-plan moves power between stations: one
station's share falls while another's rises, and the new shares add up to
the cap only once *every* station holds its new one. Sent in any order, a
station may raise its draw before another has lowered its own, and the
site's total exceeds the cap until the last answer arrives. So a real CSMS
applies in two waves: first every station whose limit goes **down** (and
waits for their answers), then those whose limit goes up or stays.

A station's *limit* at an instant is what it may draw then: the least of its
cap share and the sum of its connectors' plans (a connector past its last
segment draws its ``after_kw``; an idle station is bounded by its share and
its offline default); a station switched off: 0. A station goes down when
its new limit is below its old one at any instant of the *transition
window* (the time the change may take to reach every station; see
:func:`goes_down`). A station whose limit rises at one instant and falls at
another goes in the first wave: it is lowering something.

Residual risk, stated: two first-wave stations that trade power with each
other (one rises where the other falls, within the window) are applied
concurrently; their transition can still overshoot. That needs a
pointwise-minimum profile sent first, at twice the messages; not done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import ChargingMode, StationTarget

TOLERANCE_KW = 0.05


def _step_at(steps: Sequence[Rate], at: datetime) -> float:
    """The step in force at ``at``; the last holds forever (a station keeps
    its last period); before the first: the first."""
    if not steps:
        return math.inf
    value = steps[0].value
    for step in steps:
        if step.start <= at:
            value = step.value
    return value


def limit_kw(target: StationTarget, at: datetime) -> float:
    """What the station may draw at ``at`` under ``target`` (see the module docstring)."""
    if target.mode is ChargingMode.OFF:
        return 0.0
    cap = _step_at(target.station_cap_kw, at) if target.station_cap_kw else math.inf
    if not target.connectors:
        default = target.default_limit_kw if target.default_limit_kw is not None else math.inf
        return min(cap, default)
    drawn = 0.0
    for connector in target.connectors:
        power = next(
            (s.power_kw for s in connector.segments if s.start <= at < s.end),
            None,
        )
        if power is None:
            last = max((s.end for s in connector.segments), default=None)
            after = connector.after_kw if connector.after_kw is not None else 0.0
            power = after if last is None or at >= last else 0.0
        drawn += power
    return min(cap, drawn)


def _edges(target: StationTarget) -> Iterable[datetime]:
    for step in target.station_cap_kw or ():
        yield step.start
    for connector in target.connectors:
        for segment in connector.segments:
            yield segment.start
            yield segment.end


def goes_down(
    old: StationTarget | None, new: StationTarget, start: datetime, end: datetime
) -> bool:
    """Whether ``new`` allows less than ``old`` at some instant of
    ``[start, end)`` (the transition window). Unknown ``old`` (first apply
    since this node started): yes, to be safe."""
    if old is None:
        return True
    instants = {start} | {t for t in (*_edges(old), *_edges(new)) if start <= t < end}
    return any(limit_kw(new, at) < limit_kw(old, at) - TOLERANCE_KW for at in instants)


def waves(
    previous: dict[str, StationTarget],
    targets: Sequence[StationTarget],
    start: datetime,
    end: datetime,
) -> tuple[list[StationTarget], list[StationTarget]]:
    """(stations going down, the rest), each in the order given."""
    down: list[StationTarget] = []
    up: list[StationTarget] = []
    for target in targets:
        old = previous.get(target.station_id)
        (down if goes_down(old, target, start, end) else up).append(target)
    return down, up
