"""Reservations: list, read, create (ReserveNow), cancel (CancelReservation).

``POST /stations/{id}/reservations`` stores the reservation and sends
ReserveNow; it answers 201 with the reservation as the station left it
(``active`` when Accepted, ``rejected`` with the station's answer in
``detail`` otherwise), 409 when the station is offline (the reservation is
kept as ``rejected``), 404/422 as usual with nothing stored.
``POST /reservations/{id}/cancel`` sends CancelReservation: 200 with the
reservation (``cancelled`` when Accepted) and the command, 409 when the
reservation is no longer open or the station is offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime, BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import CommandOffline, CommandOut, Problem
from opencsms.domain.model import Reservation
from opencsms.domain.reservations import ReservationClosed, UnknownReservation

router = APIRouter(tags=["reservations"])


class ReservationIn(BaseModel):
    connector_id: int = Field(ge=0, description="0: any connector of the station")
    id_tag: str = Field(min_length=1, max_length=20)
    expiry_date: AwareDatetime = Field(description="with a time zone, in the future")
    parent_id_tag: str | None = Field(None, min_length=1, max_length=20)


class ReservationOut(BaseModel):
    id: int = Field(description="the OCPP reservationId (unique system-wide)")
    station_id: str
    connector_id: int
    id_tag: str
    parent_id_tag: str | None
    expiry_date: datetime
    state: str = Field(description="requested, active, rejected, cancelled, used or expired")
    transaction_id: int | None = Field(description="the transaction that used it")
    detail: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: Reservation) -> ReservationOut:
        return cls(
            id=r.id,
            station_id=r.station_id,
            connector_id=r.connector_id,
            id_tag=r.id_tag,
            parent_id_tag=r.parent_id_tag,
            expiry_date=r.expiry_date,
            state=r.state.value,
            transaction_id=r.transaction_id,
            detail=r.detail,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class ReservationList(BaseModel):
    items: list[ReservationOut]


class CancelOut(BaseModel):
    reservation: ReservationOut
    command: CommandOut


@router.get("/reservations")
async def list_reservations(
    station_id: str | None = None,
    open_only: Annotated[bool, Query(description="only requested or active ones")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> ReservationList:
    """Newest first."""
    found = await ctx.services.reservations.list(station_id, open_only, limit)
    return ReservationList(items=[ReservationOut.from_record(r) for r in found])


@router.get("/reservations/{reservation_id}", responses={404: {"model": Problem}})
async def get_reservation(
    reservation_id: int,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> ReservationOut:
    try:
        return ReservationOut.from_record(await ctx.services.reservations.get(reservation_id))
    except UnknownReservation as exc:
        raise HTTPException(404, str(exc)) from None


@router.post(
    "/stations/{station_id}/reservations",
    status_code=201,
    responses={404: {"model": Problem}, 409: {"model": CommandOffline}, 422: {"model": Problem}},
)
async def create_reservation(
    station_id: str,
    body: ReservationIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> ReservationOut:
    reservation = await ctx.services.reservations.reserve(
        station_id,
        body.connector_id,
        body.id_tag,
        body.expiry_date,
        requested_by=principal.label,
        parent_id_tag=body.parent_id_tag,
    )
    return ReservationOut.from_record(reservation)


@router.post(
    "/reservations/{reservation_id}/cancel",
    responses={404: {"model": Problem}, 409: {"model": CommandOffline}},
)
async def cancel_reservation(
    reservation_id: int,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> CancelOut:
    try:
        reservation, command = await ctx.services.reservations.cancel(
            reservation_id, requested_by=principal.label
        )
    except UnknownReservation as exc:
        raise HTTPException(404, str(exc)) from None
    except ReservationClosed as exc:
        raise HTTPException(409, str(exc)) from None
    return CancelOut(
        reservation=ReservationOut.from_record(reservation),
        command=CommandOut.from_record(command),
    )
