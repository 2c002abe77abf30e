"""What the live planner needs for one group of stations, read from storage.

A *group* is what is planned together: a site (its members share its limit
and its signals) or a station that belongs to no site (its cars are planned
alone against the default series). :func:`gather` reads, in one read-only
unit of work, everything a plan of the group depends on, so the planning
itself (:mod:`.live_plan`) is a pure function of what is returned here.

Choices, each in the function that makes it:

- a session without a stored need is planned with the defaults (energy, and a
  departure ``dwell`` after its start), visible as ``assumed``;
- the need is the session's total energy: what the meter has already
  recorded (accounting's register deltas) is taken off;
- measured power wins over the need's and the default power, but only when it
  tells something: a car that drew clearly less than its plan offered it at
  that time, or more than assumed (a car held at 3 kW by our own profile says
  nothing about whether it could take 7.4);
- the car's power is planned as a profile can express it (one decimal of A,
  :func:`~.profiles.expressible_kw`): a plan the station cannot be told is a
  plan the car ends short of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from opencsms.domain.charging_state import CURRENT, POWER
from opencsms.domain.model import StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.accounting import metered_intervals
from opencsms.domain.smart_charging.estimates import peak_power_w, power_readings_w
from opencsms.domain.smart_charging.grid import FlexEvent, add_price_adders, effective_cap
from opencsms.domain.smart_charging.profiles import RESEND_LEAD, expressible_kw
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    ChargingMode,
    ChargingNeed,
    Site,
    StoredPlan,
)

ACTIVE_LIMIT = 100_000
"""Active sessions read per station (a station has a handful; a bound all the same)."""
MIN_HORIZON = timedelta(hours=1)
OFFERED_SHARE = 0.95
"""A car that drew less than this share of the power it was offered took all it could."""
OFFER_SETTLES = timedelta(seconds=60)
"""How long a change of the offered power takes to show in a reading."""
DEFAULT_NEED_BY = "default"


@dataclass(frozen=True, slots=True)
class LiveDefaults:
    """What is assumed when a session tells nothing (from the settings)."""

    need_kwh: float = 20.0
    dwell_hours: float = 12.0
    power_kw: float = 7.4


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A site, or a station planned alone."""

    kind: Literal["site", "station"]
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class SessionInput:
    transaction: Transaction
    need: ChargingNeed | None
    assumed: ChargingNeed
    delivered_kwh: float
    remaining_kwh: float
    max_power_kw: float
    power_source: Literal["measured", "need", "default"]
    latest_plan: StoredPlan | None
    samples: tuple[StoredMeterValue, ...]


@dataclass(frozen=True, slots=True)
class MemberInput:
    station_id: str
    mode: ChargingMode
    sessions: tuple[SessionInput, ...]


@dataclass(frozen=True, slots=True)
class GroupInputs:
    """One group at ``now``: its members' sessions, the signals from the
    earliest rate in force at ``now`` to ``horizon`` (price adders applied),
    its events, and the effective cap over ``[now, horizon)`` (None: no cap)."""

    key: GroupKey
    site: Site | None
    members: tuple[MemberInput, ...]
    price: tuple[Rate, ...]
    co2: tuple[Rate, ...]
    cap: tuple[Rate, ...] | None
    events: tuple[FlexEvent, ...]
    now: datetime
    horizon: datetime

    @property
    def sessions(self) -> list[tuple[str, SessionInput]]:
        return [(m.station_id, s) for m in self.members for s in m.sessions]


def assumed_need(
    transaction: Transaction, need: ChargingNeed | None, defaults: LiveDefaults
) -> ChargingNeed:
    """The stored need, or the defaults for this session."""
    if need is not None:
        return need
    return ChargingNeed(
        transaction_id=transaction.id,
        energy_kwh=defaults.need_kwh,
        departure=transaction.started_at + timedelta(hours=defaults.dwell_hours),
        set_by=DEFAULT_NEED_BY,
        updated_at=transaction.started_at,
    )


def max_power_kw(
    transaction: Transaction,
    samples: Sequence[StoredMeterValue],
    need: ChargingNeed | None,
    plans: Sequence[StoredPlan],
    defaults: LiveDefaults,
) -> tuple[float, Literal["measured", "need", "default"]]:
    """The car's power: the measured peak when it tells (see the module
    docstring), else the need's ``max_power_kw``, else the default."""
    assumed: float = defaults.power_kw
    source: Literal["measured", "need", "default"] = "default"
    if need is not None and need.max_power_kw is not None:
        assumed, source = need.max_power_kw, "need"
    peak_w = peak_power_w(transaction, samples)
    if peak_w is None or peak_w <= 0:
        return assumed, source
    peak = peak_w / 1000.0
    if peak > assumed or not plans:
        return peak, "measured"
    plan = plans[-1]
    readings = _readings_kw(transaction, samples, plan)
    offered = max((_offered_kw(plan, at) for at, _ in readings), default=0.0)
    # never reached what it was offered: it took all it could
    if offered > 0 and max(kw for _, kw in readings) < OFFERED_SHARE * offered:
        return peak, "measured"
    return assumed, source


def _readings_kw(
    transaction: Transaction, samples: Sequence[StoredMeterValue], plan: StoredPlan
) -> list[tuple[datetime, float]]:
    """The power readings taken under ``plan``, a profile's reaction after it was made."""
    since = plan.created_at + OFFER_SETTLES
    return [(at, w / 1000.0) for at, w in power_readings_w(transaction, samples) if at >= since]


def _offered_kw(plan: StoredPlan, at: datetime) -> float:
    """The least ``plan`` offered around ``at``: from two reaction times
    before it (a reading just after a rise still shows the old limit) to
    :data:`~.profiles.RESEND_LEAD` after it (a one-period cap takes a coming
    decrease that early). A car offered 7.4 kW *later* in its plan and
    drawing the 4.1 it is offered now says nothing about what it can take
    (e2e: nine cars of a night were planned at 4.1 kW by that misreading
    and ended short)."""

    def power(moment: datetime) -> float:
        return sum(s.power_kw for s in plan.segments if s.start <= moment < s.end)

    # a one-period cap's rise goes out at the first sweep after it, and shows
    # a reading later: two reaction times (e2e: a reading a minute after a
    # rise made DELTA-01 a 4.14 kW car for the rest of its night)
    since = at - 2 * OFFER_SETTLES
    moments = [since, at]
    moments += [t for s in plan.segments for t in (s.start, s.end) if since < t <= at + RESEND_LEAD]
    return min(power(moment) for moment in moments)


def latest_power_reading(samples: Sequence[StoredMeterValue]) -> datetime | None:
    """When the newest power (or current) sample was taken."""
    times = [s.timestamp for s in samples if s.sample.measurand in (POWER, CURRENT)]
    return max(times, default=None)


async def session_input(
    repos: Repositories, transaction: Transaction, defaults: LiveDefaults
) -> SessionInput:
    need = await repos.charging.get_need(transaction.id)
    samples = tuple(await repos.meter_values.for_transaction(transaction.id))
    plan = await repos.charging.latest_plan(transaction.id)
    assumed = assumed_need(transaction, need, defaults)
    delivered = metered_intervals(transaction, samples).energy_kwh
    power, source = max_power_kw(
        transaction, samples, need, [plan] if plan is not None else [], defaults
    )
    power = expressible_kw(power)
    return SessionInput(
        transaction=transaction,
        need=need,
        assumed=assumed,
        delivered_kwh=delivered,
        remaining_kwh=max(0.0, assumed.energy_kwh - delivered),
        max_power_kw=power,
        power_source=source,
        latest_plan=plan,
        samples=samples,
    )


async def group_of(repos: Repositories, station_id: str) -> GroupKey:
    site_id = await repos.sites.site_of(station_id)
    return GroupKey("station", station_id) if site_id is None else GroupKey("site", site_id)


async def gather(
    repos: Repositories, key: GroupKey, now: datetime, defaults: LiveDefaults
) -> GroupInputs:
    """Everything a plan of ``key`` depends on (a removed site, or a lone
    station that has joined a site since: no members)."""
    site: Site | None = None
    events: list[FlexEvent] = []
    if key.kind == "site":
        site = await repos.sites.get(key.id)
        stations = await repos.sites.members(key.id) if site is not None else []
        if site is not None:
            events = await repos.sites.events(key.id)
    elif await repos.sites.site_of(key.id) is None:
        stations = [key.id]
    else:  # joined a site since it was marked: its site plans it
        stations = []
    members = []
    for station_id in stations:
        active = await repos.transactions.list(
            station_id=station_id, active_only=True, limit=ACTIVE_LIMIT
        )
        sessions = [await session_input(repos, t, defaults) for t in active]
        sessions.sort(key=lambda s: (s.transaction.connector_id, s.transaction.id))
        members.append(
            MemberInput(station_id, await repos.charging.mode(station_id), tuple(sessions))
        )
    departures = [s.assumed.departure for m in members for s in m.sessions]
    horizon = max([now + MIN_HORIZON, *departures])
    price_series = site.price_series if site is not None else DEFAULT_PRICE_SERIES
    co2_series = site.co2_series if site is not None else DEFAULT_CO2_SERIES
    price = await repos.signals.window(price_series, now, horizon)
    co2 = await repos.signals.window(co2_series, now, horizon)
    cap = None
    if site is not None:
        price = add_price_adders(price, events, site.site_id)
        if site.limit is not None:
            cap = tuple(effective_cap(site.limit, events, now, horizon))
    return GroupInputs(
        key=key,
        site=site,
        members=tuple(members),
        price=tuple(price),
        co2=tuple(co2),
        cap=cap,
        events=tuple(events),
        now=now,
        horizon=horizon,
    )
