"""Remote Trigger profile: TriggerMessage for all six messages (OCPP 1.6 section 5.17).

Accepted first, the requested message sent after the reply. Triggered
messages go out directly on the session (not through the ordered queue):
the central system asked for them now, possibly while the boot is still
Pending, and a triggered MeterValues carries the ``Trigger`` context.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import MessageTrigger, ReadingContext, TriggerMessageStatus

from opencsms.chargepoint.clock import ocpp_time
from opencsms.chargepoint.handlers import station_of
from opencsms.chargepoint.metering import meter_value
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]
SUPPORTED = frozenset(t.value for t in MessageTrigger)


async def trigger_message(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector_id = p.get("connectorId")
    if p["requestedMessage"] not in SUPPORTED:
        return {"status": TriggerMessageStatus.not_implemented.value}
    if connector_id is not None and not 0 <= connector_id < len(cp.connectors):
        return {"status": TriggerMessageStatus.rejected.value}
    return {"status": TriggerMessageStatus.accepted.value}


def _targets(cp: ChargePoint, connector_id: int | None) -> list[int]:
    if connector_id is None:
        return [c.id for c in cp.connectors]
    return [connector_id]


async def _send(cp: ChargePoint, session: OcppSession, p: Payload) -> None:
    message = p["requestedMessage"]
    connector_id = p.get("connectorId")
    if message == MessageTrigger.boot_notification:
        reply = await session.call("BootNotification", cp.boot_payload())
        await cp.registered(reply)
    elif message == MessageTrigger.heartbeat:
        await session.call("Heartbeat", {})
    elif message == MessageTrigger.firmware_status_notification:
        await session.call("FirmwareStatusNotification", {"status": cp.firmware_status})
    elif message == MessageTrigger.diagnostics_status_notification:
        await session.call("DiagnosticsStatusNotification", {"status": cp.diagnostics_status})
    elif message == MessageTrigger.status_notification:
        for target in _targets(cp, connector_id):
            connector = cp.connectors[target]
            payload: Payload = {
                "connectorId": target,
                "errorCode": (connector.fault or "NoError"),
                "status": connector.status.value,
                "timestamp": ocpp_time(cp.now()),
            }
            await session.call("StatusNotification", payload)
            connector.reported = connector.status
    elif message == MessageTrigger.meter_values:
        for target in _targets(cp, connector_id):
            if target == 0:
                continue
            reading = await cp.hw(target).meter.read()
            value = meter_value(
                cp.now(),
                reading,
                cp.config.get_list("MeterValuesSampledData"),
                ReadingContext.trigger,
                offered_current=cp.offered.get(target),
                phases=cp.info.phases,
                voltage=cp.info.voltage,
            )
            payload = {"connectorId": target, "meterValue": [value]}
            tx = cp.connectors[target].transaction
            if tx is not None:
                payload["transactionId"] = tx.wire_id
            await session.call("MeterValues", payload)


async def trigger_message_after(session: OcppSession, p: Payload, result: Payload) -> None:
    if result["status"] == TriggerMessageStatus.accepted:
        cp = station_of(session)
        cp.spawn(_send(cp, session, p))


ROUTES: dict[str, tuple[Any, Any]] = {
    "TriggerMessage": (trigger_message, trigger_message_after),
}
