"""The smart-charging API's view of its records: signals, sites, events,
needs, plans, profiles, savings.

Kept apart from ``api/schemas.py`` (shared by every resource) because these
models belong to one concept; the routes in ``routes/signals.py``,
``routes/sites.py``, ``routes/site_events.py`` and ``routes/smart_charging.py``
use them. Each ``from_record`` maps a domain dataclass once. Times are UTC
ISO 8601 on the way out and must carry a time zone on the way in (a naive
departure or window would be read in whatever zone the server runs in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field, field_validator

from opencsms.domain.charging_state import ChargingState
from opencsms.domain.smart_charging.accounting import (
    Interval,
    SavingsReport,
    SavingsTotals,
    SessionAccount,
)
from opencsms.domain.smart_charging.estimates import Estimate
from opencsms.domain.smart_charging.grid import FlexEvent, SiteLimit
from opencsms.domain.smart_charging.planner import Objective, ObjectiveMode, Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    ChargingMode,
    ChargingNeed,
    ProfileRecord,
    SeriesSummary,
    Site,
    StoredPlan,
)


def require_aware(name: str, value: datetime | None) -> None:
    """422 for a time without a zone (query parameters cannot say it in the model)."""
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone (e.g. 2027-01-01T00:00:00Z)")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (e.g. 2027-01-01T18:00:00Z)")
    return value


# -- signals ------------------------------------------------------------------


class RateOut(BaseModel):
    start: datetime
    end: datetime
    value: float
    unit: str

    @classmethod
    def from_record(cls, rate: Rate) -> RateOut:
        return cls(start=rate.start, end=rate.end, value=rate.value, unit=rate.unit)


class SeriesSummaryOut(BaseModel):
    series: str
    unit: str
    first_start: datetime
    last_end: datetime
    count: int

    @classmethod
    def from_record(cls, summary: SeriesSummary) -> SeriesSummaryOut:
        return cls(
            series=summary.series,
            unit=summary.unit,
            first_start=summary.first_start,
            last_end=summary.last_end,
            count=summary.count,
        )


class SignalImportOut(BaseModel):
    series: str
    format: str
    stored: int = Field(description="rates stored (they replace the series' rates they overlap)")
    unit: str
    first_start: datetime
    last_end: datetime


class SeriesOut(BaseModel):
    series: str
    rates: list[RateOut] = Field(description="oldest first")


# -- sites --------------------------------------------------------------------


class LimitIn(BaseModel):
    model_config = {"extra": "forbid"}

    value: float = Field(ge=0, description="the site's connection limit")
    unit: Literal["kW", "A"] = "kW"
    phases: int = Field(3, ge=1, le=3, description="for an A limit: per-phase current")
    voltage: float = Field(230.0, gt=0, description="for an A limit: phase voltage")


class LimitOut(LimitIn):
    limit_kw: float

    @classmethod
    def from_record(cls, limit: SiteLimit) -> LimitOut:
        return cls(
            value=limit.limit,
            unit=limit.unit,
            phases=limit.phases,
            voltage=limit.voltage,
            limit_kw=limit.limit_kw,
        )


class ObjectiveIn(BaseModel):
    model_config = {"extra": "forbid"}

    mode: ObjectiveMode = "price"
    lam: float = Field(0.0, ge=0, description="price units per gram of CO2, for price+co2")


class SiteIn(BaseModel):
    model_config = {"extra": "forbid"}

    name: str = Field("", max_length=200)
    limit: LimitIn | None = Field(None, description="null: no shared cap")
    price_series: str = Field(DEFAULT_PRICE_SERIES, min_length=1, max_length=64)
    co2_series: str = Field(DEFAULT_CO2_SERIES, min_length=1, max_length=64)
    objective: ObjectiveIn = Field(default_factory=lambda: ObjectiveIn(mode="price", lam=0.0))

    def to_record(self, site_id: str) -> Site:
        """Raises ``GridError`` for a limit that cannot hold (→ 422)."""
        limit = None
        if self.limit is not None:
            limit = SiteLimit(
                site_id, self.limit.value, self.limit.unit, self.limit.phases, self.limit.voltage
            )
        return Site(
            site_id=site_id,
            name=self.name,
            limit=limit,
            price_series=self.price_series,
            co2_series=self.co2_series,
            objective=Objective(self.objective.mode, self.objective.lam),
        )


class SiteOut(BaseModel):
    site_id: str
    name: str
    limit: LimitOut | None
    price_series: str
    co2_series: str
    objective: ObjectiveIn
    members: list[str] | None = Field(None, description="station ids (on GET /sites/{id})")

    @classmethod
    def from_record(cls, site: Site, members: list[str] | None = None) -> SiteOut:
        return cls(
            site_id=site.site_id,
            name=site.name,
            limit=None if site.limit is None else LimitOut.from_record(site.limit),
            price_series=site.price_series,
            co2_series=site.co2_series,
            objective=ObjectiveIn(mode=site.objective.mode, lam=site.objective.lam),
            members=members,
        )


class StationSiteIn(BaseModel):
    model_config = {"extra": "forbid"}

    site_id: str | None = Field(description="null: take the station out of its site")


class StationSiteOut(BaseModel):
    station_id: str
    site_id: str | None


class SiteLoadOut(BaseModel):
    site_id: str
    cap_kw: list[RateOut] = Field(description="the effective cap (limit and events), kW")
    planned_kw: list[RateOut] = Field(description="the members' newest plans summed, kW")


# -- flexibility events -------------------------------------------------------


class FlexIntervalOut(BaseModel):
    start: datetime
    end: datetime
    value: float


class FlexEventOut(BaseModel):
    site_id: str
    event_id: str
    kind: str = Field(description="cap_kw, reduce_kw or price_adder")
    intervals: list[FlexIntervalOut]
    priority: int
    modification_number: int
    cancelled: bool
    unit: str | None

    @classmethod
    def from_record(cls, event: FlexEvent) -> FlexEventOut:
        return cls(
            site_id=event.site_id,
            event_id=event.event_id,
            kind=event.kind,
            intervals=[
                FlexIntervalOut(start=i.start, end=i.end, value=i.value) for i in event.intervals
            ],
            priority=event.priority,
            modification_number=event.modification_number,
            cancelled=event.cancelled,
            unit=event.unit,
        )


# -- sessions -----------------------------------------------------------------


class NeedIn(BaseModel):
    model_config = {"extra": "forbid"}

    energy_kwh: float = Field(
        gt=0,
        le=1000,
        description="energy the session needs in all by departure "
        "(what the meter already counted is part of it)",
    )
    departure: datetime = Field(description="with a time zone")
    max_power_kw: float | None = Field(None, gt=0, le=1000, description="the car's own limit")
    precondition_minutes: int = Field(
        0, ge=0, le=240, description="keep charging this long before departure"
    )
    continuous: bool = Field(False, description="one block, no pauses")

    @field_validator("departure")
    @classmethod
    def _departure_aware(cls, value: datetime) -> datetime:
        return _aware(value)


class NeedOut(BaseModel):
    transaction_id: int
    energy_kwh: float
    departure: datetime
    max_power_kw: float | None
    precondition_minutes: int
    continuous: bool
    set_by: str
    updated_at: datetime

    @classmethod
    def from_record(cls, need: ChargingNeed) -> NeedOut:
        return cls(
            transaction_id=need.transaction_id,
            energy_kwh=need.energy_kwh,
            departure=need.departure,
            max_power_kw=need.max_power_kw,
            precondition_minutes=need.precondition_minutes,
            continuous=need.continuous,
            set_by=need.set_by,
            updated_at=need.updated_at,
        )


class SegmentOut(BaseModel):
    start: datetime
    end: datetime
    power_kw: float
    energy_kwh: float

    @classmethod
    def from_record(cls, segment: Segment) -> SegmentOut:
        return cls(
            start=segment.start,
            end=segment.end,
            power_kw=segment.power_kw,
            energy_kwh=segment.energy_kwh,
        )


class PlanOut(BaseModel):
    id: int
    transaction_id: int
    station_id: str
    connector_id: int
    created_at: datetime
    reason: str
    method: str = Field(description="single, lp, greedy, on or off")
    segments: list[SegmentOut]
    need_kwh: float
    shortfall_kwh: float
    unplanned_kwh: float
    charge_now: bool
    cost: float | None
    co2_g: float | None
    baseline_cost: float | None
    baseline_co2_g: float | None
    notes: list[str]

    @classmethod
    def from_record(cls, plan: StoredPlan) -> PlanOut:
        return cls(
            id=plan.id,
            transaction_id=plan.transaction_id,
            station_id=plan.station_id,
            connector_id=plan.connector_id,
            created_at=plan.created_at,
            reason=plan.reason,
            method=plan.method,
            segments=[SegmentOut.from_record(s) for s in plan.segments],
            need_kwh=plan.need_kwh,
            shortfall_kwh=plan.shortfall_kwh,
            unplanned_kwh=plan.unplanned_kwh,
            charge_now=plan.charge_now,
            cost=plan.cost,
            co2_g=plan.co2_g,
            baseline_cost=plan.baseline_cost,
            baseline_co2_g=plan.baseline_co2_g,
            notes=list(plan.notes),
        )


class IntervalOut(BaseModel):
    start: datetime
    end: datetime
    kwh: float

    @classmethod
    def from_record(cls, interval: Interval) -> IntervalOut:
        return cls(start=interval.start, end=interval.end, kwh=interval.kwh)


class AccountOut(BaseModel):
    """Metered cost and CO2 against charging now (see ``accounting.SessionAccount``)."""

    energy_kwh: float
    cost: float
    cost_unit: str | None
    co2_g: float
    baseline_cost: float
    baseline_co2_g: float
    saving: float | None
    saving_pct: float | None
    co2_saving_g: float | None
    unpriced_kwh: float
    co2_uncovered_kwh: float
    anomalies: list[str]

    @classmethod
    def from_record(cls, account: SessionAccount) -> AccountOut:
        return cls(
            energy_kwh=account.energy_kwh,
            cost=account.cost,
            cost_unit=account.cost_unit,
            co2_g=account.co2_g,
            baseline_cost=account.baseline_cost,
            baseline_co2_g=account.baseline_co2_g,
            saving=account.saving,
            saving_pct=account.saving_pct,
            co2_saving_g=account.co2_saving_g,
            unpriced_kwh=account.unpriced_kwh,
            co2_uncovered_kwh=account.co2_uncovered_kwh,
            anomalies=[
                f"{a.kind.value} at {a.at.isoformat()}: {a.detail}" for a in account.anomalies
            ],
        )


class EstimateOut(BaseModel):
    state: ChargingState
    power_w: float | None
    time_to_finish_s: float | None
    finish_at: datetime | None

    @classmethod
    def from_record(cls, estimate: Estimate) -> EstimateOut:
        ttf = estimate.time_to_finish
        return cls(
            state=estimate.state,
            power_w=estimate.power_w,
            time_to_finish_s=None if ttf is None else ttf.total_seconds(),
            finish_at=estimate.finish_at,
        )


class ProfileOut(BaseModel):
    station_id: str
    connector_id: int
    purpose: str
    profile_id: int
    state: str = Field(description="sent, accepted, verified, rejected, failed or cleared")
    step: str = Field(description="the escalation step the payload was built with")
    attempts: int
    updated_at: datetime
    transaction_id: int | None
    resend_at: datetime | None
    detail: str | None
    payload: dict[str, object] = Field(description="the SetChargingProfile request")

    @classmethod
    def from_record(cls, record: ProfileRecord) -> ProfileOut:
        return cls(
            station_id=record.station_id,
            connector_id=record.connector_id,
            purpose=record.purpose,
            profile_id=record.profile_id,
            state=record.state.value,
            step=record.step,
            attempts=record.attempts,
            updated_at=record.updated_at,
            transaction_id=record.transaction_id,
            resend_at=record.resend_at,
            detail=record.detail,
            payload=record.payload,
        )


class SessionPlanOut(BaseModel):
    """A session's plan against what it actually drew."""

    transaction_id: int
    station_id: str
    connector_id: int
    active: bool
    started_at: datetime
    stopped_at: datetime | None
    need: NeedOut | None = Field(description="null: no need set, the defaults are in force")
    assumed_need: NeedOut = Field(description="the need the planner used")
    plan: PlanOut | None = Field(description="the newest plan in force")
    plan_versions: int
    planned_kwh_to_now: float = Field(description="what the plan had charged by now")
    metered_kwh: float
    actual: list[IntervalOut] = Field(description="metered intervals, oldest first")
    account: AccountOut | None = Field(description="null: no signals stored for it")
    estimate: EstimateOut | None
    profiles: list[ProfileOut]


# -- switch -------------------------------------------------------------------


class ChargingModeIn(BaseModel):
    model_config = {"extra": "forbid"}

    mode: ChargingMode = Field(description="smart: planned; on: full power now; off: none")


class ChargingOut(BaseModel):
    station_id: str
    mode: ChargingMode
    profiles: list[ProfileOut]


class ReplanOut(BaseModel):
    station_id: str
    plans: list[PlanOut]


# -- savings ------------------------------------------------------------------


class SavingsTotalsOut(BaseModel):
    sessions: int
    compared: int = Field(description="sessions with a known saving")
    co2_compared: int
    energy_kwh: float
    cost: float
    baseline_cost: float
    saving: float
    saving_pct: float | None
    co2_g: float
    baseline_co2_g: float
    co2_saving_g: float
    unpriced_kwh: float
    co2_uncovered_kwh: float
    anomalies: int

    @classmethod
    def from_record(cls, totals: SavingsTotals) -> SavingsTotalsOut:
        return cls(
            sessions=totals.sessions,
            compared=totals.compared,
            co2_compared=totals.co2_compared,
            energy_kwh=totals.energy_kwh,
            cost=totals.cost,
            baseline_cost=totals.baseline_cost,
            saving=totals.saving,
            saving_pct=totals.saving_pct,
            co2_g=totals.co2_g,
            baseline_co2_g=totals.baseline_co2_g,
            co2_saving_g=totals.co2_saving_g,
            unpriced_kwh=totals.unpriced_kwh,
            co2_uncovered_kwh=totals.co2_uncovered_kwh,
            anomalies=totals.anomalies,
        )


class SavingsOut(BaseModel):
    start: datetime
    end: datetime
    cost_unit: str | None
    total: SavingsTotalsOut
    by_station: dict[str, SavingsTotalsOut]

    @classmethod
    def from_record(cls, report: SavingsReport) -> SavingsOut:
        return cls(
            start=report.start,
            end=report.end,
            cost_unit=report.cost_unit,
            total=SavingsTotalsOut.from_record(report.total),
            by_station={
                station: SavingsTotalsOut.from_record(totals)
                for station, totals in sorted(report.by_station.items())
            },
        )
