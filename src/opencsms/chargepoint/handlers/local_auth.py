"""Local Auth List Management: SendLocalList, GetLocalListVersion (1.6 sections 5.15, 5.10)."""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import UpdateStatus

from opencsms.chargepoint.handlers import station_of
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]


async def send_local_list(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    if not cp.config.get_bool("LocalAuthListEnabled", True):
        return {"status": UpdateStatus.not_supported.value}
    items = p.get("localAuthorizationList", [])
    if len(items) > cp.config.get_int("SendLocalListMaxLength", 100):
        return {"status": UpdateStatus.failed.value}
    status = cp.local_list.update(
        p["listVersion"], p["updateType"], items, cp.config.get_int("LocalAuthListMaxLength", 1000)
    )
    return {"status": status.value}


async def get_local_list_version(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    if not cp.config.get_bool("LocalAuthListEnabled", True):
        return {"listVersion": -1}
    return {"listVersion": cp.local_list.version}


ROUTES: dict[str, tuple[Any, Any]] = {
    "SendLocalList": (send_local_list, None),
    "GetLocalListVersion": (get_local_list_version, None),
}
