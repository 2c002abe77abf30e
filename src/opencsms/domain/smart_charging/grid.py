"""Grid demand: site limits and flexibility events, and what they leave to charge.

A site (a group of chargers behind one connection) has a capacity limit, in kW
or in A. A grid operator or aggregator sends *flexibility events* for a site:
a cap on its power (``cap_kw``), a reduction below its limit (``reduce_kw``) or
a surcharge on its energy price (``price_adder``), each over a list of
intervals. Events are versioned the OpenADR way: a higher
``modification_number`` replaces the event, ``cancelled`` removes it.

Everything here is pure: records in, records out, no clock. The adapters in
``opencsms.signals`` produce :class:`FlexEvent` from outside formats; the
planner consumes :func:`effective_cap` and :func:`add_price_adders`.

Combination rules (why): every cap and every reduction is a ceiling the site
must stay under, so the site obeys all of them at once — the *minimum* of the
site limit, every overlapping ``cap_kw`` and ``limit − reduce_kw`` for every
overlapping reduction (reductions are each relative to the site limit, so two
overlapping reductions of 10 and 30 kW mean 30 kW, not 40). A minimum is safe
whatever the events' priorities, so ``priority`` does not change caps; it is
kept for display and for the live system to order events. Price adders are
separate surcharges: overlapping ones add up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Literal, get_args

from opencsms.domain.smart_charging.rates import Rate

LimitUnit = Literal["kW", "A"]
FlexKind = Literal["cap_kw", "reduce_kw", "price_adder"]
EventKey = tuple[str, str]
"""``(site_id, event_id)``: an event is the same event only on the same site."""

KW = "kW"


class GridError(ValueError):
    """A site limit or event that cannot hold (naive times, reversed or
    overlapping intervals, negative power, an A limit without voltage, a price
    adder in another currency); the message says which and why."""


@dataclass(frozen=True, slots=True)
class SiteLimit:
    """The most a site may draw. A limit in ``A`` is per phase; it becomes kW
    as ``limit × voltage × phases / 1000`` (230 V, 3 phases by default), the
    same conversion OCPP uses between A and W schedules."""

    site_id: str
    limit: float
    unit: LimitUnit = "kW"
    phases: int = 3
    voltage: float = 230.0

    def __post_init__(self) -> None:
        if self.unit not in get_args(LimitUnit):
            raise GridError(f"site {self.site_id}: unknown limit unit {self.unit!r}")
        if not math.isfinite(self.limit) or self.limit < 0:
            raise GridError(f"site {self.site_id}: limit must be a finite number >= 0")
        if self.phases not in (1, 2, 3):
            raise GridError(f"site {self.site_id}: phases must be 1, 2 or 3")
        if not math.isfinite(self.voltage) or self.voltage <= 0:
            raise GridError(f"site {self.site_id}: voltage must be > 0")

    @property
    def limit_kw(self) -> float:
        if self.unit == "kW":
            return self.limit
        return self.limit * self.voltage * self.phases / 1000.0


@dataclass(frozen=True, slots=True)
class FlexInterval:
    start: datetime
    end: datetime
    value: float


@dataclass(frozen=True, slots=True)
class FlexEvent:
    """One flexibility event for one site.

    Preconditions (checked, :class:`GridError` otherwise): intervals are
    time-zone aware, non-empty, sorted and non-overlapping (they are stored in
    UTC); ``cap_kw`` and ``reduce_kw`` values are >= 0; ``unit`` is only for
    ``price_adder`` (the price unit it adds to, e.g. ``p/kWh``; None = the
    unit of whatever price it is added to).
    """

    site_id: str
    event_id: str
    kind: FlexKind
    intervals: tuple[FlexInterval, ...]
    priority: int = 0
    modification_number: int = 0
    cancelled: bool = False
    unit: str | None = None

    def __post_init__(self) -> None:
        where = f"event {self.event_id} (site {self.site_id})"
        if self.kind not in get_args(FlexKind):
            raise GridError(f"{where}: unknown kind {self.kind!r}")
        if self.unit is not None and self.kind != "price_adder":
            raise GridError(f"{where}: only a price_adder has a unit")
        utc: list[FlexInterval] = []
        for interval in self.intervals:
            if interval.start.tzinfo is None or interval.end.tzinfo is None:
                raise GridError(f"{where}: interval at {interval.start} has no time zone")
            start, end = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
            if end <= start:
                raise GridError(f"{where}: interval at {start.isoformat()} ends before it starts")
            if utc and start < utc[-1].end:
                raise GridError(f"{where}: intervals overlap or are not sorted at {start}")
            if not math.isfinite(interval.value):
                raise GridError(f"{where}: value at {start.isoformat()} is not a number")
            if self.kind != "price_adder" and interval.value < 0:
                raise GridError(f"{where}: {self.kind} at {start.isoformat()} is negative")
            utc.append(FlexInterval(start, end, interval.value))
        object.__setattr__(self, "intervals", tuple(utc))

    @property
    def key(self) -> EventKey:
        return (self.site_id, self.event_id)


def apply_events(
    book: Mapping[EventKey, FlexEvent], updates: Iterable[FlexEvent]
) -> dict[EventKey, FlexEvent]:
    """The event book after ``updates``, in order; ``book`` is not changed.

    An update replaces the stored event with the same ``(site_id, event_id)``
    only when its ``modification_number`` is higher (a repeat or a late, older
    copy changes nothing — OpenADR VTNs resend events on every poll). A
    cancelled update is kept as a tombstone so that an older copy arriving
    later cannot bring the event back; :func:`active_events` leaves it out.
    """
    result = dict(book)
    for event in updates:
        stored = result.get(event.key)
        if stored is None or event.modification_number > stored.modification_number:
            result[event.key] = event
    return result


def active_events(
    book: Mapping[EventKey, FlexEvent], site_id: str | None = None
) -> list[FlexEvent]:
    """Events in force (not cancelled), for one site or all, sorted by key."""
    return [
        event
        for key, event in sorted(book.items())
        if not event.cancelled and (site_id is None or event.site_id == site_id)
    ]


def _boundaries(start: datetime, end: datetime, events: Iterable[FlexEvent]) -> list[datetime]:
    points = {start, end}
    for event in events:
        for interval in event.intervals:
            for moment in (interval.start, interval.end):
                if start < moment < end:
                    points.add(moment)
    return sorted(points)


def _overlapping(
    events: Sequence[FlexEvent], start: datetime, end: datetime
) -> list[tuple[FlexEvent, float]]:
    found = []
    for event in events:
        for interval in event.intervals:
            if interval.start < end and start < interval.end:
                found.append((event, interval.value))
    return found


def effective_cap(
    site: SiteLimit, events: Iterable[FlexEvent], start: datetime, end: datetime
) -> list[Rate]:
    """The site's ceiling in kW over ``[start, end)`` as a gapless step series.

    Each step's value is ``min(site limit, overlapping caps, site limit −
    overlapping reductions)``, never below 0; adjacent steps with the same
    value are merged. Only the site's own, non-cancelled ``cap_kw`` and
    ``reduce_kw`` events count. Preconditions: ``start < end``, both aware.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise GridError("effective_cap needs time-zone aware bounds")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise GridError("effective_cap needs start < end")
    relevant = [
        e
        for e in events
        if e.site_id == site.site_id and not e.cancelled and e.kind in ("cap_kw", "reduce_kw")
    ]
    limit = site.limit_kw
    steps: list[Rate] = []
    points = _boundaries(start, end, relevant)
    for left, right in pairwise(points):
        value = limit
        for event, amount in _overlapping(relevant, left, right):
            value = min(value, amount if event.kind == "cap_kw" else limit - amount)
        value = max(value, 0.0)
        if steps and steps[-1].value == value:
            steps[-1] = Rate(steps[-1].start, right, value, KW)
        else:
            steps.append(Rate(left, right, value, KW))
    return steps


def add_price_adders(
    rates: Sequence[Rate], events: Iterable[FlexEvent], site_id: str
) -> list[Rate]:
    """Normalised price ``rates`` with the site's ``price_adder`` events added.

    A rate that an adder covers only in part is split at the adder's edges so
    that each piece carries one price; overlapping adders add up. Adders where
    there is no rate are ignored (there is no price to add to, and the planner
    plans only over covered time). An adder with a ``unit`` must match the
    rates' unit (:class:`GridError` otherwise: pence and euros never mix).
    """
    adders = [
        e for e in events if e.site_id == site_id and not e.cancelled and e.kind == "price_adder"
    ]
    for event in adders:
        for rate in rates[:1]:
            if event.unit is not None and event.unit != rate.unit:
                raise GridError(
                    f"event {event.event_id}: adder in {event.unit!r}, prices in {rate.unit!r}"
                )
    result: list[Rate] = []
    for rate in rates:
        points = _boundaries(rate.start, rate.end, adders)
        for left, right in pairwise(points):
            extra = sum(amount for _, amount in _overlapping(adders, left, right))
            result.append(Rate(left, right, rate.value + extra, rate.unit))
    return result
