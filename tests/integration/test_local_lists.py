"""Local authorization lists end to end: API -> SendLocalList / GetLocalListVersion
over WSS to a simulated station; the stored list follows Accepted answers only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.simulator import ConnectionSettings, FakeClock, SimulatedStation

LIST = "/api/v1/stations/LL-1/local-list"


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def online(
    central: CentralSystem, station_id: str, config: dict[str, str] | None = None
) -> AsyncIterator[SimulatedStation]:
    key = await central.services.stations.register(station_id)
    station = SimulatedStation(station_id, clock=FakeClock(), authorization_key=key, config=config)
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    try:
        await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
        yield station
    finally:
        await station.close()


def tags(body: dict[str, Any]) -> dict[str, str | None]:
    return {e["id_tag"]: e["status"] for e in body["entries"]}


async def test_full_then_differential_with_versions_tracked(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    async with online(central, "LL-1") as station:
        empty = await reader_client.get(LIST)
        assert empty.status_code == 200
        assert empty.json() == {"station_id": "LL-1", "version": None, "entries": [],
                                "updated_at": None}  # fmt: skip

        full = await api_client.put(LIST, json={"version": 3, "entries": [
            {"id_tag": "A", "status": "Accepted", "expiry_date": "2031-01-01T00:00:00Z"},
            {"id_tag": "B", "status": "Blocked", "parent_id_tag": "P"},
            {"id_tag": "C", "status": "Accepted"},
        ]})  # fmt: skip
        assert full.status_code == 200, full.text
        body = full.json()
        assert body["accepted"] is True and body["command"]["status"] == "Accepted"
        assert body["local_list"]["version"] == 3
        assert tags(body["local_list"]) == {"A": "Accepted", "B": "Blocked", "C": "Accepted"}
        [sent] = station.journal.calls("received", "SendLocalList")
        assert sent["updateType"] == "Full" and sent["listVersion"] == 3
        assert sent["localAuthorizationList"][0] == {
            "idTag": "A", "idTagInfo": {"status": "Accepted", "expiryDate": "2031-01-01T00:00:00Z"}
        }  # fmt: skip
        assert station.cp.local_list.version == 3

        diff = await api_client.patch(LIST, json={"version": 4, "entries": [
            {"id_tag": "B"},  # no status: remove
            {"id_tag": "C", "status": "Expired"},
            {"id_tag": "D", "status": "Accepted"},
        ]})  # fmt: skip
        assert diff.status_code == 200, diff.text
        assert diff.json()["accepted"] is True
        assert tags(diff.json()["local_list"]) == {"A": "Accepted", "C": "Expired", "D": "Accepted"}
        assert sorted(station.cp.local_list.entries) == ["A", "C", "D"]
        stored = (await reader_client.get(LIST)).json()
        assert stored["version"] == 4 and tags(stored) == tags(diff.json()["local_list"])
        assert stored["entries"][0]["expiry_date"] == "2031-01-01T00:00:00Z"

        version = await reader_client.get(f"{LIST}/version")
        assert version.status_code == 200, version.text
        assert version.json()["station_version"] == 4
        assert version.json()["stored_version"] == 4 and version.json()["in_sync"] is True


async def test_versions_not_above_the_current_one_are_refused(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    async with online(central, "LL-1") as station:
        first = {"version": 5, "entries": [{"id_tag": "A", "status": "Accepted"}]}
        assert (await api_client.put(LIST, json=first)).json()["accepted"] is True
        for version in (5, 4):
            for send in (api_client.put, api_client.patch):
                refused = await send(LIST, json={"version": version, "entries": []})
                assert refused.status_code == 422
                assert "greater than the current version 5" in refused.json()["detail"]
        assert len(station.journal.calls("received", "SendLocalList")) == 1  # nothing sent

        # the station's own list moved on behind our back: it answers VersionMismatch
        station.cp.local_list.update(9, "Full", [], 1000)
        mismatch = await api_client.patch(
            LIST, json={"version": 6, "entries": [{"id_tag": "B", "status": "Accepted"}]}
        )
        assert mismatch.status_code == 200, mismatch.text
        body = mismatch.json()
        assert body["accepted"] is False and body["command"]["status"] == "VersionMismatch"
        assert body["local_list"]["version"] == 5 and tags(body["local_list"]) == {"A": "Accepted"}
        version = (await api_client.get(f"{LIST}/version")).json()
        assert (version["station_version"], version["stored_version"]) == (9, 5)
        assert version["in_sync"] is False
        commands = await central.services.commands.list("LL-1", "SendLocalList")
        assert [c.status for c in commands] == ["VersionMismatch", "Accepted"]


async def test_a_station_without_local_lists_answers_not_supported(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    async with online(central, "LL-1", config={"LocalAuthListEnabled": "false"}):
        response = await api_client.put(LIST, json={"version": 1, "entries": []})
        assert response.status_code == 200
        assert response.json()["accepted"] is False
        assert response.json()["command"]["status"] == "NotSupported"
        assert response.json()["local_list"]["version"] is None
        version = (await api_client.get(f"{LIST}/version")).json()
        assert version["station_version"] == -1


async def test_bad_requests_send_and_store_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    await central.services.stations.register("LL-1")
    bad_bodies: list[tuple[Any, dict[str, Any]]] = [
        (api_client.put, {"version": 1, "entries": [{"id_tag": "A"}]}),  # full needs a status
        (api_client.put, {"version": 0, "entries": []}),
        (api_client.put, {"version": 1, "entries": [{"id_tag": "A", "status": "Nope"}]}),
        (api_client.patch, {"version": 1, "entries": [{"id_tag": "X" * 21}]}),
        (api_client.patch, {"version": 1, "entries": [{"id_tag": "A"}, {"id_tag": "A"}]}),
        (api_client.patch, {"version": 1, "entries": [
            {"id_tag": "A", "status": "Accepted", "expiry_date": "2031-01-01T00:00:00"}]}),
    ]  # fmt: skip
    for send, body in bad_bodies:
        response = await send(LIST, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    ok = {"version": 1, "entries": []}
    assert (await reader_client.put(LIST, json=ok)).status_code == 403
    assert (await api_client.put("/api/v1/stations/NOPE/local-list", json=ok)).status_code == 404
    assert (await api_client.get("/api/v1/stations/NOPE/local-list")).status_code == 404
    assert await central.services.commands.list("LL-1") == []
    offline = await api_client.put(LIST, json=ok)
    assert offline.status_code == 409
    assert (await api_client.get(LIST)).json()["version"] is None
