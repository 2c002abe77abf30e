"""A station's local authorization list: read what it holds (as far as we
know), replace it (PUT: SendLocalList Full), change it (PATCH: SendLocalList
Differential; an entry without ``status`` removes the tag), and ask the
station for its version (GetLocalListVersion).

PUT and PATCH answer 200 with the command and the stored list; the list
changes only when the station answered Accepted, so ``accepted`` says
whether it did and the command's ``status`` what it said otherwise
(VersionMismatch, Failed, NotSupported). A version not above the stored one
is refused with 422 before anything is sent; an offline station is 409.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import CommandOffline, CommandOut, Problem
from opencsms.domain.local_lists import DIFFERENTIAL, FULL
from opencsms.domain.model import Command, CommandState, LocalList, LocalListEntry, TagStatus

router = APIRouter(tags=["local lists"])


class EntryIn(BaseModel):
    id_tag: str = Field(min_length=1, max_length=20)
    status: TagStatus | None = Field(
        None, description="required in a full list; omitted in a PATCH: remove the tag"
    )
    expiry_date: AwareDatetime | None = None
    parent_id_tag: str | None = Field(None, min_length=1, max_length=20)

    def record(self) -> LocalListEntry:
        return LocalListEntry(self.id_tag, self.status, self.expiry_date, self.parent_id_tag)


class LocalListIn(BaseModel):
    version: int = Field(ge=1, description="must be greater than the current version")
    entries: list[EntryIn] = Field(default_factory=list)


class EntryOut(BaseModel):
    id_tag: str
    status: str | None
    expiry_date: datetime | None
    parent_id_tag: str | None


class LocalListOut(BaseModel):
    station_id: str
    version: int | None = Field(description="null: no list was ever accepted by the station")
    entries: list[EntryOut]
    updated_at: datetime | None


class LocalListUpdateOut(BaseModel):
    accepted: bool = Field(description="the station answered Accepted and the list changed")
    command: CommandOut
    local_list: LocalListOut


class VersionOut(BaseModel):
    station_version: int | None = Field(
        description="what the station answered (-1: local lists disabled there; null: no answer)"
    )
    stored_version: int | None
    in_sync: bool
    command: CommandOut


def _list_out(station_id: str, local_list: LocalList | None) -> LocalListOut:
    if local_list is None:
        return LocalListOut(station_id=station_id, version=None, entries=[], updated_at=None)
    return LocalListOut(
        station_id=station_id,
        version=local_list.version,
        entries=[
            EntryOut(
                id_tag=e.id_tag,
                status=None if e.status is None else e.status.value,
                expiry_date=e.expiry_date,
                parent_id_tag=e.parent_id_tag,
            )
            for e in local_list.entries
        ],
        updated_at=local_list.updated_at,
    )


async def _update_out(ctx: ApiContext, station_id: str, command: Command) -> LocalListUpdateOut:
    return LocalListUpdateOut(
        accepted=command.state is CommandState.ANSWERED and command.status == "Accepted",
        command=CommandOut.from_record(command),
        local_list=_list_out(station_id, await ctx.services.local_lists.get(station_id)),
    )


_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem},
    409: {"model": CommandOffline},
    422: {"model": Problem},
}


@router.get("/stations/{station_id}/local-list", responses={404: {"model": Problem}})
async def get_local_list(
    station_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> LocalListOut:
    return _list_out(station_id, await ctx.services.local_lists.get(station_id))


@router.put("/stations/{station_id}/local-list", responses=_ERRORS)
async def replace_local_list(
    station_id: str,
    body: LocalListIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> LocalListUpdateOut:
    """SendLocalList Full: the station's list becomes exactly ``entries``."""
    command = await ctx.services.local_lists.send(
        station_id,
        FULL,
        body.version,
        [entry.record() for entry in body.entries],
        requested_by=principal.label,
    )
    return await _update_out(ctx, station_id, command)


@router.patch("/stations/{station_id}/local-list", responses=_ERRORS)
async def update_local_list(
    station_id: str,
    body: LocalListIn,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> LocalListUpdateOut:
    """SendLocalList Differential: entries with a status are put, without removed."""
    command = await ctx.services.local_lists.send(
        station_id,
        DIFFERENTIAL,
        body.version,
        [entry.record() for entry in body.entries],
        requested_by=principal.label,
    )
    return await _update_out(ctx, station_id, command)


@router.get(
    "/stations/{station_id}/local-list/version",
    responses={404: {"model": Problem}, 409: {"model": CommandOffline}},
)
async def station_local_list_version(
    station_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> VersionOut:
    """Ask the station (GetLocalListVersion) and compare with the stored version.

    A reader may ask: the command changes nothing at the station."""
    versions = await ctx.services.local_lists.station_version(
        station_id, requested_by=principal.label
    )
    stored = versions.stored_version
    return VersionOut(
        station_version=versions.station_version,
        stored_version=stored,
        in_sync=versions.station_version == (0 if stored is None else stored),
        command=CommandOut.from_record(versions.command),
    )
