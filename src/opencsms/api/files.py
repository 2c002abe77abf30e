"""The file routes stations use: firmware downloads, diagnostics uploads.

No API key here: OCPP 1.6 gives a station only a URL (UpdateFirmware and
GetDiagnostics ``location``), so the URL carries the capability. A firmware
URL names a file id of 256 random bits, a diagnostics URL a one-time token
of 256 bits; anything else is 404, and the answer never says whether an id
exists in another form. These routes are mounted at the root (``/files``),
outside ``/api/v1``, on the API's port and TLS.

Uploads are streamed to disk (``DiagnosticsService.receive``) with a size
limit: 413 when the declared ``Content-Length`` is already too large, or as
soon as the body passes the limit. A used token is 404: one upload per job.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from opencsms.api.context import ApiContext, api_context
from opencsms.domain.diagnostics import DiagnosticsService, UnknownUpload
from opencsms.domain.files import FileTooLarge

router = APIRouter(prefix="/files", tags=["files (stations)"])

MULTIPART_SLACK = 64 * 1024
"""Room for the multipart envelope (boundaries, part headers) over the file limit."""
CHUNK = 64 * 1024


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such file")


@router.get("/firmware/{file_id}/{name}", response_class=FileResponse)
async def download_firmware(
    file_id: str, name: str, ctx: ApiContext = Depends(api_context)
) -> FileResponse:
    """A firmware image, streamed (with ``Range`` support for resumed downloads)."""
    firmware = ctx.services.firmware
    record = await firmware.get_file(file_id)
    if record is None or record.name != name:
        raise _not_found()
    path = firmware.file_path(record)
    if not path.is_file():
        raise _not_found()
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=record.name,
        headers={"X-Content-SHA256": record.sha256},
    )


async def _open_job(diagnostics: DiagnosticsService, token: str, request: Request) -> None:
    """404 for an unknown or used token, 413 for a declared length over the limit:
    both before a byte of the body is read."""
    job = await diagnostics.upload_job(token)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no upload is expected at this URL")
    declared = request.headers.get("content-length")
    limit = diagnostics.max_upload_bytes
    if request.method == "POST":
        limit += MULTIPART_SLACK
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(diagnostics.max_upload_bytes)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,
        f"the upload is larger than the limit of {limit} bytes",
    )


async def _receive(
    diagnostics: DiagnosticsService,
    token: str,
    chunks: AsyncIterator[bytes],
    file_name: str | None,
) -> dict[str, object]:
    try:
        job = await diagnostics.receive(token, chunks, file_name)
    except UnknownUpload:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "no upload is expected at this URL"
        ) from None
    except FileTooLarge:
        raise _too_large(diagnostics.max_upload_bytes) from None
    return {"received": True, "size": job.size}


@router.put("/diagnostics/{token}", status_code=status.HTTP_201_CREATED)
async def upload_diagnostics_put(
    token: str, request: Request, ctx: ApiContext = Depends(api_context)
) -> dict[str, object]:
    """The raw body is the file."""
    diagnostics = ctx.services.diagnostics
    await _open_job(diagnostics, token, request)
    return await _receive(diagnostics, token, request.stream(), None)


@router.post("/diagnostics/{token}", status_code=status.HTTP_201_CREATED)
async def upload_diagnostics_post(
    token: str, request: Request, ctx: ApiContext = Depends(api_context)
) -> dict[str, object]:
    """``multipart/form-data`` with one file part (any field name)."""
    diagnostics = ctx.services.diagnostics
    await _open_job(diagnostics, token, request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "POST needs multipart/form-data with one file part (or PUT the raw file)",
        )
    try:
        form = await limited_form(request, diagnostics.max_upload_bytes + MULTIPART_SLACK)
    except FileTooLarge:
        raise _too_large(diagnostics.max_upload_bytes) from None
    try:
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the form holds no file part")
        upload = files[0]
        return await _receive(diagnostics, token, read_upload(upload), upload.filename)
    finally:
        await form.close()


async def limited_form(request: Request, limit: int) -> FormData:
    """The request's multipart form (one file part at most), reading no more
    than ``limit`` bytes of body: ``FileTooLarge`` past it, 400 for a broken
    form. (``Request.form`` would spool any size to disk first.)"""
    parser = MultiPartParser(
        request.headers, _limited(request.stream(), limit), max_files=1, max_fields=10
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None


async def read_upload(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        yield chunk
