"""Handlers for what stations send (Core and the notifications of the other
1.6 profiles). Each handler is small: convert, call one domain service,
convert back. Nothing is answered before the domain service returned, and the
services return only after the database commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from opencsms.domain.authorization import AuthorizationService
from opencsms.domain.diagnostics import DiagnosticsService
from opencsms.domain.firmware import FirmwareService
from opencsms.domain.metering import MeteringService
from opencsms.domain.model import TransactionStart
from opencsms.domain.stations import StationService
from opencsms.domain.transactions import TransactionService
from opencsms.ocpp.router import Router
from opencsms.ocpp.session import OcppSession
from opencsms.v16 import convert

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UplinkHandlers:
    stations: StationService
    authorization: AuthorizationService
    transactions: TransactionService
    metering: MeteringService
    data_transfer_status: str = "Accepted"
    on_transaction_started: Callable[[TransactionStart, int], Awaitable[None]] | None = None
    """Told after a StartTransaction is recorded, before the reply (reservations close)."""
    firmware: FirmwareService | None = None
    """Follows FirmwareStatusNotification into the station's firmware job."""
    diagnostics: DiagnosticsService | None = None
    """Follows DiagnosticsStatusNotification into the station's diagnostics job."""

    def register(self, router: Router) -> Router:
        router.on("BootNotification", self.boot_notification)
        router.on("Heartbeat", self.heartbeat)
        router.on("StatusNotification", self.status_notification)
        router.on("Authorize", self.authorize)
        router.on("StartTransaction", self.start_transaction)
        router.on("StopTransaction", self.stop_transaction)
        router.on("MeterValues", self.meter_values)
        router.on("DataTransfer", self.data_transfer)
        router.on("FirmwareStatusNotification", self.firmware_status)
        router.on("DiagnosticsStatusNotification", self.diagnostics_status)
        return router

    async def boot_notification(self, session: OcppSession, payload: Payload) -> Payload:
        result = await self.stations.boot(session.identity, convert.station_info(payload))
        return {
            "status": "Accepted" if result.accepted else "Rejected",
            "currentTime": convert.format_time(result.current_time),
            "interval": result.interval,
        }

    async def heartbeat(self, session: OcppSession, payload: Payload) -> Payload:
        now = await self.stations.heartbeat(session.identity)
        return {"currentTime": convert.format_time(now)}

    async def status_notification(self, session: OcppSession, payload: Payload) -> Payload:
        await self.stations.report_status(session.identity, convert.status_report(payload))
        return {}

    async def authorize(self, session: OcppSession, payload: Payload) -> Payload:
        info = await self.authorization.authorize(str(payload.get("idTag")))
        return {"idTagInfo": convert.id_tag_info(info)}

    async def start_transaction(self, session: OcppSession, payload: Payload) -> Payload:
        start = convert.transaction_start(session.identity, payload)
        transaction_id, info = await self.transactions.start(start)
        if self.on_transaction_started is not None:
            await self.on_transaction_started(start, transaction_id)
        return {"transactionId": transaction_id, "idTagInfo": convert.id_tag_info(info)}

    async def stop_transaction(self, session: OcppSession, payload: Payload) -> Payload:
        info = await self.transactions.stop(convert.transaction_stop(session.identity, payload))
        return {"idTagInfo": convert.id_tag_info(info)} if info is not None else {}

    async def meter_values(self, session: OcppSession, payload: Payload) -> Payload:
        connector_id = payload.get("connectorId")
        await self.metering.record(
            session.identity,
            connector_id if isinstance(connector_id, int) else 0,
            convert.optional_int(payload, "transactionId"),
            convert.meter_values(payload.get("meterValue") or []),
        )
        return {}

    async def data_transfer(self, session: OcppSession, payload: Payload) -> Payload:
        await self.stations.record_event(session.identity, "DataTransfer", payload)
        return {"status": self.data_transfer_status}

    async def firmware_status(self, session: OcppSession, payload: Payload) -> Payload:
        await self.stations.record_event(session.identity, "FirmwareStatusNotification", payload)
        if self.firmware is not None:
            await self.firmware.on_status(session.identity, str(payload.get("status")))
        return {}

    async def diagnostics_status(self, session: OcppSession, payload: Payload) -> Payload:
        await self.stations.record_event(session.identity, "DiagnosticsStatusNotification", payload)
        if self.diagnostics is not None:
            await self.diagnostics.on_status(session.identity, str(payload.get("status")))
        return {}
