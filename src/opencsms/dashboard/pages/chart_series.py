"""Chart JSON for dashboard.js: several series on one time axis, at most
:data:`MAX_POINTS` points.

uPlot wants one shared x array and one y array per series, with ``null``
where a series says nothing. Series here come in two kinds: *steps* (a plan,
a cap, a price: a value that holds over an interval) and *lines* (readings:
power drawn, energy delivered). At every x a step series shows the value in
force then, and a line series the straight line between its neighbouring
readings (what the chart would draw anyway): so a plan boundary between two
readings does not break the drawn-power line into gaps. Outside a series'
span its value is ``null``.

Readings are thinned *before* the union (evenly by index: a session's
readings are evenly spaced in time), so the x axis stays under the cap
however long the session ran.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_POINTS = 500


@dataclass(frozen=True, slots=True)
class Step:
    start: datetime
    end: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    unit: str
    steps: Sequence[Step] = ()
    """A stepped series (sorted, non-overlapping); empty for a line."""
    points: Sequence[tuple[datetime, float]] = ()
    """A line's readings, oldest first; empty for steps."""
    dash: bool = False

    @property
    def stepped(self) -> bool:
        return bool(self.steps)


def thin(points: Sequence[tuple[datetime, float]], most: int) -> list[tuple[datetime, float]]:
    """At most ``most`` points, evenly by index, the first and last kept."""
    if len(points) <= most:
        return list(points)
    if most < 2:
        return [points[-1]]
    step = (len(points) - 1) / (most - 1)
    return [points[round(i * step)] for i in range(most)]


def _step_at(steps: Sequence[Step], starts: list[datetime], t: datetime) -> float | None:
    i = bisect.bisect_right(starts, t) - 1
    if i >= 0 and t < steps[i].end:
        return steps[i].value
    if steps and t == steps[-1].end:  # the last step's end: hold it so the line reaches there
        return steps[-1].value
    return None


def _line_at(
    points: Sequence[tuple[datetime, float]], times: list[datetime], t: datetime
) -> float | None:
    i = bisect.bisect_left(times, t)
    if i < len(times) and times[i] == t:
        return points[i][1]
    if i == 0 or i == len(times):
        return None
    (t0, y0), (t1, y1) = points[i - 1], points[i]
    span = (t1 - t0).total_seconds()
    return y0 + (y1 - y0) * (t - t0).total_seconds() / span


def chart(series: Sequence[Series], max_points: int = MAX_POINTS) -> dict[str, Any]:
    """The ``{"series": [...], "data": [[x...], [y...]...]}`` document."""
    lines = [s for s in series if not s.stepped]
    half = max_points // 2
    boundaries = sorted({t for s in series for step in s.steps for t in (step.start, step.end)})
    xs = {t for t, _ in thin([(t, 0.0) for t in boundaries], half)}
    room = max(2, (max_points - len(xs)) // max(1, len(lines)))
    thinned = {id(s): thin(s.points, room) for s in lines}
    for points in thinned.values():
        xs.update(t for t, _ in points)
    times = sorted(xs)
    if len(times) > max_points:
        times = [t for t, _ in thin([(t, 0.0) for t in times], max_points)]
    data: list[list[float | None]] = [[t.timestamp() for t in times]]
    for s in series:
        if s.stepped:
            starts = [step.start for step in s.steps]
            data.append([_round(_step_at(s.steps, starts, t)) for t in times])
        else:
            points = thinned[id(s)]
            at = [t for t, _ in points]
            data.append([_round(_line_at(points, at, t)) for t in times])
    return {
        "series": [
            {"label": s.label, "unit": s.unit, "stepped": s.stepped, "dash": s.dash} for s in series
        ],
        "data": data,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
