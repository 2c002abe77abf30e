"""Diagnostics resource: ask a station for its logs, follow the job, fetch the file.

The station uploads to a one-time URL of ours (``/files/diagnostics/<token>``,
see ``api/files.py``); the token itself is never shown here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.domain.model import DiagnosticsJob

router = APIRouter(tags=["diagnostics"])


class DiagnosticsJobOut(BaseModel):
    id: int
    station_id: str
    state: str = Field(description="requested, running, succeeded or failed")
    last_status: str | None = Field(description="the station's last DiagnosticsStatusNotification")
    file_name: str | None = Field(description="the file's name as the station gave it")
    size: int | None = Field(description="bytes received; null until the upload arrived")
    command_id: int | None = Field(description="the GetDiagnostics command's record")
    detail: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, job: DiagnosticsJob) -> DiagnosticsJobOut:
        return cls(
            id=job.id,
            station_id=job.station_id,
            state=job.state.value,
            last_status=job.last_status,
            file_name=job.file_name,
            size=job.size,
            command_id=job.command_id,
            detail=job.detail,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class DiagnosticsRequestIn(BaseModel):
    model_config = {"extra": "forbid"}

    start_time: datetime | None = Field(None, description="oldest log entry wanted")
    stop_time: datetime | None = Field(None, description="newest log entry wanted")
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, description="seconds between retries")
    queue_ttl_s: float | None = Field(
        None, gt=0, description="if the station is offline, queue the command this long"
    )


@router.post(
    "/stations/{station_id}/diagnostics",
    status_code=status.HTTP_201_CREATED,
    response_model=DiagnosticsJobOut,
)
async def request_diagnostics(
    station_id: str,
    body: DiagnosticsRequestIn,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_admin),
) -> DiagnosticsJobOut:
    """Send GetDiagnostics; the station uploads to a one-time URL of this API."""
    job = await ctx.services.diagnostics.request(
        station_id,
        base_url=ctx.public_base_url,
        requested_by=principal.label,
        start_time=body.start_time,
        stop_time=body.stop_time,
        retries=body.retries,
        retry_interval=body.retry_interval,
        queue_ttl=None if body.queue_ttl_s is None else timedelta(seconds=body.queue_ttl_s),
    )
    return DiagnosticsJobOut.from_record(job)


@router.get("/diagnostics/jobs", response_model=list[DiagnosticsJobOut])
async def list_jobs(
    station_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> list[DiagnosticsJobOut]:
    """Newest first."""
    jobs = await ctx.services.diagnostics.list_jobs(station_id, limit)
    return [DiagnosticsJobOut.from_record(job) for job in jobs]


@router.get("/diagnostics/jobs/{job_id}", response_model=DiagnosticsJobOut)
async def get_job(
    job_id: int,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> DiagnosticsJobOut:
    job = await ctx.services.diagnostics.get_job(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no diagnostics job {job_id}")
    return DiagnosticsJobOut.from_record(job)


@router.get("/diagnostics/jobs/{job_id}/file", response_class=FileResponse)
async def get_file(
    job_id: int,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> FileResponse:
    """The file the station uploaded (404 until it arrived)."""
    diagnostics = ctx.services.diagnostics
    job = await diagnostics.get_job(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no diagnostics job {job_id}")
    path = diagnostics.received_file(job)
    if path is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"diagnostics job {job_id} has received no file"
        )
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
