"""Id tags (RFID cards, app tokens): create, replace, read, list, block,
unblock, remove. What a station is told on Authorize and StartTransaction
follows from these records at once (no cache on our side)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import Problem
from opencsms.domain.model import IdTag, TagStatus

router = APIRouter(tags=["id tags"])

ID_TAG = r"^[\x21-\x7e]{1,20}$"
"""OCPP 1.6 IdToken: CiString20Type; printable ASCII without spaces, so it
also fits a URL path."""

TagPath = Annotated[str, Path(pattern=ID_TAG)]


class TagFields(BaseModel):
    status: TagStatus = TagStatus.ACCEPTED
    expiry_date: datetime | None = Field(None, description="with a time zone")
    parent_id_tag: str | None = Field(None, pattern=ID_TAG)


class TagCreate(TagFields):
    id_tag: str = Field(pattern=ID_TAG, examples=["04A1B2C3D4"])


class TagOut(TagCreate):
    @classmethod
    def from_record(cls, tag: IdTag) -> TagOut:
        return cls(
            id_tag=tag.id_tag,
            status=tag.status,
            expiry_date=tag.expiry_date,
            parent_id_tag=tag.parent_id_tag,
        )


class TagPage(BaseModel):
    items: list[TagOut]
    next_after: str | None = None


def _record(id_tag: str, fields: TagFields) -> IdTag:
    if fields.expiry_date is not None and fields.expiry_date.tzinfo is None:
        raise HTTPException(422, "expiry_date needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    return IdTag(
        id_tag=id_tag,
        status=fields.status,
        expiry_date=fields.expiry_date,
        parent_id_tag=fields.parent_id_tag,
    )


def _not_found(id_tag: str) -> HTTPException:
    return HTTPException(404, f"no id tag {id_tag}")


@router.post("/tags", status_code=status.HTTP_201_CREATED, responses={409: {"model": Problem}})
async def create_tag(
    body: TagCreate,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> TagOut:
    tag = _record(body.id_tag, body)
    if not await ctx.services.tags.add(tag):
        raise HTTPException(409, f"id tag {body.id_tag} exists; PUT /tags/{{id_tag}} replaces it")
    return TagOut.from_record(tag)


@router.put("/tags/{id_tag}")
async def put_tag(
    id_tag: TagPath,
    body: TagFields,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> TagOut:
    """Create or replace the tag."""
    tag = _record(id_tag, body)
    await ctx.services.tags.put(tag)
    return TagOut.from_record(tag)


@router.get("/tags")
async def list_tags(
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="the `next_after` of the page before")] = None,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> TagPage:
    tags = await ctx.services.tags.list(limit=limit, after=after)
    return TagPage(
        items=[TagOut.from_record(t) for t in tags],
        next_after=tags[-1].id_tag if len(tags) == limit else None,
    )


@router.get("/tags/{id_tag}", responses={404: {"model": Problem}})
async def get_tag(
    id_tag: TagPath,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> TagOut:
    tag = await ctx.services.tags.get(id_tag)
    if tag is None:
        raise _not_found(id_tag)
    return TagOut.from_record(tag)


async def _set_status(ctx: ApiContext, id_tag: str, to: TagStatus) -> TagOut:
    if not await ctx.services.tags.set_status(id_tag, to):
        raise _not_found(id_tag)
    tag = await ctx.services.tags.get(id_tag)
    assert tag is not None
    return TagOut.from_record(tag)


@router.post("/tags/{id_tag}/block", responses={404: {"model": Problem}})
async def block_tag(
    id_tag: TagPath,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> TagOut:
    return await _set_status(ctx, id_tag, TagStatus.BLOCKED)


@router.post("/tags/{id_tag}/unblock", responses={404: {"model": Problem}})
async def unblock_tag(
    id_tag: TagPath,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> TagOut:
    return await _set_status(ctx, id_tag, TagStatus.ACCEPTED)


@router.delete(
    "/tags/{id_tag}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": Problem}},
)
async def remove_tag(
    id_tag: TagPath,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> Response:
    if not await ctx.services.tags.remove(id_tag):
        raise _not_found(id_tag)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
