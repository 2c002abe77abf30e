"""Firmware Management profile: UpdateFirmware and GetDiagnostics (OCPP 1.6 6.x).

The long part of each (download, install, upload) runs after the reply as a
station task, reporting progress through FirmwareStatusNotification /
DiagnosticsStatusNotification. Installing waits for running transactions to
end, and a successful install reboots the station, which then boots with the
new firmware version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.v16.enums import DiagnosticsStatus, FirmwareStatus

from opencsms.chargepoint.clock import parse_time
from opencsms.chargepoint.handlers import station_of
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]
TRANSACTION_WAIT = 30.0


async def _firmware_status(cp: ChargePoint, status: FirmwareStatus) -> None:
    cp.firmware_status = status.value
    await cp.request("FirmwareStatusNotification", {"status": status.value})


async def update_firmware(session: OcppSession, p: Payload) -> Payload:
    return {}


async def _update(cp: ChargePoint, p: Payload) -> None:
    installer = cp.hardware.firmware
    if installer is None:
        return
    wait = (parse_time(p["retrieveDate"]) - cp.now()).total_seconds()
    if wait > 0:
        await cp.clock.sleep(wait)
    await _firmware_status(cp, FirmwareStatus.downloading)
    attempts = 1 + int(p.get("retries", 0))
    for attempt in range(attempts):
        if await installer.download(p["location"]):
            break
        if attempt + 1 < attempts:
            await cp.clock.sleep(float(p.get("retryInterval", 60)))
    else:
        await _firmware_status(cp, FirmwareStatus.download_failed)
        cp.firmware_status = "Idle"
        return
    await _firmware_status(cp, FirmwareStatus.downloaded)
    while any(c.transaction is not None for c in cp.connectors[1:]):
        await cp.clock.sleep(TRANSACTION_WAIT)
    await _firmware_status(cp, FirmwareStatus.installing)
    version = await installer.install()
    if version is None:
        await _firmware_status(cp, FirmwareStatus.installation_failed)
        cp.firmware_status = "Idle"
        return
    await _firmware_status(cp, FirmwareStatus.installed)
    cp.firmware_version = version
    cp.firmware_status = "Idle"
    await cp.reboot("Soft")


async def update_firmware_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    cp.spawn(_update(cp, p))


def _opt_time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


async def get_diagnostics(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    uploader = cp.hardware.diagnostics
    if uploader is None:
        return {}
    name = await uploader.collect(_opt_time(p.get("startTime")), _opt_time(p.get("stopTime")))
    if name is None:
        return {}
    return {"fileName": name}


async def _upload(cp: ChargePoint, p: Payload, file_name: str) -> None:
    uploader = cp.hardware.diagnostics
    assert uploader is not None

    async def status(value: DiagnosticsStatus) -> None:
        cp.diagnostics_status = value.value
        await cp.request("DiagnosticsStatusNotification", {"status": value.value})

    await status(DiagnosticsStatus.uploading)
    attempts = 1 + int(p.get("retries", 0))
    for attempt in range(attempts):
        if await uploader.upload(p["location"], file_name):
            await status(DiagnosticsStatus.uploaded)
            cp.diagnostics_status = "Idle"
            return
        if attempt + 1 < attempts:
            await cp.clock.sleep(float(p.get("retryInterval", 60)))
    await status(DiagnosticsStatus.upload_failed)
    cp.diagnostics_status = "Idle"


async def get_diagnostics_after(session: OcppSession, p: Payload, result: Payload) -> None:
    if "fileName" in result:
        cp = station_of(session)
        cp.spawn(_upload(cp, p, result["fileName"]))


ROUTES: dict[str, tuple[Any, Any]] = {
    "UpdateFirmware": (update_firmware, update_firmware_after),
    "GetDiagnostics": (get_diagnostics, get_diagnostics_after),
}
