"""What the live smart-charging system stores: sites, needs, plans, profiles.

The planner and the grid model (``planner.py``, ``grid.py``) are pure and know
nothing of stations or storage. These records are what the services keep
between plans: which stations sit behind which site limit, what each session
needs, what was planned (so "plan vs actual" can be shown later), which
charging profile each connector should hold and whether it was verified, and
what each station *model* was found to accept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from opencsms.domain.smart_charging.grid import SiteLimit
from opencsms.domain.smart_charging.planner import PRICE, Objective, Segment
from opencsms.domain.smart_charging.rates import Rate

ProfilePurpose = Literal["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"]
ProfileKind = Literal["Absolute", "Relative"]
RateUnit = Literal["A", "W"]

DEFAULT_PRICE_SERIES = "price"
DEFAULT_CO2_SERIES = "co2"


@dataclass(frozen=True, slots=True)
class Site:
    """A group of stations planned together. ``limit`` None: no shared cap
    (each car is planned alone). The site names the signal series it is
    planned against, and its objective (per tenant: a site is the unit)."""

    site_id: str
    name: str = ""
    limit: SiteLimit | None = None
    price_series: str = DEFAULT_PRICE_SERIES
    co2_series: str = DEFAULT_CO2_SERIES
    objective: Objective = PRICE


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """One stored signal series: ``price`` and ``co2`` by default, or any name."""

    series: str
    unit: str
    first_start: datetime
    last_end: datetime
    count: int


class ChargingMode(StrEnum):
    """A station's switch. ``smart``: planned; ``on``: charge at full power
    now, unplanned; ``off``: no charging (a 0 limit on connector 0)."""

    SMART = "smart"
    ON = "on"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class ChargingNeed:
    """What a session needs by when. ``max_power_kw`` is the car's own limit
    (None: the station's); measured power wins over it once the car draws."""

    transaction_id: int
    energy_kwh: float
    departure: datetime
    set_by: str
    updated_at: datetime
    max_power_kw: float | None = None
    precondition_minutes: int = 0
    continuous: bool = False


@dataclass(frozen=True, slots=True)
class StoredPlan:
    """One plan made for one session (a session keeps every version: the
    newest is in force). ``method``: ``single`` (cheapest slots), ``lp`` or
    ``greedy`` (joint site plan), ``on`` (switched on: charge now), ``off``."""

    id: int
    transaction_id: int
    station_id: str
    connector_id: int
    created_at: datetime
    reason: str
    method: str
    segments: tuple[Segment, ...]
    need_kwh: float
    shortfall_kwh: float = 0.0
    unplanned_kwh: float = 0.0
    charge_now: bool = False
    cost: float | None = None
    co2_g: float | None = None
    baseline_cost: float | None = None
    baseline_co2_g: float | None = None
    notes: tuple[str, ...] = field(default=())


class ProfileState(StrEnum):
    SENT = "sent"
    """SetChargingProfile sent (or about to be), no answer yet."""
    ACCEPTED = "accepted"
    """The station said Accepted; not yet checked."""
    VERIFIED = "verified"
    """GetCompositeSchedule (and metering, when a car draws) show the limit in effect."""
    REJECTED = "rejected"
    """The station said Rejected (the next escalation step follows)."""
    FAILED = "failed"
    """Every escalation step tried and none took effect: for the operator."""
    CLEARED = "cleared"
    """Not wanted any more (session ended, switched on without a site cap)."""


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """The profile one connector should hold for one purpose, as last sent.

    ``step`` is the escalation step the payload was built with (``plain``,
    then ``resend``, ``clear_and_set``, ``fewer_periods``, ``stack_level_0``,
    ``flip_kind``, ``flip_unit``). ``resend_at``: the schedule was cut to the station's
    ``ChargingScheduleMaxPeriods`` and must be sent again by then."""

    station_id: str
    connector_id: int
    purpose: ProfilePurpose
    profile_id: int
    payload: dict[str, object]
    state: ProfileState
    step: str
    attempts: int
    updated_at: datetime
    transaction_id: int | None = None
    resend_at: datetime | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LearnedProfileOptions:
    """What worked for a station model (vendor, model), remembered so the next
    station of that model starts with it instead of escalating again."""

    vendor: str
    model: str
    stack_level_0: bool = False
    kind: ProfileKind = "Absolute"
    unit: RateUnit | None = None
    max_periods: int | None = None
    """The most periods a schedule it accepted had, when it refused more than
    its ``ChargingScheduleMaxPeriods`` advertises (None: trust the station)."""
    learned_at: datetime | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorTarget:
    """What one connector with an active session should draw: its plan's
    segments, and ``after_kw`` past the last one (None: 0; a session with a
    shortfall keeps charging while connected)."""

    connector_id: int
    transaction_id: int
    transaction_started_at: datetime
    segments: tuple[Segment, ...]
    after_kw: float | None = None


@dataclass(frozen=True, slots=True)
class StationTarget:
    """Every profile one station should hold, as the planner decided it; the
    enforcer turns it into OCPP profiles, sends, verifies and escalates.

    ``station_cap_kw``: this station's share of its site's ceiling as kW steps
    (its ChargePointMaxProfile on connector 0; None: no site cap, clear it).
    ``default_limit_kw``: the constant TxDefaultProfile that bounds a station
    that loses its link before a plan reaches it (None: none). ``mode`` off
    overrides both with a 0 limit on connector 0. ``own_load_kw``: the
    station's planned load under its cap (kW steps; what its TxProfiles end
    on time, so a single-period cap need not take it early)."""

    station_id: str
    mode: ChargingMode
    connectors: tuple[ConnectorTarget, ...] = ()
    station_cap_kw: tuple[Rate, ...] | None = None
    default_limit_kw: float | None = None
    own_load_kw: tuple[Rate, ...] = ()
