"""The composite charging schedule: one limit over time from stacked profiles.

A pure function of its arguments (no clock, no store), so the station's pilot
control and its GetCompositeSchedule answer come from the same computation
and tests can check it case by case.

Semantics (OCPP 1.6 sections 3.13.2-3.13.4 and 5.7):

- a profile *applies* at instant ``t`` when ``validFrom <= t < validTo`` and
  its schedule is running: ``t`` lies at or after the schedule's start and,
  if a duration is given, before start + duration. Within a purpose the
  applying profile with the highest stack level wins (on a tie, the one
  installed on the connector itself beats one on connector 0);
- the schedule start is ``startSchedule`` for Absolute (or, when absent, the
  transaction start), the transaction start for Relative (or ``start`` when
  no transaction runs), and the latest ``startSchedule + k * (1 day | 1 week)``
  not after ``t`` for Recurring;
- for a connector > 0: limit = min(ChargePointMaxProfile on connector 0,
  TxProfile if one applies else TxDefaultProfile); for connector 0 only the
  ChargePointMaxProfile counts; ``max_limit`` (the hardware) caps everything
  and stands in where no profile applies;
- A and W convert with ``W = A * voltage * n`` where ``n`` is the period's
  ``numberPhases`` (default 3, per the spec) bounded by the station's phases.

Preconditions: ``duration > 0``; all datetimes timezone-aware; ``phases`` in
1..3 and ``voltage > 0``; ``tx_start`` is None exactly when no transaction
runs on the connector (TxProfiles are then ignored). Limits in the result are
rounded *down* to 0.1 (the schema's multipleOf), never above a profile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from ocpp.v16.enums import ChargingProfileKindType as Kind
from ocpp.v16.enums import ChargingProfilePurposeType as Purpose
from ocpp.v16.enums import RecurrencyKind

from opencsms.chargepoint.smart_charging import (
    ChargingProfile,
    InstalledProfile,
    SchedulePeriod,
)

DEFAULT_PHASES = 3


def convert(limit: float, from_unit: str, to_unit: str, *, phases: int, voltage: float) -> float:
    """A per phase <-> W total, for ``phases`` phases at ``voltage`` volts (phase-neutral)."""
    if from_unit == to_unit:
        return limit
    if from_unit == "A":
        return limit * voltage * phases
    return limit / (voltage * phases)


def _anchor(
    profile: ChargingProfile, t: datetime, start: datetime, tx_start: datetime | None
) -> datetime | None:
    sched_start = profile.schedule.start
    if profile.kind == Kind.recurring and sched_start is not None:
        step = (
            timedelta(weeks=1) if profile.recurrency == RecurrencyKind.weekly else timedelta(days=1)
        )
        if t < sched_start:
            return None
        return sched_start + step * ((t - sched_start) // step)
    if profile.kind == Kind.relative:
        return tx_start or start
    return sched_start or tx_start or start


def limit_at(
    profile: ChargingProfile,
    t: datetime,
    *,
    start: datetime,
    tx_start: datetime | None,
) -> SchedulePeriod | None:
    """The period of ``profile`` in force at ``t``, or None if it does not apply."""
    if profile.valid_from is not None and t < profile.valid_from:
        return None
    if profile.valid_to is not None and t >= profile.valid_to:
        return None
    anchor = _anchor(profile, t, start, tx_start)
    if anchor is None:
        return None
    offset = (t - anchor).total_seconds()
    if offset < 0:
        return None
    duration = profile.schedule.duration
    if duration is not None and offset >= duration:
        return None
    current: SchedulePeriod | None = None
    for period in profile.schedule.periods:
        if period.start <= offset:
            current = period
        else:
            break
    return current


def _breakpoints(
    profiles: list[InstalledProfile],
    start: datetime,
    end: datetime,
    tx_start: datetime | None,
) -> list[datetime]:
    points = {start}
    for inst in profiles:
        p = inst.profile
        points.update(x for x in (p.valid_from, p.valid_to) if x is not None)
        anchors: list[datetime] = []
        if p.kind == Kind.recurring and p.schedule.start is not None:
            step = (
                timedelta(weeks=1) if p.recurrency == RecurrencyKind.weekly else timedelta(days=1)
            )
            first = _anchor(p, max(start, p.schedule.start), start, tx_start)
            while first is not None and first < end:
                anchors.append(first)
                first += step
        else:
            anchor = _anchor(p, start, start, tx_start)
            if anchor is not None:
                anchors.append(anchor)
        for anchor in anchors:
            points.update(anchor + timedelta(seconds=q.start) for q in p.schedule.periods)
            if p.schedule.duration is not None:
                points.add(anchor + timedelta(seconds=p.schedule.duration))
    return sorted(x for x in points if start <= x < end)


def _winner(
    candidates: list[InstalledProfile],
    t: datetime,
    connector_id: int,
    start: datetime,
    tx_start: datetime | None,
) -> tuple[ChargingProfile, SchedulePeriod] | None:
    best: tuple[tuple[int, int], ChargingProfile, SchedulePeriod] | None = None
    for inst in candidates:
        period = limit_at(inst.profile, t, start=start, tx_start=tx_start)
        if period is None:
            continue
        rank = (inst.profile.stack_level, 1 if inst.connector_id == connector_id else 0)
        if best is None or rank > best[0]:
            best = (rank, inst.profile, period)
    return None if best is None else (best[1], best[2])


def composite_schedule(
    profiles: Iterable[InstalledProfile],
    *,
    connector_id: int,
    start: datetime,
    duration: int,
    unit: str,
    phases: int,
    voltage: float,
    max_limit: float,
    tx_start: datetime | None = None,
    transaction_id: int | None = None,
) -> list[SchedulePeriod]:
    """Periods (offsets in seconds from ``start``) covering ``[start, start+duration)``.

    ``max_limit`` is in ``unit``. Consecutive periods with the same limit are merged.
    """
    end = start + timedelta(seconds=duration)
    by_purpose: dict[Purpose, list[InstalledProfile]] = {p: [] for p in Purpose}
    for inst in profiles:
        p = inst.profile
        if p.purpose == Purpose.charge_point_max_profile:
            if inst.connector_id == 0:
                by_purpose[p.purpose].append(inst)
        elif connector_id == 0:
            continue
        elif p.purpose == Purpose.tx_profile:
            if (
                inst.connector_id == connector_id
                and tx_start is not None
                and (p.transaction_id in (None, transaction_id))
            ):
                by_purpose[p.purpose].append(inst)
        elif inst.connector_id in (0, connector_id):
            by_purpose[p.purpose].append(inst)
    relevant = [i for group in by_purpose.values() for i in group]

    def in_unit(found: tuple[ChargingProfile, SchedulePeriod] | None) -> float:
        if found is None:
            return math.inf
        profile, period = found
        n = min(period.number_phases or DEFAULT_PHASES, phases)
        return convert(period.limit, profile.schedule.unit, unit, phases=n, voltage=voltage)

    result: list[SchedulePeriod] = []
    for t in _breakpoints(relevant, start, end, tx_start):
        cap = in_unit(_winner(by_purpose[Purpose.charge_point_max_profile], t, 0, start, tx_start))
        tx = _winner(by_purpose[Purpose.tx_profile], t, connector_id, start, tx_start)
        if tx is None:
            tx = _winner(by_purpose[Purpose.tx_default_profile], t, connector_id, start, tx_start)
        limit = min(cap, in_unit(tx), max_limit)
        limit = math.floor(limit * 10 + 1e-6) / 10
        offset = int((t - start).total_seconds())
        if result and result[-1].limit == limit:
            continue
        result.append(SchedulePeriod(offset, limit))
    return result


def limit_now_and_next(periods: list[SchedulePeriod]) -> tuple[float, int | None]:
    """The limit at offset 0 and the offset of the next change (None if none)."""
    if not periods:
        return math.inf, None
    return periods[0].limit, periods[1].start if len(periods) > 1 else None
