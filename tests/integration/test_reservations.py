"""Reservations end to end: API -> ReserveNow/CancelReservation over WSS to a
simulated station -> the station's answer on the reservation; a StartTransaction
closes it; the sweep expires it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag, ReservationState, TransactionStart
from opencsms.simulator import EV, ConnectionSettings, FakeClock, SimulatedStation

TAG = "RES-TAG"


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def online(central: CentralSystem, station_id: str) -> AsyncIterator[SimulatedStation]:
    key = await central.services.stations.register(station_id)
    station = SimulatedStation(station_id, clock=FakeClock(), authorization_key=key, connectors=2)
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    try:
        await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
        yield station
    finally:
        await station.close()


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def test_reserve_then_cancel(central: CentralSystem, api_client: httpx.AsyncClient) -> None:
    async with online(central, "RES-1") as station:
        response = await api_client.post(
            "/api/v1/stations/RES-1/reservations",
            json={"connector_id": 2, "id_tag": TAG, "expiry_date": in_minutes(30),
                  "parent_id_tag": "PARENT"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        reservation = response.json()
        assert reservation["state"] == "active" and reservation["detail"] is None
        [sent] = station.journal.calls("received", "ReserveNow")
        assert sent["reservationId"] == reservation["id"]
        assert (sent["connectorId"], sent["idTag"], sent["parentIdTag"]) == (2, TAG, "PARENT")
        await eventually(lambda: station.status(2) == "Reserved")

        listed = await api_client.get("/api/v1/reservations", params={"station_id": "RES-1"})
        assert [r["id"] for r in listed.json()["items"]] == [reservation["id"]]
        got = await api_client.get(f"/api/v1/reservations/{reservation['id']}")
        assert got.json()["state"] == "active"

        cancelled = await api_client.post(f"/api/v1/reservations/{reservation['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert body["reservation"]["state"] == "cancelled"
        assert body["command"]["status"] == "Accepted"
        assert station.journal.calls("received", "CancelReservation") == [
            {"reservationId": reservation["id"]}
        ]
        await eventually(lambda: station.status(2) == "Available")

        again = await api_client.post(f"/api/v1/reservations/{reservation['id']}/cancel")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    missing = await api_client.post("/api/v1/reservations/999999/cancel")
    assert missing.status_code == 404


async def test_reservation_ids_are_unique_across_stations(central: CentralSystem) -> None:
    async with online(central, "RES-A"), online(central, "RES-B"):
        expiry = datetime.now(UTC) + timedelta(minutes=30)
        a = await central.services.reservations.reserve(
            "RES-A", 1, TAG, expiry, requested_by="test"
        )
        b = await central.services.reservations.reserve(
            "RES-B", 1, TAG, expiry, requested_by="test"
        )
    assert a.id != b.id and a.state is b.state is ReservationState.ACTIVE


async def test_a_refused_reservation_is_rejected_with_the_answer(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    async with online(central, "RES-2") as station:
        await station.plug_in(1, EV())
        await eventually(lambda: station.status(1) == "Preparing")
        response = await api_client.post(
            "/api/v1/stations/RES-2/reservations",
            json={"connector_id": 1, "id_tag": TAG, "expiry_date": in_minutes(30)},
        )
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "rejected"
        assert response.json()["detail"] == "station answered Occupied"


async def test_start_transaction_with_the_reservation_uses_it(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    await central.services.tags.put(IdTag(TAG))
    with central.events.subscribe(lambda e: e.type == "reservation.changed") as events:
        async with online(central, "RES-3") as station:
            response = await api_client.post(
                "/api/v1/stations/RES-3/reservations",
                json={"connector_id": 1, "id_tag": TAG, "expiry_date": in_minutes(30)},
            )
            reservation_id = response.json()["id"]
            assert await station.present_tag(TAG, 1) == "Accepted"
            await station.plug_in(1, EV())
            await eventually(lambda: station.transaction_id(1) is not None)
            [start] = station.journal.calls("sent", "StartTransaction")
            assert start["reservationId"] == reservation_id

            async def used() -> dict[str, Any]:
                async with asyncio.timeout(10):
                    while True:
                        got = await api_client.get(f"/api/v1/reservations/{reservation_id}")
                        if got.json()["state"] == "used":
                            return dict(got.json())
                        await asyncio.sleep(0.02)

            body = await used()
            assert body["transaction_id"] == station.transaction_id(1)
        async with asyncio.timeout(5):
            states = [(await events.get()).data["state"] for _ in range(3)]
    assert states == ["requested", "active", "used"]


async def test_the_reserved_tag_starting_on_the_connector_uses_it(
    central: CentralSystem,
) -> None:
    """A station that leaves reservationId out (some firmware does)."""
    async with online(central, "RES-4"):
        expiry = datetime.now(UTC) + timedelta(minutes=30)
        reservations = central.services.reservations
        other = await reservations.reserve("RES-4", 2, "OTHER", expiry, requested_by="test")
        mine = await reservations.reserve("RES-4", 1, TAG, expiry, requested_by="test")
        start = TransactionStart("RES-4", 1, TAG, 0, datetime.now(UTC))
        transaction_id, _ = await central.services.transactions.start(start)
        await reservations.transaction_started(start, transaction_id)
        used = await reservations.get(mine.id)
        assert used.state is ReservationState.USED and used.transaction_id == transaction_id
        assert (await reservations.get(other.id)).state is ReservationState.ACTIVE


async def test_expiry_sweep(start_central: Callable[..., Any]) -> None:
    central: CentralSystem = await start_central(reservation_sweep_interval=0.05)
    async with online(central, "RES-5"):
        reservations = central.services.reservations
        soon = datetime.now(UTC) + timedelta(seconds=1)
        later = datetime.now(UTC) + timedelta(hours=1)
        short = await reservations.reserve("RES-5", 1, TAG, soon, requested_by="test")
        long = await reservations.reserve("RES-5", 2, TAG, later, requested_by="test")
        assert short.state is long.state is ReservationState.ACTIVE

        # the expiry rule, with an injected "now"
        assert await reservations.expire_due(now=soon - timedelta(seconds=0.5)) == []
        # the node's periodic sweep
        async with asyncio.timeout(10):
            while (await reservations.get(short.id)).state is not ReservationState.EXPIRED:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert (await reservations.get(long.id)).state is ReservationState.ACTIVE
        assert [r.id for r in await reservations.expire_due(now=later)] == [long.id]


async def test_bad_requests_store_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("RES-OFF")
    assert key
    body = {"connector_id": 1, "id_tag": TAG, "expiry_date": in_minutes(30)}
    past = {**body, "expiry_date": in_minutes(-1)}
    naive = {**body, "expiry_date": "2030-01-01T00:00:00"}
    long_tag = {**body, "id_tag": "X" * 21}
    for bad in (past, naive, long_tag, {**body, "connector_id": -1}):
        response = await api_client.post("/api/v1/stations/RES-OFF/reservations", json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"]
    assert (
        await api_client.post("/api/v1/stations/NOPE/reservations", json=body)
    ).status_code == 404
    assert (
        await reader_client.post("/api/v1/stations/RES-OFF/reservations", json=body)
    ).status_code == 403
    assert (await api_client.get("/api/v1/reservations")).json()["items"] == []

    offline = await api_client.post("/api/v1/stations/RES-OFF/reservations", json=body)
    assert offline.status_code == 409
    [kept] = (await reader_client.get("/api/v1/reservations")).json()["items"]
    assert kept["state"] == "rejected" and "station offline" in kept["detail"]
