"""The firmware and diagnostics ports of :mod:`opencsms.domain.ports` over
SQLAlchemy Core: firmware files, firmware jobs, diagnostics jobs.

Choices the ports leave open:

* ``update_job`` returns None for an unknown job and leaves every field
  given as None untouched (``state`` and ``updated_at`` always change).
* "newest first" is by ``created_at``, then id; ``latest_open_job`` is the
  newest job in state requested or running.
* Files are listed newest first (by ``uploaded_at``, then id).
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, insert, or_, select, update

from opencsms.domain.model import DiagnosticsJob, FirmwareFile, FirmwareJob, JobState
from opencsms.storage.pending import Executor
from opencsms.storage.tables import diagnostics_jobs, firmware_files, firmware_jobs

_OPEN = (JobState.REQUESTED.value, JobState.RUNNING.value)


def _file_from_row(row: Row[Any]) -> FirmwareFile:
    m = row._mapping
    return FirmwareFile(
        id=m["id"],
        name=m["name"],
        size=m["size"],
        sha256=m["sha256"],
        uploaded_at=m["uploaded_at"],
    )


def _firmware_job_from_row(row: Row[Any]) -> FirmwareJob:
    m = row._mapping
    return FirmwareJob(
        id=m["id"],
        station_id=m["station_id"],
        location=m["location"],
        retrieve_date=m["retrieve_date"],
        state=JobState(m["state"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        file_id=m["file_id"],
        last_status=m["last_status"],
        command_id=m["command_id"],
        detail=m["detail"],
    )


def _diagnostics_job_from_row(row: Row[Any]) -> DiagnosticsJob:
    m = row._mapping
    return DiagnosticsJob(
        id=m["id"],
        station_id=m["station_id"],
        token=m["token"],
        state=JobState(m["state"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        last_status=m["last_status"],
        file_name=m["file_name"],
        size=m["size"],
        command_id=m["command_id"],
        detail=m["detail"],
    )


class _Jobs:
    """What both job tables share: get, update, latest open, list."""

    def __init__(self, conn: Executor, table: Table) -> None:
        self._conn = conn
        self._table = table

    async def _get(self, job_id: int) -> Row[Any] | None:
        stmt = select(self._table).where(self._table.c.id == job_id)
        row: Row[Any] | None = (await self._conn.execute(stmt)).first()
        return row

    async def _update(
        self, job_id: int, state: JobState, at: datetime, fields: dict[str, object]
    ) -> Row[Any] | None:
        values: dict[str, object] = {"state": state.value, "updated_at": at}
        values.update({name: value for name, value in fields.items() if value is not None})
        result = await self._conn.execute(
            update(self._table).where(self._table.c.id == job_id).values(**values)
        )
        if result.rowcount == 0:
            return None
        return await self._get(job_id)

    async def _latest_open(self, station_id: str) -> Row[Any] | None:
        c = self._table.c
        stmt = (
            select(self._table)
            .where(c.station_id == station_id, c.state.in_(_OPEN))
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(1)
        )
        row: Row[Any] | None = (await self._conn.execute(stmt)).first()
        return row

    async def _list(
        self, station_id: str | None, limit: int, before_id: int | None = None
    ) -> builtins.list[Row[Any]]:
        c = self._table.c
        stmt = select(self._table)
        if station_id is not None:
            stmt = stmt.where(c.station_id == station_id)
        if before_id is not None:
            stmt = stmt.where(_before(self._table, before_id))
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        return list(await self._conn.execute(stmt))


class SqlFirmwareRepository(_Jobs):
    def __init__(self, conn: Executor) -> None:
        super().__init__(conn, firmware_jobs)

    async def add_file(self, file: FirmwareFile) -> None:
        await self._conn.execute(
            insert(firmware_files).values(
                id=file.id,
                name=file.name,
                size=file.size,
                sha256=file.sha256,
                uploaded_at=file.uploaded_at,
            )
        )

    async def get_file(self, file_id: str) -> FirmwareFile | None:
        stmt = select(firmware_files).where(firmware_files.c.id == file_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _file_from_row(row)

    async def list_files(self) -> builtins.list[FirmwareFile]:
        c = firmware_files.c
        result = await self._conn.execute(
            select(firmware_files).order_by(c.uploaded_at.desc(), c.id)
        )
        return [_file_from_row(row) for row in result]

    async def add_job(
        self,
        station_id: str,
        location: str,
        retrieve_date: datetime,
        file_id: str | None,
        created_at: datetime,
    ) -> FirmwareJob:
        row = (
            await self._conn.execute(
                insert(firmware_jobs)
                .values(
                    station_id=station_id,
                    location=location,
                    retrieve_date=retrieve_date,
                    file_id=file_id,
                    state=JobState.REQUESTED.value,
                    created_at=created_at,
                    updated_at=created_at,
                )
                .returning(firmware_jobs)
            )
        ).one()
        return _firmware_job_from_row(row)

    async def get_job(self, job_id: int) -> FirmwareJob | None:
        row = await self._get(job_id)
        return None if row is None else _firmware_job_from_row(row)

    async def update_job(
        self,
        job_id: int,
        state: JobState,
        at: datetime,
        last_status: str | None = None,
        command_id: int | None = None,
        detail: str | None = None,
    ) -> FirmwareJob | None:
        row = await self._update(
            job_id,
            state,
            at,
            {"last_status": last_status, "command_id": command_id, "detail": detail},
        )
        return None if row is None else _firmware_job_from_row(row)

    async def latest_open_job(self, station_id: str) -> FirmwareJob | None:
        row = await self._latest_open(station_id)
        return None if row is None else _firmware_job_from_row(row)

    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[FirmwareJob]:
        rows = await self._list(station_id, limit, before_id)
        return [_firmware_job_from_row(row) for row in rows]


class SqlDiagnosticsRepository(_Jobs):
    def __init__(self, conn: Executor) -> None:
        super().__init__(conn, diagnostics_jobs)

    async def add_job(self, station_id: str, token: str, created_at: datetime) -> DiagnosticsJob:
        row = (
            await self._conn.execute(
                insert(diagnostics_jobs)
                .values(
                    station_id=station_id,
                    token=token,
                    state=JobState.REQUESTED.value,
                    created_at=created_at,
                    updated_at=created_at,
                )
                .returning(diagnostics_jobs)
            )
        ).one()
        return _diagnostics_job_from_row(row)

    async def get_job(self, job_id: int) -> DiagnosticsJob | None:
        row = await self._get(job_id)
        return None if row is None else _diagnostics_job_from_row(row)

    async def by_token(self, token: str) -> DiagnosticsJob | None:
        stmt = select(diagnostics_jobs).where(diagnostics_jobs.c.token == token)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _diagnostics_job_from_row(row)

    async def update_job(
        self,
        job_id: int,
        state: JobState,
        at: datetime,
        last_status: str | None = None,
        command_id: int | None = None,
        file_name: str | None = None,
        size: int | None = None,
        detail: str | None = None,
    ) -> DiagnosticsJob | None:
        row = await self._update(
            job_id,
            state,
            at,
            {
                "last_status": last_status,
                "command_id": command_id,
                "file_name": file_name,
                "size": size,
                "detail": detail,
            },
        )
        return None if row is None else _diagnostics_job_from_row(row)

    async def latest_open_job(self, station_id: str) -> DiagnosticsJob | None:
        row = await self._latest_open(station_id)
        return None if row is None else _diagnostics_job_from_row(row)

    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[DiagnosticsJob]:
        rows = await self._list(station_id, limit, before_id)
        return [_diagnostics_job_from_row(row) for row in rows]


def _before(table: Table, row_id: int) -> Any:
    """Rows after ``row_id`` in the (created_at, id) descending order of the lists."""
    c = table.c
    cursor = select(c.created_at).where(c.id == row_id).scalar_subquery()
    return or_(c.created_at < cursor, and_(c.created_at == cursor, c.id < row_id))
