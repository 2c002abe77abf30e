"""Did a profile take effect? Compare the station's composite schedule with what we asked.

A station answering ``Accepted`` to SetChargingProfile has not necessarily
installed the profile (some accept and ignore, some install it under a
higher stack level of their own, some have a clock far off so an Absolute
schedule has not started). GetCompositeSchedule asks the station what limit
it will actually apply; the profile took effect when, at every change over
the checked horizon (both sides within ``tolerance_kw``):

- the composite is at most what we asked (the station will not allow more);
- and it is not clearly *below* what the station could deliver of it:
  at least ``min(asked, our other bounds, ceiling)``, where *our other
  bounds* are the other profiles of ours that bound the same connector
  (the ChargePointMaxProfile for a TxProfile) and *ceiling* is the highest
  limit the composite shows over the horizon, a cheap stand-in for the
  station's own maximum (hardware, or an operator's constant cap). This
  catches a profile dropped while an older one of ours still holds the
  connector at 0 (asked 7.4 kW, composite 0 where the older one said 0).
  A station whose composite is 0 over the whole horizon cannot be told
  from one that is switched off by someone else: that case passes. The
  caller skips this side (``under=False``) when another bound of ours is in
  an unknown state.

Pure: the enforcer sends the request built here and hands back the reply.
Both sides are compared as kW steps, the station's converted with
``W = A × voltage × phases`` (a period's ``numberPhases``, bounded by the
station's phases, when it gives one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from opencsms.domain.smart_charging.profiles import KW, limit_at, to_kw
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import RateUnit

MIN_HORIZON = 3600
"""Seconds checked at least: the next hour."""
MAX_HORIZON = 86_400
"""Seconds checked at most: a day (later changes are checked when re-sent)."""


class CompositeError(ValueError):
    """The reply is not an Accepted composite schedule we can read."""


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    detail: str | None = None
    """Why not (or what was checked), for the profile record and the operator."""


def check_duration(limits_kw: Sequence[Rate], now: datetime) -> int:
    """Seconds of composite to ask for: the next hour, or up to the last
    change of the schedule (plus a minute to see it), at most a day."""
    last_change = max((rate.start for rate in limits_kw), default=now)
    wanted = int((last_change - now).total_seconds()) + 60
    return max(MIN_HORIZON, min(wanted, MAX_HORIZON))


def composite_request(connector_id: int, *, duration: int, unit: RateUnit) -> dict[str, object]:
    """GetCompositeSchedule.req in the unit the profile was sent in."""
    return {"connectorId": connector_id, "duration": duration, "chargingRateUnit": unit}


def parse_composite(
    reply: Mapping[str, object], *, voltage: float = 230.0, phases: int = 3
) -> tuple[Rate, ...]:
    """GetCompositeSchedule.conf as kW steps covering the schedule.

    Raises :class:`CompositeError` for a Rejected reply, one without a
    schedule or a start, or with a unit other than A or W."""
    if reply.get("status") != "Accepted":
        raise CompositeError(f"GetCompositeSchedule answered {reply.get('status')!r}")
    schedule = reply.get("chargingSchedule")
    if not isinstance(schedule, Mapping):
        raise CompositeError("GetCompositeSchedule: no chargingSchedule")
    start_text = reply.get("scheduleStart") or schedule.get("startSchedule")
    if not isinstance(start_text, str):
        raise CompositeError("GetCompositeSchedule: no scheduleStart")
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CompositeError(f"GetCompositeSchedule: bad scheduleStart {start_text!r}") from exc
    if start.tzinfo is None:
        raise CompositeError("GetCompositeSchedule: scheduleStart without a time zone")
    unit = schedule.get("chargingRateUnit")
    if unit not in ("A", "W"):
        raise CompositeError(f"GetCompositeSchedule: unit {unit!r}")
    periods = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        raise CompositeError("GetCompositeSchedule: no periods")
    duration = schedule.get("duration")
    points: list[tuple[int, float]] = []
    for period in periods:
        if not isinstance(period, Mapping):
            raise CompositeError("GetCompositeSchedule: a period is not an object")
        offset, limit = period.get("startPeriod"), period.get("limit")
        if not isinstance(offset, int) or not isinstance(limit, int | float):
            raise CompositeError("GetCompositeSchedule: a period without startPeriod or limit")
        number = period.get("numberPhases")
        here = min(number, phases) if isinstance(number, int) and number > 0 else phases
        points.append((offset, to_kw(float(limit), str(unit), voltage=voltage, phases=here)))
    points.sort()
    last = points[-1][0] + 1
    end_offset = duration if isinstance(duration, int) and duration > last else last
    return tuple(
        Rate(
            start + timedelta(seconds=offset),
            start + timedelta(seconds=points[i + 1][0] if i + 1 < len(points) else end_offset),
            kw,
            KW,
        )
        for i, (offset, kw) in enumerate(points)
    )


def verify(
    asked: Sequence[Rate],
    composite: Sequence[Rate],
    *,
    tolerance_kw: float,
    bounds: Sequence[Sequence[Rate]] = (),
    under: bool = True,
) -> Verdict:
    """Whether the station's ``composite`` stays within ``asked`` (+ tolerance)
    and, with ``under``, does not fall clearly below what it could deliver of
    it (see the module docstring), wherever both are defined. Time the
    composite covers before our schedule starts (a station clock a little
    behind ours) is not held against it."""
    if not composite:
        return Verdict(False, "empty composite schedule")
    moments = sorted(
        {r.start for r in composite} | {r.start for r in asked}
        | {r.start for bound in bounds for r in bound}
    )  # fmt: skip
    horizon_start, horizon_end = composite[0].start, composite[-1].end
    ceiling = max(r.value for r in composite)
    checked = 0
    for moment in moments:
        if not horizon_start <= moment < horizon_end:
            continue
        wanted = limit_at(asked, moment)
        allowed = limit_at(composite, moment)
        if wanted is None or allowed is None:
            continue
        checked += 1
        if allowed > wanted + tolerance_kw:
            return Verdict(
                False,
                f"at {moment.isoformat()} the station allows {allowed:.2f} kW, "
                f"we asked {wanted:.2f} kW",
            )
        floor = min([wanted, ceiling] + [
            value for bound in bounds if (value := limit_at(bound, moment)) is not None
        ])  # fmt: skip
        if under and allowed < floor - tolerance_kw:
            return Verdict(
                False,
                f"at {moment.isoformat()} the station allows {allowed:.2f} kW, "
                f"we asked {wanted:.2f} kW and it could deliver {floor:.2f} kW",
            )
    if checked == 0:
        return Verdict(False, "the composite schedule does not cover the profile")
    return Verdict(True, f"{checked} change(s) checked until {horizon_end.isoformat()}")
