"""``GET /metrics``: this node's Prometheus metrics (see :mod:`opencsms.metrics`).

Outside ``/api/v1`` and without an API key, like ``/healthz``: the series are
aggregate counts (stations connected, frames by action, command outcomes and
latency) with no station ids, tags or other identifiers among their labels,
and a scraper should not have to hold an operator key. The API listens on
127.0.0.1 by default; where it is exposed wider, restrict ``/metrics`` at the
network or proxy like any other scrape target.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from opencsms.api.context import ApiContext, api_context
from opencsms.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(ctx: Annotated[ApiContext, Depends(api_context)]) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
