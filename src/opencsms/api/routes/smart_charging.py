"""Smart charging per session and per station: needs, plans, the on/off
switch, re-planning, and the savings report.

* ``PUT /transactions/{id}/need``: what the driver needs by when (404 for an
  unknown transaction, 422 for a finished one or a departure not ahead).
* ``GET /transactions/{id}/plan``: the plan against what was metered.
* ``POST /stations/{id}/charging`` ``{"mode": "smart"|"on"|"off"}``: the
  remote switch (``off`` holds a 0 limit on connector 0; ``on`` charges at
  full power now, a site cap still applies; ``smart`` plans again).
* ``POST /stations/{id}/replan``: plan the station's site now.
* ``GET /savings``: metered cost and CO2 against charging now, per station.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.api.smart_charging_schemas import (
    AccountOut,
    ChargingModeIn,
    ChargingOut,
    EstimateOut,
    IntervalOut,
    NeedIn,
    NeedOut,
    PlanOut,
    ProfileOut,
    ReplanOut,
    SavingsOut,
    SessionPlanOut,
    require_aware,
)
from opencsms.domain.smart_charging.service import SessionPlanView

router = APIRouter(tags=["smart charging: sessions and stations"])


def session_plan_out(view: SessionPlanView) -> SessionPlanOut:
    t = view.transaction
    return SessionPlanOut(
        transaction_id=t.id,
        station_id=t.station_id,
        connector_id=t.connector_id,
        active=t.active,
        started_at=t.started_at,
        stopped_at=t.stopped_at,
        need=None if view.need is None else NeedOut.from_record(view.need),
        assumed_need=NeedOut.from_record(view.assumed_need),
        plan=None if view.plan is None else PlanOut.from_record(view.plan),
        plan_versions=view.plan_versions,
        planned_kwh_to_now=view.planned_kwh_to_now,
        metered_kwh=view.metered_kwh,
        actual=[IntervalOut.from_record(i) for i in view.actual],
        account=None if view.account is None else AccountOut.from_record(view.account),
        estimate=None if view.estimate is None else EstimateOut.from_record(view.estimate),
        profiles=[ProfileOut.from_record(p) for p in view.profiles],
    )


@router.put(
    "/transactions/{transaction_id}/need",
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def set_need(
    transaction_id: int,
    body: NeedIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> NeedOut:
    """Set what a running session needs; its site is re-planned."""
    need = await ctx.services.smart_charging.set_need(
        transaction_id,
        energy_kwh=body.energy_kwh,
        departure=body.departure,
        max_power_kw=body.max_power_kw,
        precondition_minutes=body.precondition_minutes,
        continuous=body.continuous,
        set_by=principal.label,
    )
    return NeedOut.from_record(need)


@router.get("/transactions/{transaction_id}/plan", responses={404: {"model": Problem}})
async def session_plan(
    transaction_id: int,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> SessionPlanOut:
    """The session's need, newest plan, metered energy, cost and profiles."""
    return session_plan_out(await ctx.services.smart_charging.session(transaction_id))


@router.post("/stations/{station_id}/charging", responses={404: {"model": Problem}})
async def switch(
    station_id: str,
    body: ChargingModeIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> ChargingOut:
    """Switch a station's charging on, off, or back to smart."""
    service = ctx.services.smart_charging
    profiles = await service.switch(station_id, body.mode, requested_by=principal.label)
    return ChargingOut(
        station_id=station_id,
        mode=await service.mode(station_id),
        profiles=[ProfileOut.from_record(p) for p in profiles],
    )


@router.get("/stations/{station_id}/charging", responses={404: {"model": Problem}})
async def charging(
    station_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> ChargingOut:
    """The station's switch and the profiles it should hold, with their states."""
    service = ctx.services.smart_charging
    mode = await service.mode(station_id)
    profiles = await service.station_profiles(station_id)
    return ChargingOut(
        station_id=station_id,
        mode=mode,
        profiles=[ProfileOut.from_record(p) for p in profiles],
    )


@router.post("/stations/{station_id}/replan", responses={404: {"model": Problem}})
async def replan(
    station_id: str,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> ReplanOut:
    """Plan the station's site (or the station alone) now and apply the profiles."""
    plans = await ctx.services.smart_charging.replan(
        station_id, reason=f"requested by {principal.label}"
    )
    return ReplanOut(station_id=station_id, plans=[PlanOut.from_record(p) for p in plans])


@router.get("/savings", responses={422: {"model": Problem}})
async def savings(
    start: Annotated[datetime, Query(description="sessions started at or after (ISO 8601)")],
    end: Annotated[datetime, Query(description="sessions started before (ISO 8601)")],
    site_id: Annotated[str | None, Query(description="only this site's stations")] = None,
    station_id: Annotated[str | None, Query(description="only this station")] = None,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> SavingsOut:
    """What smart charging saved over a period, against charging at once."""
    require_aware("start", start)
    require_aware("end", end)
    if end <= start:
        raise HTTPException(422, "end must be after start")
    report = await ctx.services.smart_charging.savings(
        start, end, site_id=site_id, station_id=station_id
    )
    return SavingsOut.from_record(report)
