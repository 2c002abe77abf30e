"""Liveness and readiness, outside ``/api/v1`` and without a key (what load
balancers and orchestrators probe).

``/healthz`` answers 200 as long as the process serves requests: restarting
it would not help a database outage. ``/readyz`` answers 200 only when the
database answers a query within a few seconds, 503 otherwise, so a load
balancer sends operators elsewhere while this node cannot serve them.
"""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from opencsms.api.context import ApiContext, api_context
from opencsms.domain.ports import Repositories

router = APIRouter(tags=["health"])
log = structlog.get_logger("opencsms.api")

READY_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database does not answer"}})
async def readyz(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    async def probe(repos: Repositories) -> None:
        # Any indexed read will do; this one touches a small table.
        await repos.api_keys.get("readyz-probe")

    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await ctx.services.uow.read(probe)
    except Exception as exc:
        log.warning("readiness probe failed", error=repr(exc))
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, 503)
    return JSONResponse({"status": "ok"})
