"""Stations: register (the AuthorizationKey is returned once), rotate the
key, list a page with presence, details with boot info and live connector
status, remove.

"online" comes from this node's session registry (a station holds one
WebSocket; the registry knows whether it is open now), "last_seen_at" from
the database (any message from the station).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.domain.commands import UnknownStation
from opencsms.domain.model import ConnectorStatus, Station
from opencsms.domain.ports import StationExists
from opencsms.security.keys import InvalidKey

router = APIRouter(tags=["stations"])

UNREGISTERED = 4001
"""Close code for the connection of a station just removed (4000-4999 are
the application's; 4000 is "replaced by a newer connection")."""

STATION_ID = r"^[A-Za-z0-9._:-]{1,48}$"
"""OCPP's chargeBoxIdentity is up to 48 characters and ends a URL path: keep
it to characters that need no escaping there."""

StationId = Annotated[str, Field(pattern=STATION_ID, examples=["CP001"])]


class StationCreate(BaseModel):
    id: StationId
    authorization_key: str | None = Field(
        None,
        description="32-40 hex digits or 16-20 characters; generated when omitted",
    )
    lenient: bool = Field(False, description="log schema violations and accept the message")


class Credentials(BaseModel):
    authorization_key: str | None = Field(None, description="generated when omitted")


class StationKey(BaseModel):
    """The station's AuthorizationKey in clear: shown this once, stored hashed."""

    id: str
    authorization_key: str


class BootInfo(BaseModel):
    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


class ConnectorOut(BaseModel):
    connector_id: int = Field(description="0 is the station as a whole")
    status: str
    error_code: str
    updated_at: datetime = Field(description="when we received the status")
    timestamp: datetime | None = Field(None, description="when the station says it changed")
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


class StationOut(BaseModel):
    id: str
    online: bool
    registered_at: datetime
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    lenient: bool
    vendor: str | None
    model: str | None
    firmware_version: str | None


class StationDetailOut(StationOut):
    boot: BootInfo | None
    connectors: list[ConnectorOut]


class StationPage(BaseModel):
    items: list[StationOut]
    next_after: str | None = Field(
        None, description="pass as `after` for the next page; null on the last page"
    )


def _station_out(station: Station, online: bool) -> StationOut:
    info = station.info
    return StationOut(
        id=station.id,
        online=online,
        registered_at=station.registered_at,
        last_boot_at=station.last_boot_at,
        last_seen_at=station.last_seen_at,
        lenient=station.lenient_validation,
        vendor=info.vendor if info else None,
        model=info.model if info else None,
        firmware_version=info.firmware_version if info else None,
    )


def _connector_out(connector: ConnectorStatus) -> ConnectorOut:
    return ConnectorOut(
        connector_id=connector.connector_id,
        status=connector.status,
        error_code=connector.error_code,
        updated_at=connector.updated_at,
        timestamp=connector.timestamp,
        info=connector.info,
        vendor_id=connector.vendor_id,
        vendor_error_code=connector.vendor_error_code,
    )


@router.post(
    "/stations",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": Problem}, 422: {"model": Problem}},
)
async def register_station(
    body: StationCreate,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> StationKey:
    """Register a station; its AuthorizationKey is in the answer, and only there."""
    try:
        clear = await ctx.services.stations.register(body.id, body.authorization_key)
    except InvalidKey as exc:
        raise HTTPException(422, str(exc)) from None
    except StationExists:
        raise HTTPException(409, f"station {body.id} is already registered") from None
    if body.lenient:
        await ctx.services.stations.set_lenient(body.id, True)
    return StationKey(id=body.id, authorization_key=clear)


@router.post("/stations/{station_id}/credentials", responses={404: {"model": Problem}})
async def rotate_credentials(
    station_id: str,
    body: Credentials | None = None,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> StationKey:
    """Give the station a new AuthorizationKey (shown once). Its open
    connection stays; the next login needs the new key."""
    try:
        clear = await ctx.services.stations.set_key(
            station_id, body.authorization_key if body else None
        )
    except InvalidKey as exc:
        raise HTTPException(422, str(exc)) from None
    if clear is None:
        raise UnknownStation(station_id)
    return StationKey(id=station_id, authorization_key=clear)


@router.get("/stations")
async def list_stations(
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="the `next_after` of the page before")] = None,
    online: Annotated[bool | None, Query(description="only online (true) or offline")] = None,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> StationPage:
    """Stations by id, a page at a time. With ``online``, the page is filtered
    after it is read, so it may hold fewer than ``limit`` items: follow
    ``next_after`` until it is null."""
    stations = await ctx.services.fleet.stations(limit, after)
    items = [_station_out(s, ctx.registry.get(s.id) is not None) for s in stations]
    if online is not None:
        items = [item for item in items if item.online is online]
    next_after = stations[-1].id if len(stations) == limit else None
    return StationPage(items=items, next_after=next_after)


@router.get("/stations/{station_id}", responses={404: {"model": Problem}})
async def get_station(
    station_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> StationDetailOut:
    detail = await ctx.services.fleet.station(station_id)
    if detail is None:
        raise UnknownStation(station_id)
    station = detail.station
    summary = _station_out(station, ctx.registry.get(station_id) is not None)
    info = station.info
    return StationDetailOut(
        **summary.model_dump(),
        boot=BootInfo.model_validate(info, from_attributes=True) if info else None,
        connectors=[_connector_out(c) for c in detail.connectors],
    )


@router.delete(
    "/stations/{station_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def remove_station(
    station_id: str,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> Response:
    """Unregister the station: its open connection is closed and it can no
    longer log in. Its history (transactions, meter values, commands) stays."""
    if not await ctx.services.stations.remove(station_id):
        raise UnknownStation(station_id)
    session = ctx.registry.get(station_id)
    if session is not None:
        await session.close(UNREGISTERED, "station unregistered")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
