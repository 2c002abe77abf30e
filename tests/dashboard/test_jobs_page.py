"""The firmware & diagnostics page over real HTTPS: jobs started from the
dashboard reach a simulated station over WSS, its notifications show on the
page, and the diagnostics file it uploaded is downloadable by an operator."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import timedelta

from dashboard.conftest import DashboardClient
from integration.conftest import api_client_for
from integration.test_firmware import online
from opencsms.app import CentralSystem
from opencsms.domain.model import DiagnosticsJob, FirmwareFile, FirmwareJob, JobState

IMAGE = os.urandom(64 * 1024)
_RESULT = re.compile(r"(Firmware|Diagnostics) job (\d+) for")


async def chunks(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def uploaded(central: CentralSystem, name: str = "fw-3.1.bin") -> FirmwareFile:
    return await central.services.firmware.add_file(name, chunks(IMAGE))


async def final(central: CentralSystem, kind: str, job_id: int) -> FirmwareJob | DiagnosticsJob:
    """The job once it is succeeded or failed (polled through the service, bounded)."""
    service = central.services.firmware if kind == "firmware" else central.services.diagnostics
    async with asyncio.timeout(15):
        while True:
            job = await service.get_job(job_id)
            assert job is not None
            if job.state in (JobState.SUCCEEDED, JobState.FAILED):
                return job
            await asyncio.sleep(0.05)


def started_job(html: str) -> int:
    match = _RESULT.search(html)
    assert match, html
    return int(match.group(2))


def rows(html: str, table_id: str) -> list[str]:
    part = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>\s*<td class=\"num\">(\d+)</td>", part)


async def test_an_admin_updates_a_stations_firmware_from_an_uploaded_file(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    file = await uploaded(central)
    page = await admin_page.get("/dashboard/jobs")
    assert page.status_code == 200
    assert f'<option value="{file.id}">fw-3.1.bin' in page.text
    async with online(central, "FW-D1") as station:
        started = await admin_page.post(
            "/dashboard/jobs/firmware",
            data={
                "station_id": "FW-D1",
                "file_id": file.id,
                "retrieve_date": station.clock.now().strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        assert started.status_code == 200, started.text
        job = await final(central, "firmware", started_job(started.text))
        assert job.state is JobState.SUCCEEDED and job.last_status == "Installed"
        assert station.firmware.downloads[-1].content == IMAGE
    command = await central.services.commands.get(job.command_id or 0)
    assert command is not None and command.requested_by == "operator:ops"

    page = await admin_page.get("/dashboard/jobs", params={"station": "FW-D1"})
    row = page.text.split(f'<td class="num">{job.id}</td>', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/dashboard/stations/FW-D1">FW-D1</a>' in row
    assert "fw-3.1.bin" in row and "succeeded" in row and "Installed" in row
    assert 'data-live="firmware.status"' in page.text
    fragment = await admin_page.get("/dashboard/jobs/firmware", params={"station": "FW-D1"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert rows(fragment.text, "firmware-jobs") == [str(job.id)]


async def test_diagnostics_requested_on_the_page_are_downloadable_by_operators_only(
    central: CentralSystem, admin_page: DashboardClient, reader_page: DashboardClient
) -> None:
    async with online(central, "DG-D1") as station:
        started = await admin_page.post(
            "/dashboard/jobs/diagnostics",
            data={"station_id": "DG-D1", "start_time": "2026-01-01T00:00", "stop_time": ""},
        )
        assert started.status_code == 200, started.text
        job = await final(central, "diagnostics", started_job(started.text))
    assert job.state is JobState.SUCCEEDED and job.file_name is not None
    content = station.diagnostics.files[job.file_name]
    sent = station.journal.calls("received", "GetDiagnostics")[-1]
    assert sent["startTime"] == "2026-01-01T00:00:00Z"

    page = await reader_page.get("/dashboard/jobs")
    link = f'href="/dashboard/jobs/diagnostics/{job.id}/file"'
    assert link in page.text and job.file_name in page.text
    assert 'data-live="diagnostics.status"' in page.text
    for client in (reader_page, admin_page):
        got = await client.get(f"/dashboard/jobs/diagnostics/{job.id}/file")
        assert got.status_code == 200 and got.content == content
        assert job.file_name in got.headers["content-disposition"]
    missing = await admin_page.get("/dashboard/jobs/diagnostics/999999/file")
    assert missing.status_code == 404 and "No diagnostics job 999999" in missing.text
    async with api_client_for(central, None) as anonymous:
        refused = await anonymous.get(f"/dashboard/jobs/diagnostics/{job.id}/file")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/dashboard/login?next=")


async def test_read_only_operators_see_jobs_but_cannot_start_them(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    file = await uploaded(central)
    await central.services.stations.register("RO-1")
    page = await reader_page.get("/dashboard/jobs")
    assert page.status_code == 200
    assert "Update firmware" not in page.text and 'hx-post="/dashboard/jobs' not in page.text
    for path, data in (
        ("/dashboard/jobs/firmware", {"station_id": "RO-1", "file_id": file.id}),
        ("/dashboard/jobs/diagnostics", {"station_id": "RO-1"}),
    ):
        refused = await reader_page.post(path, data=data)
        assert refused.status_code == 403 and "read-only" in refused.text
    assert await central.services.firmware.list_jobs() == []
    assert await central.services.diagnostics.list_jobs() == []


async def test_a_post_without_the_csrf_token_is_refused(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    file = await uploaded(central)
    await central.services.stations.register("CS-1")
    for path, data in (
        ("/dashboard/jobs/firmware", {"station_id": "CS-1", "file_id": file.id}),
        ("/dashboard/jobs/diagnostics", {"station_id": "CS-1"}),
    ):
        forged = await admin_page.http.post(path, data=data, headers={"HX-Request": "true"})
        assert forged.status_code == 403 and "expired" in forged.text
    assert await central.services.firmware.list_jobs() == []


async def test_bad_input_gets_422_with_the_reason(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    file = await uploaded(central)
    await central.services.stations.register("BAD-1")
    cases = [
        ("firmware", {"station_id": "NOPE", "file_id": file.id}, "no station &#39;NOPE&#39;"),
        ("firmware", {"station_id": "BAD-1", "file_id": "nope"}, "no such uploaded file"),
        ("firmware", {"station_id": "", "file_id": file.id}, "enter the id"),
        ("firmware", {"station_id": "BAD-1", "file_id": file.id, "retrieve_date": "x"}, "not a"),
        ("diagnostics", {"station_id": "NOPE"}, "no station &#39;NOPE&#39;"),
        ("diagnostics", {"station_id": "BAD-1", "start_time": "yesterday"}, "not a date"),
        (
            "diagnostics",
            {"station_id": "BAD-1", "start_time": "2026-02-01T00:00", "stop_time": "2026-01-01"},
            "Until is before From",
        ),
    ]
    for kind, data, reason in cases:
        response = await admin_page.post(f"/dashboard/jobs/{kind}", data=data)
        assert response.status_code == 422, (data, response.text)
        assert reason in response.text and 'role="alert"' in response.text
    assert await central.services.diagnostics.list_jobs() == []
    offline = await admin_page.post(
        "/dashboard/jobs/firmware", data={"station_id": "BAD-1", "file_id": file.id}
    )
    assert offline.status_code == 409 and "not connected" in offline.text
    [failed] = await central.services.firmware.list_jobs()
    assert failed.state is JobState.FAILED


async def test_job_lists_are_paged_newest_first_and_filtered_by_station(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    file = await uploaded(central)
    for station_id in ("PG-1", "PG-2"):
        await central.services.stations.register(station_id)
    queue = timedelta(hours=1)  # offline stations: the commands wait, the jobs stay requested
    firmware = [
        await central.services.firmware.start_job(
            "PG-1", base_url="https://x", file_id=file.id, requested_by="t", queue_ttl=queue
        )
        for _ in range(53)
    ]
    diagnostics = [
        await central.services.diagnostics.request(
            "PG-1", base_url="https://x", requested_by="t", queue_ttl=queue
        )
        for _ in range(51)
    ]
    other = await central.services.diagnostics.request(
        "PG-2", base_url="https://x", requested_by="t", queue_ttl=queue
    )
    newest_fw = [str(j.id) for j in reversed(firmware)]
    newest_dg = [str(j.id) for j in reversed(diagnostics)]

    first = await reader_page.get("/dashboard/jobs", params={"station": "PG-1"})
    assert rows(first.text, "firmware-jobs") == newest_fw[:50]
    assert rows(first.text, "diagnostics-jobs") == newest_dg[:50]
    assert f"station=PG-1&amp;fw_after={newest_fw[49]}" in first.text
    assert f"station=PG-1&amp;dg_after={newest_dg[49]}" in first.text
    assert "requested" in first.text

    second = await reader_page.get(
        "/dashboard/jobs", params={"station": "PG-1", "fw_after": newest_fw[49]}
    )
    assert rows(second.text, "firmware-jobs") == newest_fw[50:]
    assert "fw_after=" not in second.text.split('id="firmware-jobs"', 1)[1].split("</div>")[0]
    assert "First page" in second.text

    everyone = await reader_page.get("/dashboard/jobs")
    assert rows(everyone.text, "diagnostics-jobs")[0] == str(other.id)
    bad = await reader_page.get("/dashboard/jobs", params={"fw_after": "x"})
    assert bad.status_code == 422


async def test_the_forms_work_without_javascript_too(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    """A plain form post carries the CSRF token as a form field; the outcome is
    the same as with htmx (here: the station is offline, 409 and a failed job)."""
    await central.services.stations.register("PLAIN-1")
    page = await admin_page.get("/dashboard/jobs")
    assert f'name="csrf_token" value="{admin_page.csrf}"' in page.text
    response = await admin_page.http.post(
        "/dashboard/jobs/diagnostics", data={"station_id": "PLAIN-1", "csrf_token": admin_page.csrf}
    )
    assert response.status_code == 409 and "not connected" in response.text
    [job] = await central.services.diagnostics.list_jobs("PLAIN-1")
    assert job.state is JobState.FAILED
