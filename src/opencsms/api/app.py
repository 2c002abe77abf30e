"""The operator REST API application: routers, OpenAPI, error mapping.

``create_app`` is pure wiring: the context (services, sessions, events) is
built by the composition root (:class:`opencsms.app.CentralSystem`) and put
on ``app.state.context``, where :func:`opencsms.api.context.api_context`
finds it. Domain exceptions become 4xx here, once, so routes stay thin:

* :class:`UnknownStation` → 404
* :class:`InvalidCommand` → 422
* :class:`StationOffline` → 409, with the failed command record
* smart charging: :class:`UnknownSite`, :class:`UnknownTransaction` → 404;
  :class:`InvalidRequest`, :class:`SignalFormatError` (a file the parser
  refuses, with where in it), :class:`GridError` (a limit or event that
  cannot hold) → 422
* a request that breaks the models → 422 with a ``detail`` naming each
  offending field (FastAPI's default lists them without a sentence)

Every error body has a ``detail`` string.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

import opencsms
from opencsms.api import files
from opencsms.api.context import ApiContext
from opencsms.api.routes import (
    commands,
    configuration,
    diagnostics,
    events,
    firmware,
    health,
    local_lists,
    metrics,
    reservations,
    security_events,
    signals,
    site_events,
    sites,
    smart_charging,
    stations,
    tags,
    transactions,
    webhooks,
)
from opencsms.api.schemas import CommandOut
from opencsms.dashboard.app import error_page, is_dashboard, mount_dashboard
from opencsms.domain.commands import InvalidCommand, StationOffline, UnknownStation
from opencsms.domain.smart_charging.grid import GridError
from opencsms.domain.smart_charging.service import (
    InvalidRequest,
    UnknownSite,
    UnknownTransaction,
)
from opencsms.signals import SignalFormatError

API_PREFIX = "/api/v1"


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="opencsms operator API",
        version=getattr(opencsms, "__version__", "0"),
        description=(
            "Operate an OCPP 1.6J fleet: stations, id tags, transactions, commands. "
            "Authenticate with `Authorization: Bearer <API key>` "
            "(`opencsms apikeys create NAME`)."
        ),
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.context = context
    _add_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(stations.router, prefix=API_PREFIX)
    app.include_router(tags.router, prefix=API_PREFIX)
    app.include_router(transactions.router, prefix=API_PREFIX)
    app.include_router(commands.router, prefix=API_PREFIX)
    app.include_router(configuration.router, prefix=API_PREFIX)
    app.include_router(reservations.router, prefix=API_PREFIX)
    app.include_router(local_lists.router, prefix=API_PREFIX)
    app.include_router(firmware.router, prefix=API_PREFIX)
    app.include_router(diagnostics.router, prefix=API_PREFIX)
    app.include_router(files.router)  # stations' downloads and uploads: no API key
    app.include_router(events.router, prefix=API_PREFIX)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    app.include_router(security_events.router, prefix=API_PREFIX)
    app.include_router(signals.router, prefix=API_PREFIX)
    app.include_router(sites.router, prefix=API_PREFIX)
    app.include_router(site_events.router, prefix=API_PREFIX)
    app.include_router(smart_charging.router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # Prometheus scrapes: no API key (see the module)
    mount_dashboard(app)  # server-rendered pages under /dashboard, operator login
    return app


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnknownStation)
    async def unknown_station(request: Request, exc: UnknownStation) -> JSONResponse:
        station = exc.args[0] if exc.args else "?"
        return JSONResponse({"detail": f"no station {station!s} is registered"}, 404)

    @app.exception_handler(InvalidCommand)
    async def invalid_command(request: Request, exc: InvalidCommand) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "invalid command"}, 422)

    @app.exception_handler(StationOffline)
    async def station_offline(request: Request, exc: StationOffline) -> JSONResponse:
        command = (
            CommandOut.from_record(exc.command).model_dump(mode="json")
            if exc.command is not None
            else None
        )
        detail = f"{exc}; pass queue_ttl_s to queue the command until it reconnects"
        return JSONResponse({"detail": detail, "command": command}, 409)

    @app.exception_handler(UnknownSite)
    @app.exception_handler(UnknownTransaction)
    async def unknown_record(request: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "not found"}, 404)

    @app.exception_handler(InvalidRequest)
    @app.exception_handler(SignalFormatError)
    @app.exception_handler(GridError)
    async def refused(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc) or "invalid request"}, 422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        if is_dashboard(request):
            return error_page(request, 422, "; ".join(problems) or "invalid request")
        return JSONResponse(
            {"detail": "; ".join(problems) or "invalid request", "errors": _jsonable(exc)},
            422,
        )


def _jsonable(exc: RequestValidationError) -> list[dict[str, object]]:
    """The structured errors, without the offending input (it may hold secrets)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
