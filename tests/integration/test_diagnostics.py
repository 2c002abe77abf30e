"""Diagnostics end to end: API request -> GetDiagnostics -> the simulated
station uploads its log over HTTPS (PUT or multipart POST) to the one-time
URL of the CSMS -> the file is stored and downloadable -> the job succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole, JobState
from opencsms.testing import create_api_key

from .conftest import CentralFactory, api_client_for
from .test_firmware import online, until_job


async def request(client: httpx.AsyncClient, station_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/stations/{station_id}/diagnostics", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def upload_url(central: CentralSystem, job: dict[str, Any]) -> str:
    """The location the station was given (the token is never shown by the API)."""
    command = await central.services.commands.get(job["command_id"])
    assert command is not None
    return str(command.payload["location"])


def statuses(station: Any) -> list[str]:
    calls = station.journal.calls("sent", "DiagnosticsStatusNotification")
    return [p["status"] for p in calls]


async def test_a_put_upload_is_stored_and_served_and_the_job_succeeds(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    events = central.events.subscribe(lambda e: e.type == "diagnostics.status")
    async with online(central, "DG-1") as station:
        job = await request(api_client, "DG-1", start_time="2025-01-01T00:00:00Z", retries=0)
        done = await until_job(api_client, "diagnostics", job["id"])
        assert statuses(station) == ["Uploading", "Uploaded"]
    assert done["state"] == "succeeded" and done["last_status"] == "Uploaded"
    name = station.journal.replies("sent", "GetDiagnostics")[-1].payload["fileName"]
    content = station.diagnostics.files[name]
    assert done["file_name"] == name and done["size"] == len(content)
    got = await api_client.get(f"/api/v1/diagnostics/jobs/{job['id']}/file")
    assert got.status_code == 200 and got.content == content
    assert b"diagnostics" in content
    stored = central.settings.data_dir / "diagnostics" / "DG-1" / str(job["id"]) / name
    assert stored.read_bytes() == content
    sent = station.journal.calls("received", "GetDiagnostics")[-1]
    assert sent["location"].startswith(f"{central.api_url}/files/diagnostics/")
    assert sent["startTime"] == "2025-01-01T00:00:00Z"
    async with asyncio.timeout(5):
        states = [(await events.get()).data["state"]]
        while states[-1] != "succeeded":
            states.append((await events.get()).data["state"])
    assert states[0] == "requested" and "running" in states


async def test_a_multipart_upload_works_too_and_a_token_is_good_once(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    async with online(central, "DG-2") as station:
        assert station.diagnostics.transfer is not None
        station.diagnostics.transfer.upload_method = "POST"
        job = await request(api_client, "DG-2")
        done = await until_job(api_client, "diagnostics", job["id"])
    assert done["state"] == "succeeded"
    url = await upload_url(central, job)
    async with api_client_for(central, None) as anonymous:
        again = await anonymous.put(url, content=b"replaced?")
        assert again.status_code == 404
        again = await anonymous.post(url, files={"file": ("x.log", b"replaced?")})
        assert again.status_code == 404
    got = await api_client.get(f"/api/v1/diagnostics/jobs/{job['id']}/file")
    assert got.content == station.diagnostics.files[done["file_name"]]


async def test_unknown_tokens_are_404_and_a_failed_upload_fails_the_job(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    async with api_client_for(central, None) as anonymous:
        for method in ("PUT", "POST"):
            response = await anonymous.request(
                method, "/files/diagnostics/" + "x" * 43, content=b"data"
            )
            assert response.status_code == 404, method
    async with online(central, "DG-3") as station:
        station.diagnostics.fail_upload = True
        job = await request(api_client, "DG-3", retries=1, retry_interval=0)
        done = await until_job(api_client, "diagnostics", job["id"])
        assert statuses(station) == ["Uploading", "UploadFailed"]
    assert done["state"] == "failed" and done["last_status"] == "UploadFailed"
    assert done["size"] is None
    missing = await api_client.get(f"/api/v1/diagnostics/jobs/{job['id']}/file")
    assert missing.status_code == 404
    async with api_client_for(central, None) as anonymous:  # a finished job takes nothing
        late = await anonymous.put(await upload_url(central, job), content=b"late")
        assert late.status_code == 404
    assert (
        await reader_client.post("/api/v1/stations/DG-3/diagnostics", json={})
    ).status_code == 403
    listed = (await reader_client.get("/api/v1/diagnostics/jobs")).json()
    assert [j["id"] for j in listed] == [job["id"]]


async def test_bad_requests_are_refused_and_store_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    await central.services.stations.register("DG-OFF")
    for station_id, body, code in [
        ("NOPE", {}, 404),
        ("DG-OFF", {"retries": -1}, 422),
        ("DG-OFF", {"start_time": "2025-01-02T00:00:00Z", "stop_time": "2025-01-01T00:00:00Z"},
         422),
        ("DG-OFF", {"start_time": "2025-01-02T00:00:00"}, 422),  # no time zone
        ("DG-OFF", {"bogus": True}, 422),
    ]:  # fmt: skip
        response = await api_client.post(f"/api/v1/stations/{station_id}/diagnostics", json=body)
        assert response.status_code == code, (body, response.text)
        assert response.json()["detail"]
    assert (await api_client.get("/api/v1/diagnostics/jobs")).json() == []
    offline = await api_client.post("/api/v1/stations/DG-OFF/diagnostics", json={})
    assert offline.status_code == 409
    jobs = (await api_client.get("/api/v1/diagnostics/jobs")).json()
    assert [(j["station_id"], j["state"]) for j in jobs] == [("DG-OFF", "failed")]
    assert (await api_client.get("/api/v1/diagnostics/jobs/999999")).status_code == 404


async def test_an_upload_over_the_limit_is_413_and_leaves_nothing(
    start_central: CentralFactory,
) -> None:
    central = await start_central(diagnostics_max_bytes=100)
    token = await create_api_key(central.services, ApiRole.ADMIN, "admin")
    async with api_client_for(central, token) as client:
        async with online(central, "DG-BIG") as station:
            job = await request(client, "DG-BIG")
            done = await until_job(client, "diagnostics", job["id"])
            assert statuses(station) == ["Uploading", "UploadFailed"]  # its log is > 100 B
        assert done["state"] == "failed"
        job = await request(client, "DG-BIG", queue_ttl_s=600)  # offline now: queued
        location = await upload_url(central, job)
        async with api_client_for(central, None) as anonymous:
            declared = await anonymous.put(location, content=b"x" * 101)
            assert declared.status_code == 413

            async def chunked() -> Any:  # no Content-Length: refused while streaming
                for _ in range(10):
                    yield b"y" * 50

            streamed = await anonymous.put(location, content=chunked())
            assert streamed.status_code == 413
            form = await anonymous.post(location, files={"file": ("f.log", b"z" * 5000)})
            assert form.status_code == 413
            fits = await anonymous.put(location, content=b"ok" * 50)
            assert fits.status_code == 201
        after = (await client.get(f"/api/v1/diagnostics/jobs/{job['id']}")).json()
        assert after["size"] == 100 and after["state"] == "running"
        folder = central.settings.data_dir / "diagnostics" / "DG-BIG" / str(job["id"])
        assert [p.read_bytes() for p in folder.iterdir()] == [b"ok" * 50]


async def test_uploaded_reported_before_the_file_arrives_completes_on_arrival(
    central: CentralSystem,
) -> None:
    """The notification and the upload travel on different connections: either
    may come first."""
    await central.services.stations.register("DG-RACE")
    diagnostics = central.services.diagnostics
    job = await diagnostics.request(
        "DG-RACE", base_url=central.api_url, requested_by="test", queue_ttl=timedelta(hours=1)
    )
    assert job.state is JobState.REQUESTED and job.command_id is not None
    assert await diagnostics.on_status("DG-RACE", "Idle") is None  # changes nothing
    early = await diagnostics.on_status("DG-RACE", "Uploaded")
    assert early is not None and early.state is JobState.RUNNING
    url = await upload_url(central, {"command_id": job.command_id})

    async def body() -> AsyncIterator[bytes]:
        yield b"log line\n"

    done = await diagnostics.receive(url.rsplit("/", 1)[-1], body(), "../../etc/passwd")
    assert done.state is JobState.SUCCEEDED and done.size == 9
    assert done.file_name == "passwd"  # only the last component, never a path
    path = diagnostics.received_file(done)
    assert path is not None and path.parent == diagnostics.job_folder(done)
