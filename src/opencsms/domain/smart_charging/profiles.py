"""Plans as OCPP 1.6 charging profiles: pure, no I/O, no clock of its own.

A plan says "this much power over this time" in kW. A station wants a
``csChargingProfiles`` object it will accept, and real stations differ in what
they accept. :class:`ProfileOptions` gathers what one station takes: the
capabilities it reports (``ChargeProfileMaxStackLevel``,
``ChargingScheduleAllowedChargingRateUnit``, ``ChargingScheduleMaxPeriods``),
what was learned about its model (the least of the advertised and the
learned ``max_periods``: some stations refuse schedules their
``ChargingScheduleMaxPeriods`` says they take), and the escalation step
being tried.

Rules (issue 5), each applied in the function named:

- limits are rounded DOWN to one decimal (the schema's ``multipleOf`` 0.1):
  a profile never allows more than the plan (:func:`_to_unit`);
- a limit strictly between 0 and 6 A becomes 0: IEC 61851 cannot signal less
  than 6 A on the pilot, and a car cannot be asked to draw "a bit"; in W the
  threshold is ``6 A × voltage × phases`` (:func:`_to_unit`);
- ``W = A × voltage × phases``, as the station's own composite computes it
  (``chargepoint/composite.py`` ``convert``);
- the first ``startPeriod`` is 0; adjacent equal periods are merged; a
  schedule longer than ``max_periods`` is cut: the kept periods are sent with
  a last period holding the *smallest* limit of what was cut (so the profile
  never exceeds the plan, it only under-charges until re-sent), and
  ``resend_at`` says when to send the rest (:func:`_fit_periods`);
- Absolute profiles start at ``now`` truncated to the second (never in the
  future); Relative TxProfiles count from the transaction's start, which is
  the anchor a station uses for them: period 0 carries the limit in force
  *now* (the part of the schedule already past does not matter), later
  periods sit at their offset from the transaction start. A Relative cap or
  default has no transaction to count from (the station anchors it at
  whatever it likes), so one period is sent: the least limit of the next
  ``ProfileOptions.lead`` (a decrease takes effect early, a rise never does),
  and ``resend_at`` is when that changes (:func:`_single_period`);
- stable profile ids per (purpose, connector) so that an update replaces the
  old profile instead of stacking next to it (:func:`profile_id`);
- TxProfile and ChargePointMaxProfile at stack level 1 when the station
  allows it (our TxDefaultProfile sits at 0), at 0 with ``stack_level_0``.

Power steps are :class:`~opencsms.domain.smart_charging.rates.Rate` with unit
``kW``. Past the last step a limit holds forever (a station keeps its last
period); callers make the last step what must hold after the plan (0 for a
TxProfile whose plan ends).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from opencsms.domain.provisioning import Capabilities
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ConnectorTarget,
    LearnedProfileOptions,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
)

KW = "kW"
MIN_CURRENT_A = 6.0
FOREVER = timedelta(days=3650)
"""End of the last step of ``limits_kw`` (its limit holds until replaced)."""
RESEND_LEAD = timedelta(minutes=5)
"""A cut schedule is re-sent this long before its cut."""
DEFAULT_STACK_LEVEL = 1
DEFAULT_MAX_STACK_LEVEL = 8

_ID_BASE: dict[str, int] = {
    "TxDefaultProfile": 9100,
    "ChargePointMaxProfile": 9200,
    "TxProfile": 9300,
}
_CAPABILITY_UNITS: dict[str, RateUnit] = {"Current": "A", "Power": "W", "A": "A", "W": "W"}

ESCALATION: tuple[str, ...] = (
    "plain",
    "resend",
    "clear_and_set",
    "fewer_periods",
    "stack_level_0",
    "flip_kind",
    "flip_unit",
)
"""What to try when a profile is rejected or does not take effect, in order.
Each step changes one thing against the station's base options (steps do not
accumulate: a station needing two of them at once ends FAILED).
``fewer_periods`` halves the periods the schedule may use (a station that
advertises more ``ChargingScheduleMaxPeriods`` than it accepts); it is
skipped for a schedule of one period."""


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """What a station accepts: discovered capabilities + learned quirks +
    the escalation step being tried."""

    max_stack_level: int = DEFAULT_MAX_STACK_LEVEL
    units: tuple[RateUnit, ...] = ("A", "W")
    max_periods: int | None = None
    unit: RateUnit = "A"
    kind: ProfileKind = "Absolute"
    stack_level_0: bool = False
    voltage: float = 230.0
    phases: int = 3
    lead: timedelta = RESEND_LEAD
    """How early a single-period schedule takes a coming decrease: the
    longest time until it is surely sent again (the enforcer sets one and a
    half sweep periods; five minutes early cost a Relative-only station about
    2 kWh of its plan a night, e2e)."""


@dataclass(frozen=True, slots=True)
class BuiltProfile:
    purpose: ProfilePurpose
    connector_id: int
    profile_id: int
    stack_level: int
    payload: dict[str, object]
    """The ``csChargingProfiles`` object for SetChargingProfile."""
    limits_kw: tuple[Rate, ...]
    """The limit the payload asks for over time, in kW, after rounding and
    cutting: what verification compares the station's composite against."""
    resend_at: datetime | None
    """The schedule was cut: send it again before this."""

    @property
    def request(self) -> dict[str, object]:
        """The whole SetChargingProfile.req payload."""
        return {"connectorId": self.connector_id, "csChargingProfiles": self.payload}


def options_for(
    capabilities: Capabilities,
    learned: LearnedProfileOptions | None,
    *,
    voltage: float = 230.0,
    phases: int = 3,
) -> ProfileOptions:
    """The base options for a station: its reported limits, then what its model taught us.
    A learned unit the station does not allow is ignored."""
    units = tuple(
        dict.fromkeys(
            _CAPABILITY_UNITS[unit]
            for unit in capabilities.charging_rate_units
            if unit in _CAPABILITY_UNITS
        )
    ) or ("A", "W")
    max_stack = capabilities.charge_profile_max_stack_level
    max_stack = DEFAULT_MAX_STACK_LEVEL if max_stack is None else max(max_stack, 0)
    periods = capabilities.charging_schedule_max_periods
    unit: RateUnit = "A" if "A" in units else "W"
    kind: ProfileKind = "Absolute"
    stack_level_0 = max_stack < DEFAULT_STACK_LEVEL
    if periods is not None and periods < 1:
        periods = None
    if learned is not None:
        if learned.unit is not None and learned.unit in units:
            unit = learned.unit
        kind = learned.kind
        stack_level_0 = stack_level_0 or learned.stack_level_0
        if learned.max_periods is not None and learned.max_periods >= 1:
            periods = learned.max_periods if periods is None else min(periods, learned.max_periods)
    return ProfileOptions(
        max_stack_level=max_stack,
        units=units,
        max_periods=periods,
        unit=unit,
        kind=kind,
        stack_level_0=stack_level_0,
        voltage=voltage,
        phases=phases,
    )


def profile_id(purpose: ProfilePurpose, connector_id: int) -> int:
    """Ours are 9100+connector (TxDefault), 9200+ (ChargePointMax), 9300+ (Tx):
    stable, so a new version replaces the old profile on the station, and out
    of the way of the small ids operators tend to pick by hand."""
    return _ID_BASE[purpose] + connector_id


def next_step(step: str, options: ProfileOptions, *, periods: int | None = None) -> str | None:
    """The escalation step after ``step`` that can change anything for a
    station with base ``options`` and a schedule of ``periods`` periods
    under them (None: unknown) — None: nothing left to try."""
    index = ESCALATION.index(step)
    for candidate in ESCALATION[index + 1 :]:
        if candidate == "fewer_periods" and periods is not None and periods <= 1:
            continue
        if candidate == "stack_level_0" and options.stack_level_0:
            continue
        if candidate == "flip_unit" and _other_unit(options.unit) not in options.units:
            continue
        return candidate
    return None


def options_for_step(
    step: str, options: ProfileOptions, *, periods: int | None = None
) -> ProfileOptions:
    """``options`` as the escalation ``step`` changes them (``plain``, ``resend``
    and ``clear_and_set`` send the same profile; the enforcer clears first).
    ``fewer_periods`` allows half the ``periods`` the schedule has under
    ``options`` (at least one; unknown or one: ``options`` unchanged)."""
    if step not in ESCALATION:
        raise ValueError(f"unknown escalation step {step!r}")
    if step == "fewer_periods":
        if periods is None or periods <= 1:
            return options
        return replace(options, max_periods=max(periods // 2, 1))
    if step == "stack_level_0":
        return replace(options, stack_level_0=True)
    if step == "flip_kind":
        return replace(options, kind="Relative" if options.kind == "Absolute" else "Absolute")
    if step == "flip_unit":
        return replace(options, unit=_other_unit(options.unit))
    return options


def _other_unit(unit: RateUnit) -> RateUnit:
    return "W" if unit == "A" else "A"


# -- building ----------------------------------------------------------------


def tx_profile(target: ConnectorTarget, *, now: datetime, options: ProfileOptions) -> BuiltProfile:
    """The TxProfile of one session: its plan's segments from ``now`` on (0 in
    gaps and before the first segment, ``after_kw`` or 0 after the last)."""
    return build(
        "TxProfile",
        target.connector_id,
        segments_as_steps(target, now.replace(microsecond=0)),
        now=now,
        options=options,
        transaction_id=target.transaction_id,
        transaction_started_at=target.transaction_started_at,
    )


def station_cap_profile(
    steps_kw: Sequence[Rate], *, now: datetime, options: ProfileOptions
) -> BuiltProfile:
    """The ChargePointMaxProfile on connector 0: the station's share of its site cap."""
    return build("ChargePointMaxProfile", 0, steps_kw, now=now, options=options)


def off_profile(*, now: datetime, options: ProfileOptions) -> BuiltProfile:
    """Switched off: a ChargePointMaxProfile of 0 on connector 0 (the cap's id: it replaces it)."""
    return build("ChargePointMaxProfile", 0, [_forever(now, 0.0)], now=now, options=options)


def default_profile(limit_kw: float, *, now: datetime, options: ProfileOptions) -> BuiltProfile:
    """The safe TxDefaultProfile on connector 0 at stack level 0: what bounds
    a session before (or without) its TxProfile, e.g. while offline."""
    return build("TxDefaultProfile", 0, [_forever(now, limit_kw)], now=now, options=options)


def segments_as_steps(target: ConnectorTarget, now: datetime) -> list[Rate]:
    """The target's power from ``now`` on as contiguous kW steps (gaps are 0)."""
    steps: list[Rate] = []
    cursor = now
    for segment in sorted(target.segments, key=lambda s: s.start):
        end = segment.end
        if end <= cursor:
            continue
        if segment.start > cursor:
            steps.append(Rate(cursor, segment.start, 0.0, KW))
            cursor = segment.start
        steps.append(Rate(cursor, end, max(segment.power_kw, 0.0), KW))
        cursor = end
    steps.append(_forever(cursor, max(target.after_kw or 0.0, 0.0)))
    return steps


def _forever(start: datetime, value_kw: float) -> Rate:
    return Rate(start, start + FOREVER, value_kw, KW)


def build(
    purpose: ProfilePurpose,
    connector_id: int,
    steps_kw: Sequence[Rate],
    *,
    now: datetime,
    options: ProfileOptions,
    transaction_id: int | None = None,
    transaction_started_at: datetime | None = None,
    own_load_kw: Sequence[Rate] = (),
) -> BuiltProfile:
    """A profile of ``purpose`` asking for ``steps_kw`` from ``now`` on.

    ``steps_kw`` are sorted kW steps; a gap holds the step before it and
    time before the first step takes the first step's value (the cap and
    default builders never leave gaps; a TxProfile's come from
    :func:`segments_as_steps`). An empty list means 0.

    ``own_load_kw``: for a cap, the station's own planned load under it
    (kW steps). A single-period cap takes a coming decrease early, except
    the part of it that this load's own decrease explains: the station's
    TxProfiles end that power on time, so its draw stays within its share
    (e2e: a Relative-only station's cap ended its car's charge a sweep
    before its departure, 0.1 kWh short each night).
    """
    start = now.replace(microsecond=0)
    relative = options.kind == "Relative"
    anchor = start
    if relative and purpose == "TxProfile" and transaction_started_at is not None:
        anchor = min(transaction_started_at.replace(microsecond=0), start)
    # (time, limit in unit) from `start` on, one entry per change
    points: list[tuple[datetime, float]] = []
    for moment, kw in _changes(steps_kw, start):
        limit = _to_unit(kw, options)
        if not points:
            points.append((start, limit))
            continue
        if points[-1][1] == limit:
            continue
        at = _whole_second(moment, anchor, rise=limit > points[-1][1])
        if at <= points[-1][0]:
            # a change within the second of the one before: the least of both, from then
            at, previous = points.pop()
            limit = min(limit, previous)
            if not points:
                at = start
            elif points[-1][1] == limit:
                continue
        points.append((at, limit))
    resend_at: datetime | None = None
    if relative and purpose != "TxProfile" and len(points) > 1:
        own = [(r.start, r.end, _to_unit(r.value, options)) for r in own_load_kw]
        points, resend_at = _single_period(points, start, options.lead, own)
    points, cut = _fit_periods(points, options.max_periods)
    if cut is not None:
        resend_at = max(cut - RESEND_LEAD, start)
    periods: list[dict[str, object]] = []
    for index, (moment, limit) in enumerate(points):
        offset = 0 if index == 0 else int((moment - anchor).total_seconds())
        period: dict[str, object] = {"startPeriod": offset, "limit": limit}
        if options.unit == "A" and options.phases != 3:
            period["numberPhases"] = options.phases
        periods.append(period)
    schedule: dict[str, object] = {
        "chargingRateUnit": options.unit,
        "chargingSchedulePeriod": periods,
    }
    if not relative:
        schedule["startSchedule"] = _ocpp_time(start)
    stack_level = 0
    if purpose != "TxDefaultProfile" and not options.stack_level_0:
        stack_level = min(DEFAULT_STACK_LEVEL, options.max_stack_level)
    payload: dict[str, object] = {
        "chargingProfileId": profile_id(purpose, connector_id),
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": options.kind,
        "chargingSchedule": schedule,
    }
    if purpose == "TxProfile" and transaction_id is not None:
        payload["transactionId"] = transaction_id
    limits = tuple(
        Rate(
            moment,
            points[i + 1][0] if i + 1 < len(points) else moment + FOREVER,
            to_kw(limit, options.unit, voltage=options.voltage, phases=options.phases),
            KW,
        )
        for i, (moment, limit) in enumerate(points)
    )
    return BuiltProfile(
        purpose=purpose,
        connector_id=connector_id,
        profile_id=profile_id(purpose, connector_id),
        stack_level=stack_level,
        payload=payload,
        limits_kw=limits,
        resend_at=resend_at,
    )


def _whole_second(moment: datetime, anchor: datetime, *, rise: bool) -> datetime:
    """``moment`` at a whole second from ``anchor``, as a period's
    ``startPeriod`` can say it: a rise rounded up, a fall down, so that the
    profile never allows more than the plan. The limits we verify against
    start there too (e2e: a share rising at 01:08:48.043 sent truncated to
    01:08:48 failed every check, and the ladder learned one period for the
    whole model)."""
    seconds = (moment - anchor).total_seconds()
    whole = math.ceil(seconds - 1e-6) if rise else math.floor(seconds + 1e-6)
    return anchor + timedelta(seconds=whole)


def _changes(steps_kw: Sequence[Rate], start: datetime) -> list[tuple[datetime, float]]:
    """(moment, kW) at ``start`` and at each later step start."""
    ordered = sorted(steps_kw, key=lambda r: r.start)
    if not ordered:
        return [(start, 0.0)]
    current = ordered[0].value
    for rate in ordered:
        if rate.start <= start:
            current = rate.value
    changes = [(start, current)]
    changes.extend((rate.start, rate.value) for rate in ordered if rate.start > start)
    return changes


def _single_period(
    points: list[tuple[datetime, float]],
    start: datetime,
    lead: timedelta,
    own: Sequence[tuple[datetime, datetime, float]] = (),
) -> tuple[list[tuple[datetime, float]], datetime | None]:
    """A Relative cap or default as one period: the least limit over the next
    ``lead`` (a decrease starts early, never late; the part of it that the
    ``own`` load's decrease at the same moment explains comes on time, see
    :func:`build`) and when to send it again: the first moment that least
    limit changes. A rise is sent at the rise itself, never before (the
    profile must not allow more than the plan)."""

    def own_at(moment: datetime) -> float:
        return next((value for left, right, value in own if left <= moment < right), 0.0)

    def ends(at: datetime) -> float:
        # changes sit on whole seconds (rounded): compare a second either side
        second = timedelta(seconds=1)
        return max(0.0, own_at(at - second) - own_at(at + second))

    def least(moment: datetime) -> float:
        in_force = [limit for at, limit in points if at <= moment][-1:]
        coming = [limit + ends(at) for at, limit in points if moment < at <= moment + lead]
        return min(in_force + coming)

    now = least(start)
    candidates = sorted({m for at, _ in points[1:] for m in (at - lead, at) if m > start})
    resend_at = next((m for m in candidates if least(m) != now), None)
    return [(start, now)], resend_at


def _fit_periods(
    points: list[tuple[datetime, float]], max_periods: int | None
) -> tuple[list[tuple[datetime, float]], datetime | None]:
    """Cut to ``max_periods``: the last kept period holds the smallest cut limit."""
    if max_periods is None or len(points) <= max_periods:
        return points, None
    if max_periods == 1:
        return [(points[0][0], min(limit for _, limit in points))], points[1][0]
    kept = points[: max_periods - 1]
    cut_at = points[max_periods - 1][0]
    floor = min(limit for _, limit in points[max_periods - 1 :])
    if kept[-1][1] == floor:
        return kept, cut_at
    return [*kept, (cut_at, floor)], cut_at


def _to_unit(kw: float, options: ProfileOptions) -> float:
    """kW as a limit in ``options.unit``: rounded down to 0.1, under 6 A -> 0."""
    watts = max(kw, 0.0) * 1000.0
    minimum_w = MIN_CURRENT_A * options.voltage * options.phases
    if watts < minimum_w:
        return 0.0
    value = watts if options.unit == "W" else watts / (options.voltage * options.phases)
    return math.floor(value * 10 + 1e-6) / 10


def expressible_kw(kw: float, *, voltage: float = 230.0, phases: int = 3) -> float:
    """The highest power at most ``kw`` that an A profile can ask exactly (one
    decimal of A: 69 W steps at 230 V x 3). A plan made with this power is one
    the station can be told: 11 kW would be sent as 15.9 A, 10.971 kW, and a
    car planned at 11 kW would end 29 W x its charging hours short. (A W
    profile expresses it exactly too.) The 6 A floor is not applied here."""
    amps = math.floor(max(kw, 0.0) * 1000.0 / (voltage * phases) * 10 + 1e-6) / 10
    return amps * voltage * phases / 1000.0


def min_charging_kw(*, voltage: float = 230.0, phases: int = 3) -> float:
    """The least power a profile can ask without it becoming 0 (6 A)."""
    return MIN_CURRENT_A * voltage * phases / 1000.0


def to_kw(limit: float, unit: str, *, voltage: float, phases: int) -> float:
    """A limit in A (per phase) or W as kW."""
    watts = limit if unit == "W" else limit * voltage * phases
    return watts / 1000.0


def steps_of(
    payload: dict[str, object],
    *,
    now: datetime,
    voltage: float,
    phases: int,
    transaction_started_at: datetime | None = None,
) -> list[Rate]:
    """The kW steps a payload built here asks for, from ``now`` on: to rebuild
    it later (reassert, re-send) and to tell the limit expected at a moment.
    A Relative TxProfile counts from ``transaction_started_at`` (``now`` when unknown)."""
    schedule = payload["chargingSchedule"]
    assert isinstance(schedule, dict)
    unit = str(schedule["chargingRateUnit"])
    if payload.get("chargingProfileKind") == "Relative":
        anchor = transaction_started_at or now
    else:
        anchor = _parse_time(str(schedule.get("startSchedule") or _ocpp_time(now)))
    raw = schedule["chargingSchedulePeriod"]
    assert isinstance(raw, list)
    points: list[tuple[datetime, float]] = []
    for period in raw:
        moment = anchor + timedelta(seconds=int(period["startPeriod"]))
        phases_here = int(period.get("numberPhases") or phases)
        kw = to_kw(float(period["limit"]), unit, voltage=voltage, phases=phases_here)
        points.append((moment, kw))
    points.sort(key=lambda p: p[0])
    if points:
        points[0] = (min(points[0][0], now), points[0][1])
    return [
        Rate(moment, points[i + 1][0] if i + 1 < len(points) else moment + FOREVER, kw, KW)
        for i, (moment, kw) in enumerate(points)
    ]


def limit_at(steps: Sequence[Rate], at: datetime) -> float | None:
    """The kW limit of sorted contiguous ``steps`` at ``at`` (None before the first)."""
    found: float | None = None
    for rate in steps:
        if rate.start <= at:
            found = rate.value
        else:
            break
    return found


def _ocpp_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
