"""Sites: groups of stations planned together behind one connection limit.

``PUT /sites/{id}`` creates or replaces a site (its limit, the signal series
it is planned against, its objective) and re-plans it; ``PUT
/stations/{id}/site`` moves a station into a site or out of any. A limit the
grid model refuses (an A limit without a sane voltage, a negative value)
answers 422; an unknown site or station 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.api.smart_charging_schemas import (
    RateOut,
    SiteIn,
    SiteLoadOut,
    SiteOut,
    StationSiteIn,
    StationSiteOut,
    require_aware,
)

router = APIRouter(tags=["smart charging: sites"])

SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
SiteId = Annotated[str, Path(pattern=SITE_PATTERN, examples=["depot-north"])]


@router.put("/sites/{site_id}", responses={422: {"model": Problem}})
async def put_site(
    site_id: SiteId,
    body: SiteIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> SiteOut:
    """Create or replace a site; its stations are re-planned."""
    service = ctx.services.smart_charging
    site = await service.put_site(body.to_record(site_id))  # GridError → 422 (app.py)
    return SiteOut.from_record(site, await service.site_members(site_id))


@router.get("/sites")
async def list_sites(
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> list[SiteOut]:
    sites = await ctx.services.smart_charging.list_sites()
    return [SiteOut.from_record(site) for site in sorted(sites, key=lambda s: s.site_id)]


@router.get("/sites/{site_id}", responses={404: {"model": Problem}})
async def get_site(
    site_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> SiteOut:
    """A site with its member stations."""
    service = ctx.services.smart_charging
    site = await service.get_site(site_id)
    if site is None:
        raise HTTPException(404, f"no site {site_id}")
    return SiteOut.from_record(site, sorted(await service.site_members(site_id)))


@router.delete(
    "/sites/{site_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def remove_site(
    site_id: str,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> Response:
    """Remove a site; its stations are re-planned alone (their caps cleared)."""
    if not await ctx.services.smart_charging.remove_site(site_id):
        raise HTTPException(404, f"no site {site_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/stations/{station_id}/site", responses={404: {"model": Problem}})
async def assign_station(
    station_id: str,
    body: StationSiteIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> StationSiteOut:
    """Put a station in a site (``site_id``) or take it out of any (null)."""
    await ctx.services.smart_charging.assign_station(station_id, body.site_id)
    return StationSiteOut(station_id=station_id, site_id=body.site_id)


@router.get("/sites/{site_id}/load", responses={404: {"model": Problem}})
async def site_load(
    site_id: str,
    start: Annotated[datetime, Query(description="ISO 8601 with a time zone")],
    end: Annotated[datetime, Query(description="ISO 8601 with a time zone")],
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> SiteLoadOut:
    """The effective cap and the members' planned power over ``[start, end)``."""
    require_aware("start", start)
    require_aware("end", end)
    if end <= start:
        raise HTTPException(422, "end must be after start")
    load = await ctx.services.smart_charging.site_load(site_id, start, end)
    return SiteLoadOut(
        site_id=load.site_id,
        cap_kw=[RateOut.from_record(r) for r in load.cap_kw],
        planned_kw=[RateOut.from_record(r) for r in load.planned_kw],
    )
