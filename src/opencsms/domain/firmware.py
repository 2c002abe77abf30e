"""Firmware: files the CSMS serves to stations, and jobs that follow an update.

An operator uploads an image once (:meth:`FirmwareService.add_file`); it is
kept under ``<data dir>/firmware/<file id>`` where the id is 256 random bits,
so the download URL (``<public base URL>/files/firmware/<id>/<name>``) is a
capability: stations cannot send an API key, and OCPP 1.6 gives them nothing
but the URL, so the URL itself must be unguessable.

A job (:meth:`FirmwareService.start_job`) is stored *before* UpdateFirmware
is sent, because the station may report Downloading before our call returns.
From then on the station's FirmwareStatusNotifications drive it
(:meth:`FirmwareService.on_status`): Downloading, Downloaded and Installing
make it ``running``, Installed ``succeeded``, DownloadFailed and
InstallationFailed ``failed``; Idle (the answer to a TriggerMessage when
nothing happens) changes nothing. A notification is matched to the station's
newest open job: OCPP 1.6 names no job in it. The command's own outcome is
followed through :meth:`CommandService.on_finished`: a timeout, CALLERROR,
offline station or expired queue entry fails a job that is still
``requested``. Every change is published as ``firmware.status``.
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
from opencsms.domain.model import Command, CommandState, FirmwareFile, FirmwareJob, JobState
from opencsms.domain.ports import Repositories, UnitOfWork

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024

_RUNNING = frozenset({"Downloading", "Downloaded", "Installing"})
_SUCCEEDED = frozenset({"Installed"})
_FAILED = frozenset({"DownloadFailed", "InstallationFailed"})


class InvalidFile(ValueError):
    """An uploaded file the CSMS refuses (empty, no name); nothing was stored."""


class UnknownFirmwareFile(LookupError):
    """No firmware file with this id."""


def firmware_location(base_url: str, file: FirmwareFile) -> str:
    """The URL stations download ``file`` from (see ``api/files.py``)."""
    return f"{base_url.rstrip('/')}/files/firmware/{file.id}/{file.name}"


def file_as_dict(file: FirmwareFile) -> dict[str, object]:
    return {
        "id": file.id,
        "name": file.name,
        "size": file.size,
        "sha256": file.sha256,
        "uploaded_at": file.uploaded_at.isoformat(),
    }


def job_as_dict(job: FirmwareJob) -> dict[str, object]:
    """The job as the API and the ``firmware.status`` event show it."""
    return {
        "id": job.id,
        "station_id": job.station_id,
        "file_id": job.file_id,
        "location": job.location,
        "retrieve_date": job.retrieve_date.isoformat(),
        "state": job.state.value,
        "last_status": job.last_status,
        "command_id": job.command_id,
        "detail": job.detail,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


class FirmwareService:
    def __init__(
        self,
        uow: UnitOfWork,
        commands: CommandService,
        store_dir: Path,
        *,
        events: EventBus | None = None,
        clock: Clock = utc_now,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self._uow = uow
        self._commands = commands
        self._store_dir = store_dir
        self._events = events
        self._clock = clock
        self.max_file_bytes = max_file_bytes
        commands.on_finished("UpdateFirmware", self._command_finished)

    # -- files ---------------------------------------------------------------

    async def add_file(self, name: str | None, chunks: AsyncIterable[bytes]) -> FirmwareFile:
        """Store an uploaded image; raises :class:`InvalidFile` for an empty one
        and ``FileTooLarge`` past ``max_file_bytes`` (nothing kept either way)."""
        file_id = random_id()
        clean = safe_name(name, "firmware.bin")
        stored = await store_stream(chunks, self._store_dir / file_id, self.max_file_bytes)
        if stored.size == 0:
            stored.path.unlink(missing_ok=True)
            raise InvalidFile("the firmware file is empty")
        record = FirmwareFile(file_id, clean, stored.size, stored.sha256, self._clock())

        async def work(repos: Repositories) -> None:
            await repos.firmware.add_file(record)

        try:
            await self._uow.run(work)
        except BaseException:
            stored.path.unlink(missing_ok=True)
            raise
        return record

    async def get_file(self, file_id: str) -> FirmwareFile | None:
        return await self._uow.read(lambda r: r.firmware.get_file(file_id))

    async def list_files(self) -> builtins.list[FirmwareFile]:
        return await self._uow.read(lambda r: r.firmware.list_files())

    def file_path(self, file: FirmwareFile) -> Path:
        """Where the image lies (it may have been removed from disk since)."""
        return self._store_dir / file.id

    # -- jobs ----------------------------------------------------------------

    async def start_job(
        self,
        station_id: str,
        *,
        base_url: str,
        file_id: str,
        requested_by: str,
        retrieve_date: datetime | None = None,
        retries: int | None = None,
        retry_interval: int | None = None,
        queue_ttl: timedelta | None = None,
    ) -> FirmwareJob:
        """Send UpdateFirmware for a stored file; return the job.

        Raises :class:`UnknownFirmwareFile`, ``UnknownStation`` or
        ``InvalidCommand`` before anything is stored; ``StationOffline`` (the
        job is kept, failed, like the command's record) when the station is
        not connected and ``queue_ttl`` is None.
        """
        for label, value in (("retries", retries), ("retry_interval", retry_interval)):
            if value is not None and value < 0:
                raise InvalidCommand(f"{label} must be 0 or more, not {value}")
        if retrieve_date is not None and retrieve_date.tzinfo is None:
            raise InvalidCommand("retrieve_date needs a time zone")
        now = self._clock()
        when = (retrieve_date or now).astimezone(UTC)

        async def create(repos: Repositories) -> FirmwareJob:
            file = await repos.firmware.get_file(file_id)
            if file is None:
                raise UnknownFirmwareFile(file_id)
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            location = firmware_location(base_url, file)
            return await repos.firmware.add_job(station_id, location, when, file.id, now)

        job = await self._uow.run(create)
        self._publish(job)
        payload: dict[str, object] = {
            "location": job.location,
            "retrieveDate": when.isoformat().replace("+00:00", "Z"),
        }
        if retries is not None:
            payload["retries"] = retries
        if retry_interval is not None:
            payload["retryInterval"] = retry_interval
        try:
            command = await self._commands.execute(
                station_id,
                "UpdateFirmware",
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

    async def on_status(self, station_id: str, status: str) -> FirmwareJob | None:
        """Follow a FirmwareStatusNotification; return the job it moved, if any."""
        if status not in _RUNNING | _SUCCEEDED | _FAILED:
            return None  # Idle, or a status this version does not know

        async def work(repos: Repositories) -> FirmwareJob | None:
            job = await repos.firmware.latest_open_job(station_id)
            if job is None:
                return None
            state = (
                JobState.SUCCEEDED
                if status in _SUCCEEDED
                else JobState.FAILED
                if status in _FAILED
                else JobState.RUNNING
            )
            return await repos.firmware.update_job(job.id, state, self._clock(), last_status=status)

        job = await self._uow.run(work)
        if job is not None:
            self._publish(job)
        return job

    async def get_job(self, job_id: int) -> FirmwareJob | None:
        return await self._uow.read(lambda r: r.firmware.get_job(job_id))

    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[FirmwareJob]:
        """Newest first; ``before_id`` is the last job of the previous page."""
        return await self._uow.read(lambda r: r.firmware.list_jobs(station_id, limit, before_id))

    # -- following the command -------------------------------------------------

    async def _command_finished(self, command: Command) -> None:
        await self._follow(command)

    async def _follow(self, command: Command) -> FirmwareJob | None:
        """Link the job to its command; fail it if the command failed before the
        station reported anything. Safe to call more than once, in any order
        with the listener (the job is matched by command id, or by location
        while it has none yet)."""

        async def work(repos: Repositories) -> FirmwareJob | None:
            job = await repos.firmware.latest_open_job(command.station_id)
            if job is None or job.command_id not in (None, command.id):
                return None
            if job.command_id is None and job.location != command.payload.get("location"):
                return None
            failed = command.state.final and command.state is not CommandState.ANSWERED
            if failed and job.state is JobState.REQUESTED:
                detail = f"UpdateFirmware {command.state.value}: {command.error or ''}".rstrip(": ")
                return await repos.firmware.update_job(
                    job.id, JobState.FAILED, self._clock(), command_id=command.id, detail=detail
                )
            if job.command_id == command.id:
                return job
            return await repos.firmware.update_job(
                job.id, job.state, self._clock(), command_id=command.id
            )

        job = await self._uow.run(work)
        if job is not None and job.state is JobState.FAILED:
            self._publish(job)
        return job

    async def _fail(self, job_id: int, detail: str) -> None:
        async def work(repos: Repositories) -> FirmwareJob | None:
            job = await repos.firmware.get_job(job_id)
            if job is None or job.state is not JobState.REQUESTED:
                return None
            return await repos.firmware.update_job(
                job_id, JobState.FAILED, self._clock(), detail=detail
            )

        job = await self._uow.run(work)
        if job is not None:
            self._publish(job)

    def _publish(self, job: FirmwareJob) -> None:
        if self._events is not None:
            self._events.publish("firmware.status", job.station_id, job_as_dict(job))
