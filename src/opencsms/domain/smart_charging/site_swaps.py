"""A re-planned car's sliver lifted to 6 A by a swap with a plan on track.

A car behind its plan is planned in what the kept plans leave of the cap
(:func:`~.live_plan.plan_group`). Where they leave it less than the 6 A a
charger can be told (e2e: 4.07 kW of a 4.14 kW floor), the sliver is sent as
0 and the car ends short. Planning the whole site again, or letting the
kept plans give way in an LP, moved many cars for it and left the e2e
night shorter in all; so the fix is local: a *swap*. In the sliver's
interval a kept car gives the few kW the sliver lacks, and takes them back
in another interval where the re-planned car gives them up:

- the sliver's car: ``+gap`` over the sliver, ``-gap`` over an interval of
  the same length where it charges at least ``floor + gap``;
- the kept car: ``-gap`` over the sliver (it stays at or above the floor),
  ``+gap`` over that other interval (where it charges already, within its
  maximum).

Each car's energy is unchanged, and so is the site's power at every moment,
so every cap and share still holds; the cost moves between the two cars
only. A swap is made only where both charge at one constant power over both
intervals.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from opencsms.domain.smart_charging.planner import Segment

NOISE_KW = 1e-6


@dataclass(frozen=True, slots=True)
class Kept:
    """A plan on track that may give way: its segments from now, and its car's maximum."""

    segments: tuple[Segment, ...]
    max_power_kw: float


def swap_slivers(
    segments: Sequence[Segment], kept: Sequence[Kept], floor_kw: float
) -> tuple[list[Segment], dict[int, list[Segment]]]:
    """``segments`` (a re-planned car's, from now) with each sliver under
    ``floor_kw`` lifted to it by a swap with one of ``kept`` where one
    exists, and the kept plans that changed (by index in ``kept``)."""
    mine = list(segments)
    changed: dict[int, list[Segment]] = {}
    for sliver in [s for s in segments if NOISE_KW < s.power_kw < floor_kw - NOISE_KW]:
        gap = floor_kw - sliver.power_kw
        length = sliver.end - sliver.start
        for index, other in enumerate(kept):
            theirs = changed.get(index, list(other.segments))
            # the kept car gives `gap` over the sliver and stays told
            if _constant(theirs, sliver.start, sliver.end) < floor_kw + gap - NOISE_KW:
                continue
            back = _give_back(mine, theirs, sliver, gap, floor_kw, other.max_power_kw)
            if back is None:
                continue
            mine = _add(_add(mine, sliver.start, sliver.end, gap), back, back + length, -gap)
            theirs = _add(_add(theirs, sliver.start, sliver.end, -gap), back, back + length, gap)
            changed[index] = theirs
            break
    return mine, changed


def _give_back(
    mine: Sequence[Segment],
    theirs: Sequence[Segment],
    sliver: Segment,
    gap: float,
    floor_kw: float,
    their_max_kw: float,
) -> datetime | None:
    """The start of an interval as long as ``sliver``, outside it, where the
    sliver's car charges at least ``floor + gap`` and the kept car charges
    and has ``gap`` to spare under its maximum; None: there is none."""
    length = sliver.end - sliver.start
    for segment in mine:
        if segment.end - segment.start < length:
            continue
        start, end = segment.start, segment.start + length
        if start < sliver.end and sliver.start < end:
            continue
        if _constant(mine, start, end) < floor_kw + gap - NOISE_KW:
            continue
        power = _constant(theirs, start, end)
        if NOISE_KW < power and power + gap <= their_max_kw + NOISE_KW:
            return start
    return None


def _constant(segments: Sequence[Segment], start: datetime, end: datetime) -> float:
    """The one power ``segments`` charge at all over ``[start, end)``, else 0."""
    covering = [s for s in segments if s.start < end and start < s.end]
    if not covering:
        return 0.0
    covering.sort(key=lambda s: s.start)
    powers = {round(s.power_kw, 9) for s in covering}
    if len(powers) != 1 or covering[0].start > start or covering[-1].end < end:
        return 0.0
    if any(a.end != b.start for a, b in itertools.pairwise(covering)):
        return 0.0
    return covering[0].power_kw


def _add(segments: Sequence[Segment], start: datetime, end: datetime, kw: float) -> list[Segment]:
    """``segments`` with ``kw`` more over ``[start, end)`` (where they charge
    there: the callers check), split at its edges."""
    out: list[Segment] = []
    for s in segments:
        if s.end <= start or end <= s.start:
            out.append(s)
            continue
        if s.start < start:
            out.append(Segment(s.start, start, s.power_kw))
        out.append(Segment(max(s.start, start), min(s.end, end), s.power_kw + kw))
        if end < s.end:
            out.append(Segment(end, s.end, s.power_kw))
    return out
