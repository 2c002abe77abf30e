"""Flexibility events for a site: caps, reductions and price adders from a
grid operator or an aggregator.

``POST /sites/{id}/events`` takes the simple JSON form (one event, a list, or
``{"events": [...]}``, see :func:`opencsms.signals.parse_simple_events`) or,
with ``?format=openadr``, OpenADR 2.0b events as OpenLEADR writes them. Every
event must be for the site in the path: a body that names another site is
refused whole (422), so a file meant for one site can never cap another by a
slip of the URL. OpenADR events name their targets by VEN or resource id;
``target`` (repeatable) says which of those ids mean this site, and an event
without targets is taken as this site's.

Versioning is OpenADR's (``grid.apply_events``): a lower or equal
``modification_number`` changes nothing, a cancelled event stays as a
tombstone (listed with ``include_cancelled=true``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.routes.signals import read_body
from opencsms.api.schemas import Problem
from opencsms.api.smart_charging_schemas import FlexEventOut
from opencsms.domain.smart_charging.grid import FlexEvent
from opencsms.signals import parse_openadr_events, parse_simple_events

router = APIRouter(tags=["smart charging: sites"])

MAX_EVENTS_BYTES = 4 * 1024 * 1024


@router.post(
    "/sites/{site_id}/events",
    responses={404: {"model": Problem}, 422: {"model": Problem}},
)
async def put_events(
    site_id: str,
    request: Request,
    fmt: Annotated[
        Literal["simple", "openadr"], Query(alias="format", description="simple or openadr")
    ] = "simple",
    target: Annotated[
        list[str] | None,
        Query(description="openadr: a VEN or resource id that means this site (repeatable)"),
    ] = None,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> list[FlexEventOut]:
    """Store events for this site (OpenADR versioning); answers the events now
    stored under the keys given. The site is re-planned."""
    if target and fmt != "openadr":
        raise HTTPException(422, "target applies to format=openadr only")
    data = await read_body(request, MAX_EVENTS_BYTES)
    events: list[FlexEvent]
    if fmt == "openadr":
        aliases = {name: site_id for name in target or ()}
        events = parse_openadr_events(data, site_ids=aliases, default_site=site_id)
    else:
        events = parse_simple_events(data)
    if not events:
        raise HTTPException(422, "the body holds no events")
    others = sorted({e.site_id for e in events if e.site_id != site_id})
    if others:
        hint = " (map OpenADR targets to it with ?target=ID)" if fmt == "openadr" else ""
        raise HTTPException(
            422,
            f"events for site(s) {', '.join(others)} posted to site {site_id}: "
            f"every event must be for {site_id}{hint}; nothing stored",
        )
    stored = await ctx.services.smart_charging.put_events(events)
    return [FlexEventOut.from_record(e) for e in stored]


@router.get("/sites/{site_id}/events", responses={404: {"model": Problem}})
async def list_events(
    site_id: str,
    include_cancelled: Annotated[bool, Query(description="also the cancelled ones")] = False,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> list[FlexEventOut]:
    events = await ctx.services.smart_charging.events(site_id, include_cancelled=include_cancelled)
    return [FlexEventOut.from_record(e) for e in events]
