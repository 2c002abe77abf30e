"""The live event stream: ``GET /api/v1/events`` as Server-Sent Events.

Why SSE rather than a WebSocket: the stream flows one way, SSE is plain HTTP
(it passes proxies and the API's TLS and bearer key as they are) and every
language has a client (``EventSource``, ``httpx-sse``, ``curl -N``).

Each domain event (see :mod:`opencsms.domain.events`) is one SSE message::

    id: 3f2c...            (the event's id)
    event: connector.status
    data: {"id": "3f2c...", "type": "connector.status", "station_id": "CP1",
           "at": "2026-03-01T12:00:00+00:00", "data": {...}}   (one line)

Filters (repeatable, combined with "or" within one, "and" across them):
``station_id=CP1&station_id=CP2``, ``type=connector.status`` or a family,
``type=transaction.*``. A comment line (``: heartbeat``) is sent every
``heartbeat`` seconds (default 15) so proxies keep an idle stream open and a
client notices a dead one. A client that reads too slowly loses the oldest
events and is told so by an ``event: dropped`` message with the running
count. There is no replay (``Last-Event-ID`` is ignored): events are not
stored; the REST resources and webhooks are the durable views. The stream
ends cleanly (response completed) when the node stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from opencsms.api.auth import Principal, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.domain.events import Event, Subscription
from opencsms.domain.webhooks import EVENT_TYPES

router = APIRouter(tags=["events"])

HEARTBEAT_S = 15.0


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "an endless event stream"},
        422: {"description": "an unknown event type"},
    },
)
async def event_stream(
    ctx: Annotated[ApiContext, Depends(api_context)],
    principal: Annotated[Principal, Depends(require_reader)],
    station_id: Annotated[list[str] | None, Query()] = None,
    type: Annotated[
        list[str] | None,
        Query(description="an event type, or a family such as transaction.*"),
    ] = None,
    heartbeat: Annotated[float, Query(ge=1, le=300, description="seconds")] = HEARTBEAT_S,
) -> StreamingResponse:
    return event_stream_response(ctx, station_id or (), type or (), heartbeat)


def event_stream_response(
    ctx: ApiContext,
    station_ids: list[str] | tuple[str, ...],
    types: list[str] | tuple[str, ...],
    heartbeat: float = HEARTBEAT_S,
) -> StreamingResponse:
    """The SSE response for these filters (also the dashboard's live stream).
    An unknown type raises HTTPException 422."""
    chosen = _types(types)
    accepts = _filter(set(station_ids), chosen)
    # Subscribed before the response starts: nothing published after this
    # request was accepted is missed.
    subscription = ctx.events.subscribe(accepts, types=chosen or None)
    return StreamingResponse(
        _messages(subscription, ctx.stopping, heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _types(requested: list[str] | tuple[str, ...]) -> set[str]:
    chosen: set[str] = set()
    for name in requested:
        if name.endswith(".*"):
            family = {t for t in EVENT_TYPES if t.startswith(name[:-1])}
            if not family:
                raise HTTPException(422, f"no event type matches {name!r}")
            chosen |= family
        elif name in EVENT_TYPES:
            chosen.add(name)
        else:
            raise HTTPException(422, f"unknown event type {name!r}; known: {sorted(EVENT_TYPES)}")
    return chosen


def _filter(stations: set[str], types: set[str]) -> Callable[[Event], bool]:
    def accepts(event: Event) -> bool:
        if types and event.type not in types:
            return False
        return not stations or event.station_id in stations

    return accepts


async def _messages(
    subscription: Subscription, stopping: asyncio.Event, heartbeat: float
) -> AsyncIterator[str]:
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
    next_event: asyncio.Future[Any] = asyncio.ensure_future(subscription.get())
    dropped = 0
    try:
        yield "retry: 3000\n: connected\n\n"
        while True:
            done, _ = await asyncio.wait(
                {stop, next_event}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done:
                return
            if next_event not in done:
                yield ": heartbeat\n\n"
                continue
            event = next_event.result()
            next_event = asyncio.ensure_future(subscription.get())
            if subscription.dropped != dropped:
                dropped = subscription.dropped
                yield f"event: dropped\ndata: {json.dumps({'dropped': dropped})}\n\n"
            yield _message(event)
    finally:
        stop.cancel()
        next_event.cancel()
        subscription.close()


def _message(event: Event) -> str:
    data = json.dumps(event.as_dict(), separators=(",", ":"), default=str)
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"
