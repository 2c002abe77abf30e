"""``/dashboard/stream``: the domain events, as Server-Sent Events, for the pages.

The same stream as ``GET /api/v1/events`` (see
:mod:`opencsms.api.routes.events`), authenticated by the dashboard session
instead of an API key. ``static/dashboard.js`` listens to it and refreshes
the fragments and charts that declare the events they show
(``data-live="connector.status meter.values"``), so a page stays current
without polling. One stream per open page; the node ends them when it stops.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from opencsms.api.context import ApiContext, api_context
from opencsms.api.routes.events import event_stream_response
from opencsms.dashboard.auth import Viewer

router = APIRouter()


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
    station_id: Annotated[list[str] | None, Query()] = None,
    type: Annotated[list[str] | None, Query()] = None,
) -> StreamingResponse:
    return event_stream_response(ctx, station_id or (), type or ())
