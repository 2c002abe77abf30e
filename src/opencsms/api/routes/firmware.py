"""Firmware resource: upload images, update stations, follow the jobs.

An uploaded image is served to stations at the URL the job sends them
(``/files/firmware/<id>/<name>``, see ``api/files.py``); the job then
follows the station's FirmwareStatusNotifications to ``succeeded``
(Installed) or ``failed``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.files import MULTIPART_SLACK, limited_form, read_upload
from opencsms.domain.files import FileTooLarge
from opencsms.domain.firmware import InvalidFile, UnknownFirmwareFile
from opencsms.domain.model import FirmwareFile, FirmwareJob

router = APIRouter(tags=["firmware"])


class FirmwareFileOut(BaseModel):
    id: str = Field(description="random and unguessable: part of the download URL")
    name: str
    size: int
    sha256: str
    uploaded_at: datetime

    @classmethod
    def from_record(cls, file: FirmwareFile) -> FirmwareFileOut:
        return cls(
            id=file.id,
            name=file.name,
            size=file.size,
            sha256=file.sha256,
            uploaded_at=file.uploaded_at,
        )


class FirmwareJobOut(BaseModel):
    id: int
    station_id: str
    file_id: str | None
    location: str = Field(description="the URL the station downloads from")
    retrieve_date: datetime
    state: str = Field(description="requested, running, succeeded or failed")
    last_status: str | None = Field(description="the station's last FirmwareStatusNotification")
    command_id: int | None = Field(description="the UpdateFirmware command's record")
    detail: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, job: FirmwareJob) -> FirmwareJobOut:
        return cls(
            id=job.id,
            station_id=job.station_id,
            file_id=job.file_id,
            location=job.location,
            retrieve_date=job.retrieve_date,
            state=job.state.value,
            last_status=job.last_status,
            command_id=job.command_id,
            detail=job.detail,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class FirmwareUpdateIn(BaseModel):
    model_config = {"extra": "forbid"}

    file_id: str = Field(min_length=1, max_length=64)
    retrieve_date: datetime | None = Field(
        None, description="when the station should download (default now); with a time zone"
    )
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, description="seconds between retries")
    queue_ttl_s: float | None = Field(
        None, gt=0, description="if the station is offline, queue the command this long"
    )


@router.post(
    "/firmware/files",
    status_code=status.HTTP_201_CREATED,
    response_model=FirmwareFileOut,
    responses={413: {"description": "larger than the limit"}},
)
async def upload_file(
    request: Request,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_admin),
) -> FirmwareFileOut:
    """Upload an image as ``multipart/form-data`` with a part named ``file``."""
    firmware = ctx.services.firmware
    limit = firmware.max_file_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send multipart/form-data with the image in a part named 'file'",
        )
    try:
        form = await limited_form(request, limit + MULTIPART_SLACK)
    except FileTooLarge:
        raise _too_large(limit) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "file: a file part is required")
        try:
            record = await firmware.add_file(upload.filename, read_upload(upload))
        except FileTooLarge:
            raise _too_large(limit) from None
        except InvalidFile as exc:
            raise HTTPException(422, str(exc)) from None
    finally:
        await form.close()
    return FirmwareFileOut.from_record(record)


@router.get("/firmware/files", response_model=list[FirmwareFileOut])
async def list_files(
    ctx: ApiContext = Depends(api_context), principal: Principal = Depends(require_reader)
) -> list[FirmwareFileOut]:
    return [FirmwareFileOut.from_record(f) for f in await ctx.services.firmware.list_files()]


@router.get("/firmware/files/{file_id}", response_model=FirmwareFileOut)
async def get_file(
    file_id: str,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> FirmwareFileOut:
    record = await ctx.services.firmware.get_file(file_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no firmware file {file_id}")
    return FirmwareFileOut.from_record(record)


@router.post(
    "/stations/{station_id}/firmware",
    status_code=status.HTTP_201_CREATED,
    response_model=FirmwareJobOut,
)
async def update_firmware(
    station_id: str,
    body: FirmwareUpdateIn,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_admin),
) -> FirmwareJobOut:
    """Send UpdateFirmware for an uploaded image; the job follows the station."""
    try:
        job = await ctx.services.firmware.start_job(
            station_id,
            base_url=ctx.public_base_url,
            file_id=body.file_id,
            requested_by=principal.label,
            retrieve_date=body.retrieve_date,
            retries=body.retries,
            retry_interval=body.retry_interval,
            queue_ttl=None if body.queue_ttl_s is None else timedelta(seconds=body.queue_ttl_s),
        )
    except UnknownFirmwareFile:
        raise HTTPException(422, f"file_id: no firmware file {body.file_id}") from None
    return FirmwareJobOut.from_record(job)


@router.get("/firmware/jobs", response_model=list[FirmwareJobOut])
async def list_jobs(
    station_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> list[FirmwareJobOut]:
    """Newest first."""
    jobs = await ctx.services.firmware.list_jobs(station_id, limit)
    return [FirmwareJobOut.from_record(job) for job in jobs]


@router.get("/firmware/jobs/{job_id}", response_model=FirmwareJobOut)
async def get_job(
    job_id: int,
    ctx: ApiContext = Depends(api_context),
    principal: Principal = Depends(require_reader),
) -> FirmwareJobOut:
    job = await ctx.services.firmware.get_job(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no firmware job {job_id}")
    return FirmwareJobOut.from_record(job)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the file is larger than {limit} bytes")
