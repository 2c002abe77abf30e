"""Core profile requests: remote start/stop, reset, unlock, availability,
configuration, cache, data transfer (OCPP 1.6 sections 5.x)."""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ChargingProfilePurposeType,
    ClearCacheStatus,
    DataTransferStatus,
    Reason,
    RemoteStartStopStatus,
    ResetStatus,
    UnlockStatus,
)

from opencsms.chargepoint import charging
from opencsms.chargepoint.connectors import Connector
from opencsms.chargepoint.handlers import station_of
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]
ACCEPTED = {"status": "Accepted"}
REJECTED = {"status": "Rejected"}


def _remote_target(cp: ChargePoint, p: Payload) -> Connector | None:
    connector_id = p.get("connectorId")
    if connector_id is None:
        return charging._free_connector(cp, p["idTag"])
    if not 1 <= connector_id < len(cp.connectors):
        return None
    return cp.connectors[connector_id]


async def remote_start(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector = _remote_target(cp, p)
    profile = p.get("chargingProfile")
    if (
        connector is None
        or connector.transaction is not None
        or connector.fault is not None
        or connector.inoperative
        or (profile and profile["chargingProfilePurpose"] != ChargingProfilePurposeType.tx_profile)
        or (connector.reservation and connector.reservation.id_tag != p["idTag"])
    ):
        return {"status": RemoteStartStopStatus.rejected.value}
    return {"status": RemoteStartStopStatus.accepted.value}


async def _remote_start(cp: ChargePoint, connector_id: int, p: Payload) -> None:
    id_tag = p["idTag"]
    if cp.config.get_bool("AuthorizeRemoteTxRequests"):
        info = await charging.authorize(cp, id_tag)
        if info.get("status") != "Accepted":
            return
    if p.get("chargingProfile"):
        cp.connectors[connector_id].extra["remote_profile"] = p["chargingProfile"]
    await charging.begin_when_plugged(cp, connector_id, id_tag)


async def remote_start_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    connector = _remote_target(cp, p)
    if result["status"] == "Accepted" and connector is not None:
        cp.spawn(_remote_start(cp, connector.id, p))


def _by_transaction(cp: ChargePoint, transaction_id: int) -> Connector | None:
    for connector in cp.connectors[1:]:
        tx = connector.transaction
        if tx is not None and transaction_id in (tx.id, tx.local_id):
            return connector
    return None


async def remote_stop(session: OcppSession, p: Payload) -> Payload:
    found = _by_transaction(station_of(session), p["transactionId"])
    status = RemoteStartStopStatus.accepted if found else RemoteStartStopStatus.rejected
    return {"status": status.value}


async def remote_stop_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    connector = _by_transaction(cp, p["transactionId"])
    if connector is not None:
        cp.spawn(charging.stop_transaction(cp, connector.id, Reason.remote.value))


async def reset(session: OcppSession, p: Payload) -> Payload:
    return {"status": ResetStatus.accepted.value}


async def reset_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    cp.spawn(cp.reboot(p["type"]))


async def unlock_connector(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector_id = p["connectorId"]
    if not 1 <= connector_id < len(cp.connectors) or cp.hw(connector_id).lock is None:
        return {"status": UnlockStatus.not_supported.value}
    if cp.connectors[connector_id].transaction is not None:
        await charging.stop_transaction(cp, connector_id, Reason.unlock_command.value)
    lock = cp.hw(connector_id).lock
    assert lock is not None
    unlocked = await lock.unlock()
    return {"status": (UnlockStatus.unlocked if unlocked else UnlockStatus.unlock_failed).value}


async def change_availability(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector_id = p["connectorId"]
    if not 0 <= connector_id < len(cp.connectors):
        return {"status": AvailabilityStatus.rejected.value}
    inoperative = p["type"] == AvailabilityType.inoperative
    targets = cp.connectors if connector_id == 0 else [cp.connectors[connector_id]]
    scheduled = False
    for connector in targets:
        if connector.transaction is not None:
            connector.inoperative_scheduled = inoperative
            scheduled = True
        else:
            connector.inoperative = inoperative
            connector.inoperative_scheduled = None
    status = AvailabilityStatus.scheduled if scheduled else AvailabilityStatus.accepted
    return {"status": status.value}


async def change_availability_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    for connector in cp.connectors:
        cp.refresh(connector.id)


async def get_configuration(session: OcppSession, p: Payload) -> Payload:
    known, unknown = station_of(session).config.get_configuration(p.get("key"))
    out: Payload = {"configurationKey": known}
    if unknown:
        out["unknownKey"] = unknown
    return out


async def change_configuration(session: OcppSession, p: Payload) -> Payload:
    status = station_of(session).config.change(p["key"], p["value"])
    return {"status": status.value}


async def clear_cache(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    if not cp.config.get_bool("AuthorizationCacheEnabled", True):
        return {"status": ClearCacheStatus.rejected.value}
    cp.cache.clear()
    return {"status": ClearCacheStatus.accepted.value}


async def data_transfer(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    if cp.data_transfer is None:
        return {"status": DataTransferStatus.unknown_vendor_id.value}
    return await cp.data_transfer(p)


ROUTES: dict[str, tuple[Any, Any]] = {
    "RemoteStartTransaction": (remote_start, remote_start_after),
    "RemoteStopTransaction": (remote_stop, remote_stop_after),
    "Reset": (reset, reset_after),
    "UnlockConnector": (unlock_connector, None),
    "ChangeAvailability": (change_availability, change_availability_after),
    "GetConfiguration": (get_configuration, None),
    "ChangeConfiguration": (change_configuration, None),
    "ClearCache": (clear_cache, None),
    "DataTransfer": (data_transfer, None),
}
