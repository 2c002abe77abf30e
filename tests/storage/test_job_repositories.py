"""Firmware files and jobs, diagnostics jobs: round trips on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from opencsms.domain.model import FirmwareFile, JobState
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_firmware_files_round_trip(uow: SqlUnitOfWork) -> None:
    a = FirmwareFile("a" * 43, "fw-2.0.1.bin", 12, "0" * 64, at(0))
    b = FirmwareFile("b" * 43, "fw-2.0.2.bin", 2**33, "f" * 64, at(5))

    async def work(r: Repositories) -> None:
        await r.firmware.add_file(a)
        await r.firmware.add_file(b)

    await uow.run(work)

    async def read(r: Repositories) -> tuple[FirmwareFile | None, FirmwareFile | None, list[str]]:
        files = await r.firmware.list_files()
        return (
            await r.firmware.get_file(a.id),
            await r.firmware.get_file("nope"),
            [f.id for f in files],
        )

    got, missing, order = await uow.read(read)
    assert got == a
    assert missing is None
    assert order == [b.id, a.id]  # newest first; a size above 2**32 survives


async def test_firmware_jobs_update_keep_unset_fields_and_find_open(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> None:
        first = await r.firmware.add_job("CP-1", "https://x/1", at(0), "f1", at(0))
        assert first.state is JobState.REQUESTED and first.updated_at == at(0)
        second = await r.firmware.add_job("CP-1", "https://x/2", at(60), None, at(10))
        await r.firmware.add_job("CP-2", "https://x/3", at(0), "f1", at(20))
        updated = await r.firmware.update_job(
            first.id, JobState.RUNNING, at(30), last_status="Downloading", command_id=7
        )
        assert updated is not None
        assert (updated.state, updated.last_status, updated.command_id) == (
            JobState.RUNNING,
            "Downloading",
            7,
        )
        again = await r.firmware.update_job(
            first.id, JobState.SUCCEEDED, at(40), last_status="Installed"
        )
        assert again is not None and again.command_id == 7 and again.updated_at == at(40)
        assert await r.firmware.update_job(999_999, JobState.FAILED, at(50)) is None
        latest = await r.firmware.latest_open_job("CP-1")
        assert latest is not None and latest.id == second.id
        await r.firmware.update_job(second.id, JobState.FAILED, at(50), detail="Rejected")
        assert await r.firmware.latest_open_job("CP-1") is None
        jobs = await r.firmware.list_jobs("CP-1")
        assert [j.id for j in jobs] == [second.id, first.id]
        assert jobs[0].retrieve_date == at(60) and jobs[0].file_id is None
        assert jobs[0].detail == "Rejected"
        assert len(await r.firmware.list_jobs()) == 3
        assert len(await r.firmware.list_jobs(limit=1)) == 1

    await uow.run(work)


async def test_diagnostics_jobs_by_token_and_updates(uow: SqlUnitOfWork) -> None:
    async def work(r: Repositories) -> None:
        job = await r.diagnostics.add_job("CP-1", "tok-1", at(0))
        assert job.state is JobState.REQUESTED and job.file_name is None
        await r.diagnostics.update_job(
            job.id, JobState.REQUESTED, at(1), command_id=3, file_name="CP-1.log"
        )
        running = await r.diagnostics.update_job(
            job.id, JobState.RUNNING, at(2), last_status="Uploading", size=2**33
        )
        assert running is not None
        assert (running.command_id, running.file_name, running.size) == (3, "CP-1.log", 2**33)
        found = await r.diagnostics.by_token("tok-1")
        assert found == running
        assert await r.diagnostics.by_token("tok-2") is None
        open_job = await r.diagnostics.latest_open_job("CP-1")
        assert open_job is not None and open_job.id == job.id
        assert await r.diagnostics.latest_open_job("CP-2") is None
        got = await r.diagnostics.get_job(job.id)
        assert got is not None and got.last_status == "Uploading"
        assert [j.id for j in await r.diagnostics.list_jobs("CP-1")] == [job.id]
        assert await r.diagnostics.list_jobs("CP-2") == []

    await uow.run(work)


async def test_diagnostics_tokens_are_unique(uow: SqlUnitOfWork) -> None:
    async def first(r: Repositories) -> None:
        await r.diagnostics.add_job("CP-1", "same", at(0))

    async def second(r: Repositories) -> None:
        await r.diagnostics.add_job("CP-2", "same", at(1))

    await uow.run(first)
    with pytest.raises(IntegrityError):
        await uow.run(second)
    jobs = await uow.read(lambda r: r.diagnostics.list_jobs())
    assert [j.station_id for j in jobs] == ["CP-1"]


async def test_job_lists_page_by_cursor_newest_first(uow: SqlUnitOfWork) -> None:
    """``before_id`` continues after the given job in (created_at, id) order, even
    where two jobs share a creation time."""

    async def work(r: Repositories) -> None:
        times = (0, 10, 10, 20, 30)
        fw = [await r.firmware.add_job("CP-1", f"https://x/{t}", at(t), None, at(t)) for t in times]
        dg = [await r.diagnostics.add_job("CP-1", f"tok-{i}", at(t)) for i, t in enumerate(times)]
        for jobs, repo in ((fw, r.firmware), (dg, r.diagnostics)):
            newest_first = [j.id for j in reversed(jobs)]
            first = await repo.list_jobs(limit=2)
            assert [j.id for j in first] == newest_first[:2]
            second = await repo.list_jobs(limit=2, before_id=first[-1].id)
            assert [j.id for j in second] == newest_first[2:4]
            third = await repo.list_jobs(limit=2, before_id=second[-1].id)
            assert [j.id for j in third] == newest_first[4:]
            assert await repo.list_jobs("CP-2", before_id=first[0].id) == []

    await uow.run(work)
