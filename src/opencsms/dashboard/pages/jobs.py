"""Firmware and diagnostics jobs (``/dashboard/jobs``).

Two lists, newest first, each paged on its own (``fw_after`` and
``dg_after`` carry the last job of the page before), optionally for one
station; each refreshes itself on ``firmware.status`` or
``diagnostics.status`` events. Admins start a firmware update from an
uploaded image or ask a station for its diagnostics; the domain services do
the work, as for the REST routes, and audit the operator as the requester.

A diagnostics file is served here to a logged-in operator: the REST route
for it takes an API key, which a browser does not hold.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Admin, Viewer, principal
from opencsms.dashboard.templating import render
from opencsms.domain.commands import InvalidCommand, StationOffline, UnknownStation
from opencsms.domain.firmware import UnknownFirmwareFile

router = APIRouter()

PAGE_SIZE = 50
Context = Annotated[ApiContext, Depends(api_context)]
Cursor = Annotated[int | None, Query(ge=1)]
Station = Annotated[str, Query(max_length=64)]


async def _firmware(ctx: ApiContext, station: str, after: int | None) -> dict[str, Any]:
    jobs = await ctx.services.firmware.list_jobs(station or None, PAGE_SIZE + 1, after)
    files = {f.id: f.name for f in await ctx.services.firmware.list_files()}
    return {
        "jobs": jobs[:PAGE_SIZE],
        "file_names": files,
        "next_cursor": jobs[PAGE_SIZE - 1].id if len(jobs) > PAGE_SIZE else None,
        "after": after,
        "station": station,
    }


async def _diagnostics(ctx: ApiContext, station: str, after: int | None) -> dict[str, Any]:
    jobs = await ctx.services.diagnostics.list_jobs(station or None, PAGE_SIZE + 1, after)
    return {
        "jobs": jobs[:PAGE_SIZE],
        "next_cursor": jobs[PAGE_SIZE - 1].id if len(jobs) > PAGE_SIZE else None,
        "after": after,
        "station": station,
    }


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    operator: Viewer,
    ctx: Context,
    station: Station = "",
    fw_after: Cursor = None,
    dg_after: Cursor = None,
) -> HTMLResponse:
    station = station.strip()
    context = {
        "station": station,
        "firmware": await _firmware(ctx, station, fw_after),
        "diagnostics": await _diagnostics(ctx, station, dg_after),
        "files": await ctx.services.firmware.list_files(),
    }
    return render(request, "jobs.html", context, nav="jobs")


@router.get("/jobs/firmware", response_class=HTMLResponse)
async def firmware_fragment(
    request: Request, operator: Viewer, ctx: Context, station: Station = "", after: Cursor = None
) -> HTMLResponse:
    """The firmware table alone: what the live refresh swaps in."""
    firmware = await _firmware(ctx, station.strip(), after)
    return render(request, "jobs_firmware.html", {"firmware": firmware}, nav="jobs")


@router.get("/jobs/diagnostics", response_class=HTMLResponse)
async def diagnostics_fragment(
    request: Request, operator: Viewer, ctx: Context, station: Station = "", after: Cursor = None
) -> HTMLResponse:
    diagnostics = await _diagnostics(ctx, station.strip(), after)
    return render(request, "jobs_diagnostics.html", {"diagnostics": diagnostics}, nav="jobs")


def _started(request: Request, message: str) -> Response:
    """htmx gets the outcome as a fragment; a plain form post goes back to the list."""
    if request.headers.get("hx-request") != "true":
        return RedirectResponse("/dashboard/jobs", status_code=303)
    return render(request, "jobs_result.html", {"message": message}, nav="jobs")


def _invalid(reason: str) -> HTTPException:
    return HTTPException(422, reason)


@router.post("/jobs/firmware", response_class=HTMLResponse)
async def start_firmware_update(
    request: Request,
    operator: Admin,
    ctx: Context,
    station_id: Annotated[str, Form()] = "",
    file_id: Annotated[str, Form()] = "",
    retrieve_date: Annotated[str, Form()] = "",
) -> Response:
    station_id, file_id = station_id.strip(), file_id.strip()
    if not station_id or len(station_id) > 64:
        raise _invalid("Station: enter the id of a registered station.")
    if not file_id or len(file_id) > 64:
        raise _invalid("Firmware file: choose one of the uploaded files.")
    when = _moment("Download at", retrieve_date)
    try:
        job = await ctx.services.firmware.start_job(
            station_id,
            base_url=ctx.public_base_url,
            file_id=file_id,
            requested_by=principal(operator).label,
            retrieve_date=when,
        )
    except UnknownFirmwareFile:
        raise _invalid("Firmware file: no such uploaded file.") from None
    except UnknownStation:
        raise _invalid(f"Station: no station {station_id!r} is registered.") from None
    except InvalidCommand as exc:
        raise _invalid(str(exc)) from None
    except StationOffline:
        raise HTTPException(
            409, f"Station {station_id!r} is not connected: the update was not sent."
        ) from None
    return _started(request, f"Firmware job {job.id} for {job.station_id}: {job.state.value}.")


def _moment(label: str, value: str) -> datetime | None:
    """A ``datetime-local`` field, read as UTC (the page shows every time in UTC)."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _invalid(f"{label}: not a date and time ({value!r}).") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.post("/jobs/diagnostics", response_class=HTMLResponse)
async def request_diagnostics(
    request: Request,
    operator: Admin,
    ctx: Context,
    station_id: Annotated[str, Form()] = "",
    start_time: Annotated[str, Form()] = "",
    stop_time: Annotated[str, Form()] = "",
) -> Response:
    station_id = station_id.strip()
    if not station_id or len(station_id) > 64:
        raise _invalid("Station: enter the id of a registered station.")
    start, stop = _moment("From", start_time), _moment("Until", stop_time)
    if start is not None and stop is not None and stop < start:
        raise _invalid("Until is before From.")
    try:
        job = await ctx.services.diagnostics.request(
            station_id,
            base_url=ctx.public_base_url,
            requested_by=principal(operator).label,
            start_time=start,
            stop_time=stop,
        )
    except UnknownStation:
        raise _invalid(f"Station: no station {station_id!r} is registered.") from None
    except InvalidCommand as exc:
        raise _invalid(str(exc)) from None
    except StationOffline:
        raise HTTPException(
            409, f"Station {station_id!r} is not connected: the request was not sent."
        ) from None
    return _started(request, f"Diagnostics job {job.id} for {job.station_id}: {job.state.value}.")


@router.get("/jobs/diagnostics/{job_id}/file", response_class=FileResponse)
async def diagnostics_file(job_id: int, operator: Viewer, ctx: Context) -> FileResponse:
    """The file a station uploaded, as a download (404 until it arrived)."""
    diagnostics = ctx.services.diagnostics
    job = await diagnostics.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"No diagnostics job {job_id}.")
    path = diagnostics.received_file(job)
    if path is None:
        raise HTTPException(404, f"Diagnostics job {job_id} has received no file.")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
