"""Reservation profile: ReserveNow and CancelReservation (OCPP 1.6 sections 5.13, 5.4).

A reservation makes the connector Reserved until its expiry (a station
timer) or until the reserved tag (or one with the same parent tag) starts a
transaction there, which then carries the reservationId. Connector 0 is
reservable when ``ReserveConnectorZeroSupported``: any connector then serves
the tag, and the station keeps one connector free for it.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import CancelReservationStatus, ReservationStatus

from opencsms.chargepoint.clock import parse_time
from opencsms.chargepoint.connectors import Connector, Reservation
from opencsms.chargepoint.handlers import station_of
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]


def _find(cp: ChargePoint, reservation_id: int) -> Connector | None:
    for connector in cp.connectors:
        if connector.reservation and connector.reservation.reservation_id == reservation_id:
            return connector
    return None


async def reserve_now(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector_id = p["connectorId"]
    if not 0 <= connector_id < len(cp.connectors) or (
        connector_id == 0 and not cp.config.get_bool("ReserveConnectorZeroSupported")
    ):
        return {"status": ReservationStatus.rejected.value}
    connector = cp.connectors[connector_id]
    existing = _find(cp, p["reservationId"])
    if existing is not None and existing is not connector:
        existing.reservation = None
        cp.timers.cancel(f"reservation:{existing.id}")
        cp.refresh(existing.id)
    if connector.fault is not None:
        return {"status": ReservationStatus.faulted.value}
    if connector.inoperative:
        return {"status": ReservationStatus.unavailable.value}
    if connector_id == 0:
        free = [
            c
            for c in cp.connectors[1:]
            if c.transaction is None and not c.plugged and c.reservation is None
        ]
        if not free:
            return {"status": ReservationStatus.occupied.value}
    elif (
        connector.transaction is not None
        or connector.plugged
        or (
            connector.reservation is not None
            and connector.reservation.reservation_id != p["reservationId"]
        )
    ):
        return {"status": ReservationStatus.occupied.value}
    expiry = parse_time(p["expiryDate"])
    connector.reservation = Reservation(
        p["reservationId"], p["idTag"], expiry, p.get("parentIdTag")
    )

    async def expired() -> None:
        connector.reservation = None
        cp.refresh(connector_id)

    cp.timers.set(f"reservation:{connector_id}", expiry, expired)
    return {"status": ReservationStatus.accepted.value}


async def reserve_now_after(session: OcppSession, p: Payload, result: Payload) -> None:
    if result["status"] == ReservationStatus.accepted:
        station_of(session).refresh(p["connectorId"])


async def cancel_reservation(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector = _find(cp, p["reservationId"])
    if connector is None:
        return {"status": CancelReservationStatus.rejected.value}
    connector.reservation = None
    cp.timers.cancel(f"reservation:{connector.id}")
    return {"status": CancelReservationStatus.accepted.value}


async def cancel_reservation_after(session: OcppSession, p: Payload, result: Payload) -> None:
    cp = station_of(session)
    for connector in cp.connectors:
        cp.refresh(connector.id)


ROUTES: dict[str, tuple[Any, Any]] = {
    "ReserveNow": (reserve_now, reserve_now_after),
    "CancelReservation": (cancel_reservation, cancel_reservation_after),
}
