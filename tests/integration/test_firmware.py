"""Firmware end to end: API upload -> UpdateFirmware -> the simulated station
downloads the image over HTTPS from the URL the CSMS generated (bytes
verified) -> its FirmwareStatusNotifications drive the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole, JobState
from opencsms.simulator import ConnectionSettings, FakeClock, SimulatedStation
from opencsms.simulator.transfer import HttpTransfer
from opencsms.testing import create_api_key

from .conftest import CentralFactory, api_client_for

IMAGE = os.urandom(300 * 1024)


async def until_job(
    client: httpx.AsyncClient, kind: str, job_id: int, within: float = 15.0
) -> dict[str, Any]:
    """The job once it is final (polled through the API, bounded)."""
    async with asyncio.timeout(within):
        while True:
            response = await client.get(f"/api/v1/{kind}/jobs/{job_id}")
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["state"] in ("succeeded", "failed"):
                return job
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def online(central: CentralSystem, station_id: str) -> AsyncIterator[SimulatedStation]:
    """A simulated station whose hardware transfers files for real (instantly)."""
    key = await central.services.stations.register(station_id)
    station = SimulatedStation(station_id, clock=FakeClock(), authorization_key=key)
    transfer = HttpTransfer(ca_file=str(central.ca_file), timeout=10)
    station.firmware.transfer = transfer
    station.firmware.download_seconds = station.firmware.install_seconds = 0
    station.diagnostics.transfer = transfer
    station.diagnostics.upload_seconds = 0
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    async with asyncio.timeout(10):
        while not (station.cp.online and central.registry.get(station_id) is not None):  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)
    try:
        yield station
    finally:
        await station.close()


async def upload(client: httpx.AsyncClient, name: str, content: bytes) -> dict[str, Any]:
    response = await client.post("/api/v1/firmware/files", files={"file": (name, content)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def fsn(station: SimulatedStation) -> list[str]:
    return [p["status"] for p in station.journal.calls("sent", "FirmwareStatusNotification")]


async def test_firmware_is_served_over_https_and_the_job_follows_to_installed(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    file = await upload(api_client, "2.0.1", IMAGE)
    assert file["size"] == len(IMAGE)
    assert file["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    listed = (await api_client.get("/api/v1/firmware/files")).json()
    assert [f["id"] for f in listed] == [file["id"]]
    statuses = central.events.subscribe(lambda e: e.type == "firmware.status")
    async with online(central, "FW-1") as station:
        response = await api_client.post(
            "/api/v1/stations/FW-1/firmware",
            json={"file_id": file["id"], "retrieve_date": station.clock.now().isoformat()},
        )
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["location"] == f"{central.api_url}/files/firmware/{file['id']}/2.0.1"
        done = await until_job(api_client, "firmware", job["id"])
        assert done["state"] == "succeeded" and done["last_status"] == "Installed"
        assert station.firmware.downloads[-1].content == IMAGE  # every byte, over HTTPS
        assert fsn(station)[:4] == ["Downloading", "Downloaded", "Installing", "Installed"]
        command = await central.services.commands.get(done["command_id"])
        assert command is not None and command.action == "UpdateFirmware"
        assert command.requested_by == "apikey:test-admin"
    async with asyncio.timeout(5):
        seen = [(await statuses.get()).data for _ in range(5)]
    assert [e["state"] for e in seen] == ["requested"] + ["running"] * 3 + ["succeeded"]
    assert [e["last_status"] for e in seen][1:] == [
        "Downloading", "Downloaded", "Installing", "Installed"]  # fmt: skip
    jobs = (await api_client.get("/api/v1/firmware/jobs", params={"station_id": "FW-1"})).json()
    assert [j["id"] for j in jobs] == [job["id"]]


async def test_a_file_gone_from_disk_fails_the_download_and_the_job(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    file = await upload(api_client, "3.0.0", b"image")
    record = await central.services.firmware.get_file(file["id"])
    assert record is not None
    central.services.firmware.file_path(record).unlink()
    async with online(central, "FW-2") as station:
        response = await api_client.post(
            "/api/v1/stations/FW-2/firmware",
            json={
                "file_id": file["id"],
                "retrieve_date": station.clock.now().isoformat(),
                "retries": 1,
                "retry_interval": 0,
            },
        )
        assert response.status_code == 201, response.text
        done = await until_job(api_client, "firmware", response.json()["id"])
    assert done["state"] == "failed" and done["last_status"] == "DownloadFailed"
    assert station.firmware.downloads == []
    assert station.cp.firmware_version == "1.0.0"


async def test_the_download_url_is_a_capability(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    file = await upload(api_client, "fw image (4).bin", IMAGE[:1000])
    assert file["name"] == "fw_image_4_.bin"  # made safe for a URL and a file system
    async with api_client_for(central, None) as anonymous:  # stations send no API key
        good = await anonymous.get(f"/files/firmware/{file['id']}/{file['name']}")
        assert good.status_code == 200 and good.content == IMAGE[:1000]
        assert good.headers["x-content-sha256"] == file["sha256"]
        for path in (
            f"/files/firmware/{file['id']}/other.bin",
            f"/files/firmware/{'A' * 43}/{file['name']}",
            f"/files/firmware/{file['id'][:-1]}/{file['name']}",
        ):
            assert (await anonymous.get(path)).status_code == 404, path
        assert (await anonymous.get("/api/v1/firmware/files")).status_code == 401


async def test_bad_requests_are_refused_and_store_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    file = await upload(api_client, "1.1", b"x" * 10)
    await central.services.stations.register("FW-OFF")
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("/api/v1/stations/NOPE/firmware", {"file_id": file["id"]}, 404),
        ("/api/v1/stations/FW-OFF/firmware", {"file_id": "unknown"}, 422),
        ("/api/v1/stations/FW-OFF/firmware", {"file_id": file["id"], "retries": -1}, 422),
        ("/api/v1/stations/FW-OFF/firmware", {"file_id": file["id"], "extra": 1}, 422),
        ("/api/v1/stations/FW-OFF/firmware",
         {"file_id": file["id"], "retrieve_date": "tomorrow"}, 422),
    ]  # fmt: skip
    for path, body, code in cases:
        response = await api_client.post(path, json=body)
        assert response.status_code == code, (body, response.text)
        assert response.json()["detail"]
    assert (await api_client.get("/api/v1/firmware/jobs")).json() == []
    denied = await reader_client.post(
        "/api/v1/stations/FW-OFF/firmware", json={"file_id": file["id"]}
    )
    assert denied.status_code == 403
    denied = await reader_client.post("/api/v1/firmware/files", files={"file": ("a", b"a")})
    assert denied.status_code == 403
    empty = await api_client.post("/api/v1/firmware/files", files={"file": ("e.bin", b"")})
    assert empty.status_code == 422
    no_part = await api_client.post("/api/v1/firmware/files", data={"name": "x"})
    assert no_part.status_code in (415, 422)
    assert len((await api_client.get("/api/v1/firmware/files")).json()) == 1
    # offline: 409 like any command; the job is kept as failed, as the command is
    offline = await api_client.post(
        "/api/v1/stations/FW-OFF/firmware", json={"file_id": file["id"]}
    )
    assert offline.status_code == 409
    jobs = (await api_client.get("/api/v1/firmware/jobs")).json()
    assert [(j["station_id"], j["state"]) for j in jobs] == [("FW-OFF", "failed")]
    # queued instead: the job waits with its command
    queued = await api_client.post(
        "/api/v1/stations/FW-OFF/firmware", json={"file_id": file["id"], "queue_ttl_s": 600}
    )
    assert queued.status_code == 201 and queued.json()["state"] == "requested"
    assert queued.json()["command_id"] is not None


async def test_an_image_over_the_limit_is_refused_with_413(
    start_central: CentralFactory,
) -> None:
    central = await start_central(firmware_max_bytes=1000)
    token = await create_api_key(central.services, ApiRole.ADMIN, "admin")
    async with api_client_for(central, token) as client:
        big = await client.post("/api/v1/firmware/files", files={"file": ("b", b"x" * 1001)})
        assert big.status_code == 413
        huge = await client.post(
            "/api/v1/firmware/files", files={"file": ("h", b"x" * (200 * 1024))}
        )
        assert huge.status_code == 413
        assert (await client.get("/api/v1/firmware/files")).json() == []
        fits = await client.post("/api/v1/firmware/files", files={"file": ("f", b"x" * 1000)})
        assert fits.status_code == 201
    leftovers = [p.name for p in (central.settings.data_dir / "firmware").iterdir()]
    assert leftovers == [fits.json()["id"]]


async def test_a_queued_update_that_expires_fails_its_job(central: CentralSystem) -> None:
    await central.services.stations.register("FW-Q")
    firmware = central.services.firmware

    async def one_chunk() -> AsyncIterator[bytes]:
        yield b"image"

    file = await firmware.add_file("9.9", one_chunk())
    job = await firmware.start_job(
        "FW-Q",
        base_url=central.api_url,
        file_id=file.id,
        requested_by="test",
        queue_ttl=timedelta(milliseconds=1),
    )
    assert job.state is JobState.REQUESTED and job.command_id is not None
    async with asyncio.timeout(5):
        while not await central.services.commands.expire_overdue():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    failed = await firmware.get_job(job.id)
    assert failed is not None and failed.state is JobState.FAILED
    assert failed.detail is not None and "expired" in failed.detail
    assert await firmware.on_status("FW-Q", "Installed") is None  # no open job left


async def test_stations_are_given_the_public_url_when_one_is_set(
    start_central: CentralFactory,
) -> None:
    """Behind a load balancer or NAT the API's own address is not the one
    stations can reach: OPENCSMS_PUBLIC_URL names it."""
    central = await start_central(public_url="https://csms.example.com:8443/")
    token = await create_api_key(central.services, ApiRole.ADMIN, "ops")
    await central.services.stations.register("FW-PUB")
    async with api_client_for(central, token) as client:
        file = await upload(client, "3.0", b"image")
        response = await client.post(
            "/api/v1/stations/FW-PUB/firmware", json={"file_id": file["id"], "queue_ttl_s": 60}
        )
        assert response.status_code == 201, response.text
        location = response.json()["location"]
    assert location == f"https://csms.example.com:8443/files/firmware/{file['id']}/3.0"
