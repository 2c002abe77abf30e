"""Charging sessions: hardware inputs, authorization, transactions, reboot.

Functions over a :class:`~opencsms.chargepoint.station.ChargePoint` rather
than methods, to keep the core class small; the station exposes them as
methods (``station.plug_in(1)``).

Authorization order (OCPP 1.6 sections 3.4-3.5, 4.2): with
``LocalPreAuthorize`` a locally Accepted tag starts at once; online, an
Authorize.req decides; offline, the local list and cache decide when
``LocalAuthorizeOffline``, and an unknown tag is let through when
``AllowOfflineTxForUnknownId``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocpp.v16.enums import AuthorizationStatus, ChargePointErrorCode, ReadingContext, Reason

from opencsms.chargepoint import control
from opencsms.chargepoint.authorization import authorize_locally
from opencsms.chargepoint.clock import ocpp_time
from opencsms.chargepoint.connectors import Connector, Transaction
from opencsms.chargepoint.metering import meter_value
from opencsms.chargepoint.offline_queue import Payload

if TYPE_CHECKING:
    from opencsms.chargepoint.station import ChargePoint

ACCEPTED = AuthorizationStatus.accepted.value


async def authorize(cp: ChargePoint, id_tag: str) -> Payload:
    """IdTagInfo for ``id_tag`` from the local sources and/or the central system."""
    config = cp.config
    local = authorize_locally(
        id_tag,
        cp.now(),
        cp.local_list if config.get_bool("LocalAuthListEnabled", True) else None,
        cp.cache if config.get_bool("AuthorizationCacheEnabled", True) else None,
    )
    if (
        local is not None
        and local.get("status") == ACCEPTED
        and config.get_bool("LocalPreAuthorize")
    ):
        return local
    if cp.online:
        reply = await cp.request("Authorize", {"idTag": id_tag})
        if reply is not None:
            info: Payload = reply.get("idTagInfo", {"status": "Invalid"})
            if config.get_bool("AuthorizationCacheEnabled", True):
                cp.cache.remember(id_tag, info)
            return info
    if config.get_bool("LocalAuthorizeOffline", True) and local is not None:
        return local
    if local is None and config.get_bool("AllowOfflineTxForUnknownId"):
        return {"status": ACCEPTED}
    return {"status": AuthorizationStatus.invalid.value}


def _free_connector(cp: ChargePoint, id_tag: str) -> Connector | None:
    """Where a tag without a connector goes: a plugged idle one, else an idle one."""
    idle = [
        c
        for c in cp.connectors[1:]
        if c.transaction is None
        and c.fault is None
        and not c.inoperative
        and (c.reservation is None or c.reservation.id_tag == id_tag)
    ]
    plugged = [c for c in idle if c.plugged]
    candidates = plugged or idle
    return candidates[0] if candidates else None


def _reservation_blocks(cp: ChargePoint, connector: Connector, info: Payload, id_tag: str) -> bool:
    reservations = [r for r in (connector.reservation, cp.connectors[0].reservation) if r]
    for reservation in reservations:
        if reservation.id_tag == id_tag:
            return False
        parent = info.get("parentIdTag")
        if reservation.parent_id_tag and parent == reservation.parent_id_tag:
            return False
    return bool(reservations)


async def present_tag(cp: ChargePoint, id_tag: str, connector_id: int | None) -> str:
    for running in cp.connectors[1:]:
        tx = running.transaction
        if tx is not None and tx.id_tag == id_tag:
            await stop_transaction(cp, running.id, Reason.local.value, id_tag)
            return str(ACCEPTED)
    connector: Connector | None = (
        cp.connectors[connector_id] if connector_id is not None else _free_connector(cp, id_tag)
    )
    if connector is None or connector.transaction is not None or connector.fault is not None:
        return str(AuthorizationStatus.blocked.value)
    info = await authorize(cp, id_tag)
    status = str(info.get("status"))
    if status == ACCEPTED and _reservation_blocks(cp, connector, info, id_tag):
        status = AuthorizationStatus.blocked.value
    if cp.hardware.reader is not None:
        await cp.hardware.reader.indicate(status == ACCEPTED)
    if status != ACCEPTED:
        return status
    await begin_when_plugged(cp, connector.id, id_tag, info.get("parentIdTag"))
    return status


async def begin_when_plugged(
    cp: ChargePoint, connector_id: int, id_tag: str, parent: str | None = None
) -> None:
    """Start now if the cable is in, else wait ``ConnectionTimeOut`` for it."""
    connector = cp.connectors[connector_id]
    if connector.plugged:
        reservation = connector.reservation or cp.connectors[0].reservation
        await start_transaction(
            cp, connector_id, id_tag, reservation.reservation_id if reservation else None
        )
        return
    connector.authorized_tag = id_tag
    connector.extra["parent_id_tag"] = parent

    async def timed_out() -> None:
        connector.authorized_tag = None
        cp.refresh(connector_id)

    cp.timers.set_in(
        f"plug-timeout:{connector_id}", cp.config.get_int("ConnectionTimeOut", 120), timed_out
    )
    cp.refresh(connector_id)


async def plug_in(cp: ChargePoint, connector_id: int) -> None:
    connector = cp.connectors[connector_id]
    connector.plugged = True
    connector.ev_suspended = False
    if connector.authorized_tag is not None and connector.transaction is None:
        cp.timers.cancel(f"plug-timeout:{connector_id}")
        tag, connector.authorized_tag = connector.authorized_tag, None
        reservation = connector.reservation or cp.connectors[0].reservation
        await start_transaction(
            cp, connector_id, tag, reservation.reservation_id if reservation else None
        )
        return
    cp.refresh(connector_id)


async def unplug(cp: ChargePoint, connector_id: int) -> None:
    connector = cp.connectors[connector_id]
    connector.plugged = False
    if connector.transaction is not None and cp.config.get_bool(
        "StopTransactionOnEVSideDisconnect", True
    ):
        await stop_transaction(cp, connector_id, Reason.ev_disconnected.value)
    connector.finishing = False
    connector.ev_suspended = False
    cp.refresh(connector_id)


async def start_transaction(
    cp: ChargePoint, connector_id: int, id_tag: str, reservation_id: int | None = None
) -> Transaction:
    connector = cp.connectors[connector_id]
    reading = await cp.hw(connector_id).meter.read()
    tx = Transaction(
        local_id=cp.new_local_tx(),
        connector_id=connector_id,
        id_tag=id_tag,
        start=cp.now(),
        meter_start=round(reading.energy_wh),
        reservation_id=reservation_id,
    )
    connector.transaction = tx
    connector.finishing = False
    connector.authorized_tag = None
    if reservation_id is not None:
        for holder in (connector, cp.connectors[0]):
            if holder.reservation and holder.reservation.reservation_id == reservation_id:
                holder.reservation = None
                cp.timers.cancel(f"reservation:{holder.id}")
    payload: Payload = {
        "connectorId": connector_id,
        "idTag": id_tag,
        "meterStart": tx.meter_start,
        "timestamp": ocpp_time(tx.start),
    }
    if reservation_id is not None:
        payload["reservationId"] = reservation_id

    def answered(reply: Payload | None) -> None:
        if reply is None:
            return
        tx.id = reply.get("transactionId")
        info = reply.get("idTagInfo", {})
        if cp.config.get_bool("AuthorizationCacheEnabled", True):
            cp.cache.remember(id_tag, info)
        if (
            info.get("status") != ACCEPTED
            and connector.transaction is tx
            and (cp.config.get_bool("StopTransactionOnInvalidId", True))
        ):
            cp.spawn(stop_transaction(cp, connector_id, Reason.de_authorized.value))

    cp.post_transaction("StartTransaction", payload, tx.local_id, answered)
    remote_profile = connector.extra.pop("remote_profile", None)
    if isinstance(remote_profile, dict):
        from opencsms.chargepoint.handlers.smart_charging import install

        reason = install(cp, connector_id, remote_profile)
        if reason is not None:
            cp.log.info("RemoteStart charging profile rejected", reason=reason)
    await cp.hw(connector_id).contactor.close()
    control.post_sample(cp, connector_id, reading, ReadingContext.transaction_begin)
    await control.apply_limit(cp, connector_id)
    control.schedule_sample(cp, connector_id)
    cp.refresh(connector_id)
    return tx


async def stop_transaction(
    cp: ChargePoint, connector_id: int, reason: str, id_tag: str | None = None
) -> None:
    connector = cp.connectors[connector_id]
    tx = connector.transaction
    if tx is None:
        return
    hw = cp.hw(connector_id)
    await hw.contactor.open()
    reading = await hw.meter.read()
    connector.transaction = None
    connector.finishing = connector.plugged
    connector.evse_paused = False
    cp.timers.cancel(f"sample:{connector_id}")
    cp.timers.cancel(f"limit:{connector_id}")
    cp.profiles.end_transaction(connector_id)
    payload: Payload = {
        "transactionId": tx.wire_id,
        "meterStop": round(reading.energy_wh),
        "timestamp": ocpp_time(cp.now()),
        "reason": reason,
    }
    if id_tag is not None:
        payload["idTag"] = id_tag
    end_data = cp.config.get_list("StopTxnSampledData")
    if end_data:
        payload["transactionData"] = [
            meter_value(
                cp.now(),
                reading,
                end_data,
                ReadingContext.transaction_end,
                phases=cp.info.phases,
                voltage=cp.info.voltage,
            )
        ]
    cp.post_transaction("StopTransaction", payload, tx.local_id)
    await hw.pilot.set_current_limit(0)
    cp.offered.pop(connector_id, None)
    if connector.inoperative_scheduled is not None:
        connector.inoperative = connector.inoperative_scheduled
        connector.inoperative_scheduled = None
    cp.refresh(connector_id)
    await control.rebalance(cp)


async def report_fault(
    cp: ChargePoint, connector_id: int, code: ChargePointErrorCode, info: str | None
) -> None:
    connector = cp.connectors[connector_id]
    connector.fault, connector.fault_info = code, info
    targets = cp.connectors[1:] if connector_id == 0 else [connector]
    for target in targets:
        if target.transaction is not None:
            await stop_transaction(cp, target.id, Reason.other.value)
    cp.refresh(connector_id)


async def clear_fault(cp: ChargePoint, connector_id: int) -> None:
    connector = cp.connectors[connector_id]
    connector.fault, connector.fault_info = None, None
    cp.refresh(connector_id)


async def reboot(cp: ChargePoint, reason: str) -> None:
    """Reset: end transactions, forget volatile state, reconnect and boot again.

    Profiles, configuration, the local list and the queued transaction
    messages survive, as they would in a station's flash.
    """
    stop_reason = Reason.hard_reset if reason == "Hard" else Reason.soft_reset
    for connector in cp.connectors[1:]:
        if connector.transaction is not None:
            await stop_transaction(cp, connector.id, stop_reason.value)
    await cp.drain()
    cp.timers.clear(keep=cp.world_timer_prefixes)
    cp.registration = None
    for connector in cp.connectors:
        connector.reservation = None
        connector.authorized_tag = None
        connector.finishing = False
        connector.reported = None
        connector.status = connector.derive()
    if cp.on_reboot is not None:
        await cp.on_reboot()
