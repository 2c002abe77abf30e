"""Transactions: a filtered list, and one transaction with its meter-value
time series, energy so far, power now and whether the car is charging (see
:mod:`opencsms.domain.charging_state` for how those are derived)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.domain.charging_state import ChargingState
from opencsms.domain.fleet_view import TransactionFilter
from opencsms.domain.model import StoredMeterValue, Transaction

router = APIRouter(tags=["transactions"])


class TransactionOut(BaseModel):
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    tag_status: str = Field(description="what the station was told at the start")
    active: bool
    meter_start: int = Field(description="Wh")
    started_at: datetime
    meter_stop: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    reservation_id: int | None = None
    meter_anomaly: bool = Field(False, description="meterStop < meterStart: energy unknown")

    @classmethod
    def from_record(cls, t: Transaction) -> TransactionOut:
        return cls(
            id=t.id,
            station_id=t.station_id,
            connector_id=t.connector_id,
            id_tag=t.id_tag,
            tag_status=str(t.tag_status),
            active=t.active,
            meter_start=t.meter_start,
            started_at=t.started_at,
            meter_stop=t.meter_stop,
            stopped_at=t.stopped_at,
            stop_reason=t.stop_reason,
            stop_id_tag=t.stop_id_tag,
            reservation_id=t.reservation_id,
            meter_anomaly=t.meter_anomaly,
        )


class MeterSample(BaseModel):
    timestamp: datetime
    measurand: str
    value: str = Field(description="as the station sent it")
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None

    @classmethod
    def from_record(cls, s: StoredMeterValue) -> MeterSample:
        return cls(
            timestamp=s.timestamp,
            measurand=s.sample.measurand,
            value=s.sample.value,
            unit=s.sample.unit,
            phase=s.sample.phase,
            context=s.sample.context,
            location=s.sample.location,
        )


class TransactionDetailOut(TransactionOut):
    energy_wh: float | None = Field(description="delivered so far; null when unknown")
    power_w: float | None = Field(description="drawn now; null when unknown, 0 when finished")
    state: ChargingState
    connector_status: str | None
    meter_values: list[MeterSample] = Field(description="oldest first")


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_offset: int | None = Field(None, description="null on the last page")


@router.get("/transactions")
async def list_transactions(
    station_id: str | None = None,
    id_tag: str | None = None,
    started_from: Annotated[
        datetime | None, Query(alias="from", description="started at or after (ISO 8601)")
    ] = None,
    started_before: Annotated[
        datetime | None, Query(alias="to", description="started before (ISO 8601)")
    ] = None,
    active: Annotated[bool, Query(description="only transactions not stopped yet")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> TransactionPage:
    """Newest first."""
    for name, value in (("from", started_from), ("to", started_before)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name} needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    where = TransactionFilter(station_id, id_tag, started_from, started_before, active)
    found = await ctx.services.fleet.transactions(where, limit, offset)
    return TransactionPage(
        items=[TransactionOut.from_record(t) for t in found],
        next_offset=offset + limit if len(found) == limit else None,
    )


@router.get("/transactions/{transaction_id}", responses={404: {"model": Problem}})
async def get_transaction(
    transaction_id: int,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> TransactionDetailOut:
    detail = await ctx.services.fleet.transaction(transaction_id)
    if detail is None:
        raise HTTPException(404, f"no transaction {transaction_id}")
    return TransactionDetailOut(
        **TransactionOut.from_record(detail.transaction).model_dump(),
        energy_wh=detail.energy_wh,
        power_w=detail.power_w,
        state=detail.state,
        connector_status=detail.connector_status,
        meter_values=[MeterSample.from_record(s) for s in detail.samples],
    )
