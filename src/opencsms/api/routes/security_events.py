"""Security events (admin only): operator logins and logouts, failed logins
of operators and stations, account changes; newest first.

Paging is by id (keyset): pass the ``id`` of the last event of a page as
``before_id`` to get the next, older one. A flood of failed station logins is
stored at most once per station, address and 10 seconds (see
:mod:`opencsms.domain.security_events`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from opencsms.api.auth import Principal, require_admin
from opencsms.api.context import ApiContext, api_context
from opencsms.domain.model import SecurityEvent

router = APIRouter(tags=["security"])

Admin = Annotated[Principal, Depends(require_admin)]
Context = Annotated[ApiContext, Depends(api_context)]


class SecurityEventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    subject: str
    remote: str | None
    detail: str

    @classmethod
    def from_record(cls, event: SecurityEvent) -> SecurityEventOut:
        assert event.id is not None  # stored events have one
        return cls(
            id=event.id,
            at=event.at,
            kind=event.kind,
            subject=event.subject,
            remote=event.remote,
            detail=event.detail,
        )


@router.get("/security-events", summary="Security events, newest first")
async def list_security_events(
    ctx: Context,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, description="the id of the last event of the previous page")
    ] = None,
    kind: Annotated[
        str | None,
        Query(max_length=64, description="e.g. station.login_failed, operator.login"),
    ] = None,
) -> list[SecurityEventOut]:
    events = await ctx.services.security.recent(limit, before_id, kind)
    return [SecurityEventOut.from_record(event) for event in events]
