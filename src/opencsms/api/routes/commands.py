"""Commands: send any CSMS-initiated OCPP 1.6 message, and read the audit
trail.

``POST /stations/{id}/commands/{action}`` answers 200 with the finished
record (answered, error, timed_out, failed: the station's reply, or why there
is none), 202 with the queued record when the station is offline and
``queue_ttl_s`` was given, 409 (with the failed record) when it is offline
and it was not, 404 for an unknown station, 422 for a payload the OCPP schema
or our rules refuse (nothing stored then).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import CommandOffline, CommandOut, Problem
from opencsms.domain.model import CommandState

router = APIRouter(tags=["commands"])

MAX_QUEUE_TTL_S = 30 * 24 * 3600


class CommandRequest(BaseModel):
    payload: dict[str, object] = Field(
        default_factory=dict,
        description='the OCPP 1.6 request payload, e.g. {"type": "Soft"} for Reset',
    )
    queue_ttl_s: float | None = Field(
        None,
        gt=0,
        le=MAX_QUEUE_TTL_S,
        description="if the station is offline, queue the command this long (seconds)",
    )


class CommandPage(BaseModel):
    items: list[CommandOut]
    next_before_id: int | None = Field(None, description="null on the last page")


@router.post(
    "/stations/{station_id}/commands/{action}",
    responses={
        202: {"model": CommandOut, "description": "queued for the station's next connection"},
        404: {"model": Problem},
        409: {"model": CommandOffline},
        422: {"model": Problem},
    },
)
async def send_command(
    station_id: str,
    action: Annotated[str, Path(pattern=r"^[A-Za-z]{1,64}$", examples=["Reset"])],
    body: CommandRequest,
    response: Response,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> CommandOut:
    ttl = None if body.queue_ttl_s is None else timedelta(seconds=body.queue_ttl_s)
    command = await ctx.services.commands.execute(
        station_id, action, body.payload, requested_by=principal.label, queue_ttl=ttl
    )
    if command.state is CommandState.QUEUED:
        response.status_code = 202
    return CommandOut.from_record(command)


@router.get("/commands")
async def list_commands(
    station_id: str | None = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None, Query(description="the `next_before_id` of the page before")
    ] = None,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> CommandPage:
    """Newest first."""
    found = await ctx.services.commands.list(station_id, action, limit, before_id)
    return CommandPage(
        items=[CommandOut.from_record(c) for c in found],
        next_before_id=found[-1].id if len(found) == limit else None,
    )


@router.get("/commands/{command_id}", responses={404: {"model": Problem}})
async def get_command(
    command_id: int,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> CommandOut:
    command = await ctx.services.commands.get(command_id)
    if command is None:
        raise HTTPException(404, f"no command {command_id}")
    return CommandOut.from_record(command)
