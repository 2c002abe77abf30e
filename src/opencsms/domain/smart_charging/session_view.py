"""Reads of live smart charging: a session's plan against what was metered,
the savings over a period, and a site's planned load against its ceiling.

The plan says what we wanted; the meter says what happened. So "planned to
now" follows every plan *version* over the stretch it was in force (a plan
made at 19:00 and replaced at 21:00 counts from 19:00 to 21:00), and cost,
CO2 and savings are always computed from metered energy (accounting).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from opencsms.domain.model import StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.accounting import (
    AccountingError,
    Interval,
    SessionAccount,
    account_session,
    metered_intervals,
)
from opencsms.domain.smart_charging.estimates import Estimate, estimate_session, peak_power_w
from opencsms.domain.smart_charging.live_inputs import (
    LiveDefaults,
    assumed_need,
    session_input,
)
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    ChargingNeed,
    ProfileRecord,
    StoredPlan,
)

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class SessionPlanView:
    """A session's plan vs actual."""

    transaction: Transaction
    need: ChargingNeed | None
    """None: the defaults are in force (shown in ``assumed_need``)."""
    assumed_need: ChargingNeed
    plan: StoredPlan | None
    """The newest plan, the one in force."""
    plan_versions: int
    planned_kwh_to_now: float
    """What the plans in force had charged by now (or by the session's end)."""
    metered_kwh: float
    actual: tuple[Interval, ...]
    account: SessionAccount | None
    """Cost/CO2/baseline from metered energy (None: no signal stored for it)."""
    estimate: Estimate | None
    profiles: tuple[ProfileRecord, ...]
    """This connector's profiles as last sent."""


@dataclass(frozen=True, slots=True)
class SiteLoad:
    """A site's ceiling and its members' planned power, as kW steps."""

    site_id: str
    cap_kw: list[Rate]
    planned_kw: list[Rate]


def energy_between(segments: Sequence[Segment], start: datetime, end: datetime) -> float:
    """kWh the segments charge within ``[start, end)``."""
    total = 0.0
    for s in segments:
        a, b = max(s.start, start), min(s.end, end)
        if a < b:
            total += s.power_kw * (b - a).total_seconds() / HOUR
    return total


def planned_to(plans: Sequence[StoredPlan], until: datetime) -> float:
    """Energy the plan versions (oldest first) charge until ``until``, each
    from its creation until the next version's."""
    total = 0.0
    for i, plan in enumerate(plans):
        end = plans[i + 1].created_at if i + 1 < len(plans) else until
        total += energy_between(plan.segments, plan.created_at, min(end, until))
    return total


def metered_between(intervals: Sequence[Interval], start: datetime, end: datetime) -> float:
    """kWh of metered intervals within ``[start, end)``, linear within each."""
    total = 0.0
    for interval in intervals:
        a, b = max(interval.start, start), min(interval.end, end)
        if a < b:
            span = (interval.end - interval.start).total_seconds()
            total += interval.kwh * (b - a).total_seconds() / span
    return total


def behind_kwh(
    transaction: Transaction, plan: StoredPlan, samples: Sequence[StoredMeterValue]
) -> tuple[float, float]:
    """(planned, metered) kWh since ``plan`` was made, up to the latest reading
    (meter values lag: the plan up to now would count what no reading shows yet)."""
    metering = metered_intervals(transaction, samples)
    if not metering.intervals:
        return 0.0, 0.0
    last = metering.intervals[-1].end
    if last <= plan.created_at:
        return 0.0, 0.0
    metered = metered_between(metering.intervals, plan.created_at, last)
    return energy_between(plan.segments, plan.created_at, last), metered


async def series_of(repos: Repositories, station_id: str) -> tuple[str, str]:
    """The price and CO2 series a station's sessions are priced with."""
    site_id = await repos.sites.site_of(station_id)
    site = await repos.sites.get(site_id) if site_id is not None else None
    if site is None:
        return DEFAULT_PRICE_SERIES, DEFAULT_CO2_SERIES
    return site.price_series, site.co2_series


async def account_of(
    repos: Repositories,
    transaction: Transaction,
    samples: Sequence[StoredMeterValue],
    baseline_kw: float,
    end: datetime,
) -> SessionAccount | None:
    """The session priced with its station's series (None: neither is stored
    over the session, or a unit accounting cannot use)."""
    price_series, co2_series = await series_of(repos, transaction.station_id)
    price = await repos.signals.window(price_series, transaction.started_at, end)
    co2 = await repos.signals.window(co2_series, transaction.started_at, end)
    if not price and not co2:
        return None
    try:
        return account_session(transaction, samples, price, co2, baseline_kw)
    except AccountingError:
        return None


async def session_view(
    repos: Repositories, transaction: Transaction, now: datetime, defaults: LiveDefaults
) -> SessionPlanView:
    live = await session_input(repos, transaction, defaults)
    plans = await repos.charging.plans(transaction.id)
    until = transaction.stopped_at or now
    metering = metered_intervals(transaction, live.samples)
    end = max(until, live.assumed.departure)
    account = await account_of(repos, transaction, live.samples, live.max_power_kw, end)
    statuses = await repos.connectors.current(transaction.station_id)
    status = next((c.status for c in statuses if c.connector_id == transaction.connector_id), None)
    estimate = estimate_session(
        transaction,
        live.samples,
        status,
        now,
        energy_needed_kwh=live.remaining_kwh,
    )
    profiles = tuple(
        p
        for p in await repos.charging.profiles(transaction.station_id)
        if p.connector_id in (0, transaction.connector_id)
    )
    return SessionPlanView(
        transaction=transaction,
        need=live.need,
        assumed_need=live.assumed,
        plan=plans[-1] if plans else None,
        plan_versions=len(plans),
        planned_kwh_to_now=planned_to(plans, until),
        metered_kwh=metering.energy_kwh,
        actual=metering.intervals,
        account=account,
        estimate=estimate,
        profiles=profiles,
    )


def planned_load(plans: Sequence[StoredPlan], start: datetime, end: datetime) -> list[Rate]:
    """The sum of the plans' power over ``[start, end)`` as kW steps."""
    points = {start, end}
    for plan in plans:
        for s in plan.segments:
            for t in (s.start, s.end):
                if start < t < end:
                    points.add(t)
    ordered = sorted(points)
    steps: list[Rate] = []
    for a, b in itertools.pairwise(ordered):
        kw = math.fsum(s.power_kw for plan in plans for s in plan.segments if s.start <= a < s.end)
        if steps and steps[-1].value == kw:
            steps[-1] = Rate(steps[-1].start, b, kw, "kW")
        else:
            steps.append(Rate(a, b, kw, "kW"))
    return steps


async def session_account(
    repos: Repositories, transaction: Transaction, defaults: LiveDefaults, now: datetime
) -> SessionAccount | None:
    """The session's account with its station's series (None: a signal unit
    accounting cannot use). The baseline charges at the car's measured peak
    power when known, else its nameplate (the need's power, else the
    default): accounting's documented rule. Not the planner's
    :func:`~.live_inputs.max_power_kw`, which keeps the nameplate over a lower
    peak that our own profiles held the car to."""
    samples = await repos.meter_values.for_transaction(transaction.id)
    need = await repos.charging.get_need(transaction.id)
    peak_w = peak_power_w(transaction, samples)
    if peak_w is not None and peak_w > 0:
        power = peak_w / 1000.0
    elif need is not None and need.max_power_kw is not None:
        power = need.max_power_kw
    else:
        power = defaults.power_kw
    until = transaction.stopped_at or now
    end = max(until, assumed_need(transaction, need, defaults).departure)
    price_series, co2_series = await series_of(repos, transaction.station_id)
    price = await repos.signals.window(price_series, transaction.started_at, end)
    co2 = await repos.signals.window(co2_series, transaction.started_at, end)
    try:
        return account_session(transaction, samples, price, co2, power)
    except AccountingError:
        return None
