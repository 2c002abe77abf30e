"""Commands over the API end to end: API request -> simulated station over
WSS receives it -> its answer is recorded -> the API shows it; offline 409 or
queued 202 then delivered on connect; bad input 4xx with nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.simulator import ConnectionSettings, FakeClock, SimulatedStation


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


async def connect(central: CentralSystem, station_id: str, key: str) -> SimulatedStation:
    station = SimulatedStation(station_id, clock=FakeClock(), authorization_key=key)
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
    return station


def received(station: SimulatedStation, action: str) -> list[dict[str, Any]]:
    return station.journal.calls("received", action)


async def test_a_command_reaches_the_station_and_its_answer_is_recorded(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    station = await connect(central, "CP1", await central.services.stations.register("CP1"))
    try:
        payload = {"key": "HeartbeatInterval", "value": "600"}
        response = await api_client.post(
            "/api/v1/stations/CP1/commands/ChangeConfiguration", json={"payload": payload}
        )
        assert response.status_code == 200, response.text
        record = response.json()
        assert record["state"] == "answered" and record["status"] == "Accepted"
        assert record["response"] == {"status": "Accepted"}
        assert record["requested_by"] == "apikey:test-admin"
        assert payload in received(station, "ChangeConfiguration")

        shown = (await reader_client.get(f"/api/v1/commands/{record['id']}")).json()
        assert shown == record
        listed = await reader_client.get(
            "/api/v1/commands", params={"station_id": "CP1", "action": "ChangeConfiguration"}
        )
        assert [c["id"] for c in listed.json()["items"]] == [record["id"]]

        forbidden = await reader_client.post(
            "/api/v1/stations/CP1/commands/ClearCache", json={"payload": {}}
        )
        assert forbidden.status_code == 403
        assert received(station, "ClearCache") == []
    finally:
        await station.close()


async def test_offline_station_409_or_queued_then_delivered(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("CP2")
    refused = await api_client.post(
        "/api/v1/stations/CP2/commands/ClearCache", json={"payload": {}}
    )
    assert refused.status_code == 409
    assert refused.json()["command"]["state"] == "failed"
    assert "queue_ttl_s" in refused.json()["detail"]

    queued = await api_client.post(
        "/api/v1/stations/CP2/commands/ClearCache", json={"payload": {}, "queue_ttl_s": 600}
    )
    assert queued.status_code == 202
    command = queued.json()
    assert command["state"] == "queued" and command["expires_at"] is not None

    station = await connect(central, "CP2", key)
    try:

        async def answered() -> dict[str, Any]:
            while True:
                shown = (await api_client.get(f"/api/v1/commands/{command['id']}")).json()
                if shown["state"] not in ("queued", "sent"):
                    return shown
                await asyncio.sleep(0.05)

        async with asyncio.timeout(10):
            shown = await answered()
        assert shown["state"] == "answered" and shown["status"] == "Accepted"
        assert received(station, "ClearCache") == [{}]
    finally:
        await station.close()


async def test_bad_commands_are_refused_and_nothing_is_stored(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    await central.services.stations.register("CP3")
    cases = [
        ("NOPE", "ClearCache", {"payload": {}}, 404),
        ("CP3", "Reset", {"payload": {"type": "Sideways"}}, 422),
        ("CP3", "Reset", {"payload": {}}, 422),
        ("CP3", "NoSuchAction", {"payload": {}}, 422),
        ("CP3", "BootNotification", {"payload": {}}, 422),  # station-initiated
        ("CP3", "ClearCache", {"payload": {}, "queue_ttl_s": 0}, 422),
        ("CP3", "ClearCache", {"payload": {}, "queue_ttl_s": -5}, 422),
        ("CP3", "ClearCache", {"payload": "not an object"}, 422),
    ]
    for station_id, action, body, expected in cases:
        response = await api_client.post(
            f"/api/v1/stations/{station_id}/commands/{action}", json=body
        )
        assert response.status_code == expected, (action, body, response.text)
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert await central.services.commands.list() == []
    assert (await api_client.get("/api/v1/commands/12345")).status_code == 404
