"""The simulated hardware's HTTP transfers, over a swapped-in transport."""

from __future__ import annotations

import hashlib

import httpx

from opencsms.chargepoint.clock import FakeClock
from opencsms.simulator.hardware import SimulatedDiagnostics, SimulatedFirmware
from opencsms.simulator.transfer import HttpTransfer

IMAGE = b"\x7fELF firmware" * 100


def serve(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/fw/2.0.1":
        digest = hashlib.sha256(IMAGE).hexdigest()
        return httpx.Response(200, content=IMAGE, headers={"X-Content-SHA256": digest})
    if path == "/fw/corrupt":
        return httpx.Response(200, content=IMAGE, headers={"X-Content-SHA256": "0" * 64})
    if path == "/up" and request.method in ("PUT", "POST"):
        seen.append((request.method, request.headers["content-type"], request.read()))
        return httpx.Response(201)
    return httpx.Response(404)


seen: list[tuple[str, str, bytes]] = []


def transfer(**options: object) -> HttpTransfer:
    return HttpTransfer(transport=httpx.MockTransport(serve), **options)  # type: ignore[arg-type]


async def test_download_keeps_the_verified_image_and_names_the_version() -> None:
    firmware = SimulatedFirmware(FakeClock(), download_seconds=0, install_seconds=0)
    firmware.transfer = transfer()
    assert await firmware.download("https://csms.test/fw/2.0.1")
    assert firmware.downloads[-1].content == IMAGE
    assert await firmware.install() == "2.0.1"
    assert not await firmware.download("https://csms.test/fw/corrupt")  # digest mismatch
    assert not await firmware.download("https://csms.test/fw/missing")  # 404
    assert len(firmware.downloads) == 1


async def test_without_a_transfer_the_download_is_pretended() -> None:
    firmware = SimulatedFirmware(FakeClock(), download_seconds=0, install_seconds=0)
    assert await firmware.download("https://fw.example/3.0.0")
    assert firmware.downloads == [] and await firmware.install() == "3.0.0"


async def test_upload_sends_the_collected_log_by_put_or_multipart_post() -> None:
    seen.clear()
    diagnostics = SimulatedDiagnostics(FakeClock(), "CP-9", upload_seconds=0)
    diagnostics.transfer = transfer()
    name = await diagnostics.collect(None, None)
    assert name is not None and name.startswith("CP-9-")
    assert await diagnostics.upload("https://csms.test/up", name)
    diagnostics.transfer.upload_method = "POST"
    assert await diagnostics.upload("https://csms.test/up", name)
    assert not await diagnostics.upload("https://csms.test/elsewhere", name)
    (put_method, put_type, put_body), (post_method, post_type, post_body) = seen
    assert (put_method, put_type, put_body) == (
        "PUT", "application/octet-stream", diagnostics.files[name])  # fmt: skip
    assert post_method == "POST" and post_type.startswith("multipart/form-data")
    assert diagnostics.files[name] in post_body and name.encode() in post_body
    assert len(diagnostics.uploads) == 2
