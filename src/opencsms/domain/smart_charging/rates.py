"""Rates: a value that holds over a time interval (a price, a carbon intensity).

Every signal source is normalised to a list of :class:`Rate`, sorted by
start, in UTC, non-overlapping; gaps are allowed (time the signal does not
cover). Units are explicit strings so that pence and euros, g/kWh and
kg/MWh never mix silently: ``p/kWh``, ``EUR/kWh``, ``gCO2/kWh``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


class RateError(ValueError):
    """Rates that cannot form a signal (naive times, end before start, overlap,
    mixed units); the message says which rate and why."""


@dataclass(frozen=True, slots=True)
class Rate:
    start: datetime
    end: datetime
    value: float
    unit: str


def normalise(rates: Iterable[Rate]) -> list[Rate]:
    """Sorted by start, in UTC; refuses naive times, empty or reversed
    intervals, overlaps and mixed units. Exact duplicates (the same interval
    and value, as paginated sources repeat at page edges) are dropped."""
    result: list[Rate] = []
    for rate in sorted(rates, key=lambda r: (r.start, r.end)):
        if rate.start.tzinfo is None or rate.end.tzinfo is None:
            raise RateError(f"rate at {rate.start.isoformat()} has no time zone")
        rate = Rate(rate.start.astimezone(UTC), rate.end.astimezone(UTC), rate.value, rate.unit)
        if rate.end <= rate.start:
            raise RateError(f"rate at {rate.start.isoformat()} ends before it starts")
        if result:
            last = result[-1]
            if rate == last:
                continue
            if rate.unit != last.unit:
                raise RateError(f"mixed units: {last.unit!r} and {rate.unit!r}")
            if rate.start < last.end:
                raise RateError(
                    f"rates overlap: {last.start.isoformat()}–{last.end.isoformat()} "
                    f"and {rate.start.isoformat()}–{rate.end.isoformat()}"
                )
        result.append(rate)
    return result


def rate_at(rates: Sequence[Rate], moment: datetime) -> Rate | None:
    """The rate in force at ``moment`` in normalised ``rates``, or None in a gap."""
    starts = [rate.start for rate in rates]
    index = bisect.bisect_right(starts, moment) - 1
    if index >= 0 and moment < rates[index].end:
        return rates[index]
    return None


def covered_until(rates: Sequence[Rate], start: datetime) -> datetime:
    """How far from ``start`` the normalised ``rates`` run without a gap
    (``start`` itself when no rate is in force then): plans stop there."""
    current = rate_at(rates, start)
    if current is None:
        return start
    end = current.end
    for rate in rates[rates.index(current) + 1 :]:
        if rate.start != end:
            break
        end = rate.end
    return end
