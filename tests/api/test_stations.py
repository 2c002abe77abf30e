"""Stations over the API: register (key shown once), rotate, list pages with
presence, detail with boot info and live connectors, remove; bad input is a
4xx and changes nothing."""

from __future__ import annotations

import asyncio

import httpx

from integration.stations import ocpp_station
from opencsms.app import CentralSystem
from opencsms.security import keys


async def test_register_returns_a_working_key_once(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    response = await api_client.post("/api/v1/stations", json={"id": "CP1"})
    assert response.status_code == 201
    key = response.json()["authorization_key"]
    stored = await central.services.stations.get("CP1")
    assert stored is not None and stored.auth_key_hash is not None
    assert key not in stored.auth_key_hash
    assert keys.verify_key(stored.auth_key_hash, key.encode())
    detail = (await api_client.get("/api/v1/stations/CP1")).json()
    assert "authorization_key" not in detail and key not in str(detail)

    async with ocpp_station(central, "CP1", key) as station:
        await station.call(_boot())
        detail = (await api_client.get("/api/v1/stations/CP1")).json()
        assert detail["online"] is True
        assert detail["boot"]["vendor"] == "ACME" and detail["vendor"] == "ACME"
        assert detail["last_seen_at"] is not None


async def test_register_with_a_chosen_key_and_lenient(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    chosen = "0123456789abcdef0123456789abcdef"
    response = await api_client.post(
        "/api/v1/stations", json={"id": "CP2", "authorization_key": chosen, "lenient": True}
    )
    assert response.status_code == 201 and response.json()["authorization_key"] == chosen
    assert (await api_client.get("/api/v1/stations/CP2")).json()["lenient"] is True


async def test_bad_registrations_change_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    for body in (
        {"id": "has space"},
        {"id": "x" * 49},
        {"id": ""},
        {},
        {"id": "CP3", "authorization_key": "short"},
    ):
        response = await api_client.post("/api/v1/stations", json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    not_json = await api_client.post(
        "/api/v1/stations", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert await central.services.stations.list() == []

    assert (await api_client.post("/api/v1/stations", json={"id": "CP3"})).status_code == 201
    before = await central.services.stations.get("CP3")
    again = await api_client.post("/api/v1/stations", json={"id": "CP3"})
    assert again.status_code == 409 and "already registered" in again.json()["detail"]
    assert await central.services.stations.get("CP3") == before


async def test_rotate_credentials(central: CentralSystem, api_client: httpx.AsyncClient) -> None:
    old = (await api_client.post("/api/v1/stations", json={"id": "CP4"})).json()
    response = await api_client.post("/api/v1/stations/CP4/credentials")
    assert response.status_code == 200
    new = response.json()["authorization_key"]
    assert new != old["authorization_key"]
    stored = await central.services.stations.get("CP4")
    assert stored is not None and stored.auth_key_hash is not None
    assert keys.verify_key(stored.auth_key_hash, new.encode())
    assert not keys.verify_key(stored.auth_key_hash, old["authorization_key"].encode())

    bad = await api_client.post(
        "/api/v1/stations/CP4/credentials", json={"authorization_key": "short"}
    )
    assert bad.status_code == 422
    assert (await central.services.stations.get("CP4")) == stored
    missing = await api_client.post("/api/v1/stations/NOPE/credentials")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


async def test_list_pages_and_presence(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    ids = [f"P{n:02d}" for n in range(5)]
    keys_by_id = {i: await central.services.stations.register(i) for i in ids}
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if after is not None:
            params["after"] = after
        page = (await api_client.get("/api/v1/stations", params=params)).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == ids and pages == 3

    async with ocpp_station(central, "P03", keys_by_id["P03"]) as station:
        await station.call(_boot())
        online = (await api_client.get("/api/v1/stations", params={"online": True})).json()
        assert [item["id"] for item in online["items"]] == ["P03"]
        offline = (await api_client.get("/api/v1/stations", params={"online": False})).json()
        assert "P03" not in [item["id"] for item in offline["items"]]
    assert (await api_client.get("/api/v1/stations", params={"limit": 0})).status_code == 422


async def test_detail_shows_live_connector_status(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    from ocpp.v16 import call

    key = await central.services.stations.register("CP5")
    async with ocpp_station(central, "CP5", key) as station:
        await station.call(_boot())
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        connectors = (await api_client.get("/api/v1/stations/CP5")).json()["connectors"]
        assert [(c["connector_id"], c["status"]) for c in connectors] == [(1, "Preparing")]
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        connectors = (await api_client.get("/api/v1/stations/CP5")).json()["connectors"]
        assert connectors[0]["status"] == "Charging"
    assert (await api_client.get("/api/v1/stations/NOPE")).status_code == 404


async def test_remove(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    await central.services.stations.register("CP6")
    assert (await reader_client.delete("/api/v1/stations/CP6")).status_code == 403
    assert await central.services.stations.get("CP6") is not None
    assert (await api_client.delete("/api/v1/stations/CP6")).status_code == 204
    assert await central.services.stations.get("CP6") is None
    assert (await api_client.delete("/api/v1/stations/CP6")).status_code == 404


async def test_remove_closes_the_open_connection(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("CP8")
    async with ocpp_station(central, "CP8", key) as station:
        await station.call(_boot())
        assert central.registry.get("CP8") is not None
        assert (await api_client.delete("/api/v1/stations/CP8")).status_code == 204
        async with asyncio.timeout(5):
            await station._connection.wait_closed()
        assert station._connection.close_code == 4001
        assert central.registry.get("CP8") is None


def _boot() -> object:
    from ocpp.v16 import call

    return call.BootNotification(charge_point_vendor="ACME", charge_point_model="M1")
