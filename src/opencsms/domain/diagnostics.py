"""Diagnostics: ask a station for its logs and receive the upload.

A request (:meth:`DiagnosticsService.request`) stores a job with a random
token (256 bits) *before* GetDiagnostics is sent, and gives the station
``<public base URL>/files/diagnostics/<token>`` as the upload location: OCPP
1.6 lets a station send no credentials with its upload, so the token is the
credential, good for one file. The answer's ``fileName`` is recorded; no
``fileName`` means the station has nothing to send and the job fails with
that said.

The upload (:meth:`DiagnosticsService.receive`) is streamed to
``<data dir>/diagnostics/<station>/<job id>/<safe name>`` within a size
limit. DiagnosticsStatusNotifications drive the job: Uploading makes it
``running``; Uploaded makes it ``succeeded`` once the file has arrived (a
station notifies after its upload finished, but the two travel on different
connections, so whichever comes second completes the job); UploadFailed
makes it ``failed``. Every change is published as ``diagnostics.status``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import (
    CommandService,
    InvalidCommand,
    StationOffline,
    UnknownStation,
)
from opencsms.domain.events import EventBus
from opencsms.domain.files import random_id, safe_name, store_stream
from opencsms.domain.model import Command, CommandState, DiagnosticsJob, JobState
from opencsms.domain.ports import Repositories, UnitOfWork

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_FINISHED = (JobState.SUCCEEDED, JobState.FAILED)


class UnknownUpload(LookupError):
    """No diagnostics job waits for an upload with this token (unknown, or used)."""


def diagnostics_location(base_url: str, token: str) -> str:
    """The URL a station uploads to (see ``api/files.py``)."""
    return f"{base_url.rstrip('/')}/files/diagnostics/{token}"


def job_as_dict(job: DiagnosticsJob) -> dict[str, object]:
    """The job as the API and the ``diagnostics.status`` event show it (no token:
    it is the upload credential)."""
    return {
        "id": job.id,
        "station_id": job.station_id,
        "state": job.state.value,
        "last_status": job.last_status,
        "file_name": job.file_name,
        "size": job.size,
        "received": job.size is not None,
        "command_id": job.command_id,
        "detail": job.detail,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def _ocpp_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DiagnosticsService:
    def __init__(
        self,
        uow: UnitOfWork,
        commands: CommandService,
        store_dir: Path,
        *,
        events: EventBus | None = None,
        clock: Clock = utc_now,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        self._uow = uow
        self._commands = commands
        self._store_dir = store_dir
        self._events = events
        self._clock = clock
        self.max_upload_bytes = max_upload_bytes
        commands.on_finished("GetDiagnostics", self._command_finished)

    async def request(
        self,
        station_id: str,
        *,
        base_url: str,
        requested_by: str,
        start_time: datetime | None = None,
        stop_time: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        queue_ttl: timedelta | None = None,
    ) -> DiagnosticsJob:
        """Send GetDiagnostics; return the job.

        Raises ``UnknownStation`` or ``InvalidCommand`` before anything is
        stored; ``StationOffline`` (the job is kept, failed, like the command's
        record) when the station is not connected and ``queue_ttl`` is None.
        """
        for label, value in (("retries", retries), ("retry_interval", retry_interval)):
            if value is not None and value < 0:
                raise InvalidCommand(f"{label} must be 0 or more, not {value}")
        for label, moment in (("start_time", start_time), ("stop_time", stop_time)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidCommand(f"{label} needs a time zone")
        if start_time is not None and stop_time is not None and stop_time < start_time:
            raise InvalidCommand("stop_time is before start_time")
        token = random_id()
        now = self._clock()

        async def create(repos: Repositories) -> DiagnosticsJob:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await repos.diagnostics.add_job(station_id, token, now)

        job = await self._uow.run(create)
        self._publish(job)
        payload: dict[str, object] = {"location": diagnostics_location(base_url, token)}
        optional = {
            "startTime": None if start_time is None else _ocpp_time(start_time),
            "stopTime": None if stop_time is None else _ocpp_time(stop_time),
            "retries": retries,
            "retryInterval": retry_interval,
        }
        payload.update({key: value for key, value in optional.items() if value is not None})
        try:
            command = await self._commands.execute(
                station_id,
                "GetDiagnostics",
                payload,
                requested_by=requested_by,
                queue_ttl=queue_ttl,
            )
        except StationOffline as exc:
            if exc.command is not None:
                await self._follow(exc.command)
            await self._fail(job.id, str(exc))
            raise
        except (InvalidCommand, UnknownStation) as exc:
            await self._fail(job.id, str(exc))
            raise
        await self._follow(command)
        return await self.get_job(job.id) or job

    async def on_status(self, station_id: str, status: str) -> DiagnosticsJob | None:
        """Follow a DiagnosticsStatusNotification; return the job it moved, if any."""
        if status not in ("Uploading", "Uploaded", "UploadFailed"):
            return None  # Idle, or a status this version does not know

        async def work(repos: Repositories) -> DiagnosticsJob | None:
            job = await repos.diagnostics.latest_open_job(station_id)
            if job is None:
                return None
            if status == "UploadFailed":
                state = JobState.FAILED
            elif status == "Uploaded" and job.size is not None:
                state = JobState.SUCCEEDED
            else:  # Uploading, or Uploaded before the file came in
                state = JobState.RUNNING
            return await repos.diagnostics.update_job(
                job.id, state, self._clock(), last_status=status
            )

        job = await self._uow.run(work)
        if job is not None:
            self._publish(job)
        return job

    async def receive(
        self, token: str, chunks: AsyncIterable[bytes], file_name: str | None = None
    ) -> DiagnosticsJob:
        """Store an upload for the job with ``token``.

        Raises :class:`UnknownUpload` for an unknown token or a job that is
        finished or has its file already, ``FileTooLarge`` past
        ``max_upload_bytes``; nothing is kept then. ``file_name`` (a multipart
        part's name) is used only while the job has no name from the station.
        """
        job = await self.upload_job(token)
        if job is None:
            raise UnknownUpload(token)
        name = safe_name(job.file_name or file_name, "diagnostics.bin")
        folder = self.job_folder(job)
        stored = await store_stream(chunks, folder / name, self.max_upload_bytes)

        async def work(repos: Repositories) -> DiagnosticsJob:
            current = await repos.diagnostics.by_token(token)
            if current is None or current.size is not None or current.state in _FINISHED:
                raise UnknownUpload(token)  # a concurrent upload won
            done = current.last_status == "Uploaded"
            updated = await repos.diagnostics.update_job(
                current.id,
                JobState.SUCCEEDED if done else JobState.RUNNING,
                self._clock(),
                file_name=None if current.file_name else name,
                size=stored.size,
            )
            assert updated is not None
            return updated

        try:
            received = await self._uow.run(work)
        except BaseException:
            stored.path.unlink(missing_ok=True)
            raise
        self._publish(received)
        return received

    async def upload_job(self, token: str) -> DiagnosticsJob | None:
        """The job waiting for an upload with ``token``; None if unknown, finished
        or already holding its file."""
        job = await self._uow.read(lambda r: r.diagnostics.by_token(token))
        if job is None or job.size is not None or job.state in _FINISHED:
            return None
        return job

    def job_folder(self, job: DiagnosticsJob) -> Path:
        return self._store_dir / safe_name(job.station_id, "station") / str(job.id)

    def received_file(self, job: DiagnosticsJob) -> Path | None:
        """The file a job received, None before it arrived (or if removed)."""
        folder = self.job_folder(job)
        if job.size is None or not folder.is_dir():
            return None
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        return files[0] if len(files) == 1 else None

    async def get_job(self, job_id: int) -> DiagnosticsJob | None:
        return await self._uow.read(lambda r: r.diagnostics.get_job(job_id))

    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[DiagnosticsJob]:
        """Newest first; ``before_id`` is the last job of the previous page."""
        return await self._uow.read(lambda r: r.diagnostics.list_jobs(station_id, limit, before_id))

    # -- following the command -------------------------------------------------

    async def _command_finished(self, command: Command) -> None:
        await self._follow(command)

    async def _follow(self, command: Command) -> None:
        """Record the command and the file name it answered; fail the job if the
        command failed or the station has nothing to send. Idempotent; the job
        is found by the token in the command's location."""
        location = str(command.payload.get("location", ""))
        token = location.rstrip("/").rsplit("/", 1)[-1]

        async def work(repos: Repositories) -> DiagnosticsJob | None:
            job = await repos.diagnostics.by_token(token)
            if job is None or job.station_id != command.station_id:
                return None
            if job.command_id == command.id and not command.state.final:
                return None
            file_name = (command.response or {}).get("fileName")
            state, detail = job.state, None
            if command.state is CommandState.ANSWERED:
                if not file_name and job.state is JobState.REQUESTED:
                    state, detail = JobState.FAILED, "the station has no diagnostics to send"
            elif command.state.final and job.state is JobState.REQUESTED:
                state = JobState.FAILED
                detail = f"GetDiagnostics {command.state.value}: {command.error or ''}".rstrip(": ")
            if (state, job.command_id) == (job.state, command.id) and (
                not file_name or job.file_name
            ):
                return None
            return await repos.diagnostics.update_job(
                job.id,
                state,
                self._clock(),
                command_id=command.id,
                file_name=str(file_name)[:255] if file_name and not job.file_name else None,
                detail=detail,
            )

        job = await self._uow.run(work)
        if job is not None:
            self._publish(job)

    async def _fail(self, job_id: int, detail: str) -> None:
        async def work(repos: Repositories) -> DiagnosticsJob | None:
            job = await repos.diagnostics.get_job(job_id)
            if job is None or job.state is not JobState.REQUESTED:
                return None
            return await repos.diagnostics.update_job(
                job_id, JobState.FAILED, self._clock(), detail=detail
            )

        job = await self._uow.run(work)
        if job is not None:
            self._publish(job)

    def _publish(self, job: DiagnosticsJob) -> None:
        if self._events is not None:
            self._events.publish("diagnostics.status", job.station_id, job_as_dict(job))
