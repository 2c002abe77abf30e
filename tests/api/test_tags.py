"""Id tags over the API: CRUD, block/unblock (a station is told at once),
bad input 4xx with nothing changed."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from integration.stations import ocpp_station
from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag, TagStatus


async def test_create_read_list_replace_remove(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    created = await api_client.post(
        "/api/v1/tags",
        json={"id_tag": "CARD1", "expiry_date": "2030-01-01T00:00:00Z", "parent_id_tag": "FLEET"},
    )
    assert created.status_code == 201
    assert created.json()["status"] == "Accepted"
    assert (await reader_client.get("/api/v1/tags/CARD1")).json()["parent_id_tag"] == "FLEET"
    duplicate = await api_client.post("/api/v1/tags", json={"id_tag": "CARD1", "status": "Blocked"})
    assert duplicate.status_code == 409
    assert (await central.services.tags.get("CARD1")).status is TagStatus.ACCEPTED  # type: ignore[union-attr]

    replaced = await api_client.put("/api/v1/tags/CARD1", json={"status": "Expired"})
    assert replaced.status_code == 200
    assert await central.services.tags.get("CARD1") == IdTag("CARD1", TagStatus.EXPIRED)

    for n in range(3):
        await central.services.tags.put(IdTag(f"T{n}"))
    page = (await reader_client.get("/api/v1/tags", params={"limit": 2})).json()
    assert [t["id_tag"] for t in page["items"]] == ["CARD1", "T0"]
    rest = (await reader_client.get("/api/v1/tags", params={"after": page["next_after"]})).json()
    assert [t["id_tag"] for t in rest["items"]] == ["T1", "T2"] and rest["next_after"] is None

    assert (await reader_client.delete("/api/v1/tags/CARD1")).status_code == 403
    assert (await api_client.delete("/api/v1/tags/CARD1")).status_code == 204
    assert (await api_client.get("/api/v1/tags/CARD1")).status_code == 404
    assert (await api_client.delete("/api/v1/tags/CARD1")).status_code == 404


async def test_bad_input_changes_nothing(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    for body in (
        {"id_tag": "X" * 21},
        {"id_tag": "has space"},
        {"id_tag": "OK", "status": "Sometimes"},
        {"id_tag": "OK", "expiry_date": "tomorrow"},
        {"id_tag": "OK", "expiry_date": "2030-01-01T00:00:00"},  # no time zone
    ):
        response = await api_client.post("/api/v1/tags", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    assert (await api_client.put("/api/v1/tags/OK", json={"status": "Nope"})).status_code == 422
    assert await central.services.tags.list() == []
    assert (await api_client.post("/api/v1/tags/NOPE/block")).status_code == 404


async def test_block_and_unblock_reach_the_station(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    await api_client.post("/api/v1/tags", json={"id_tag": "CARD2"})
    key = await central.services.stations.register("CP1")
    async with ocpp_station(central, "CP1", key) as station:
        await station.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        answer = await station.call(call.Authorize(id_tag="CARD2"))
        assert answer.id_tag_info["status"] == "Accepted"
        blocked = await api_client.post("/api/v1/tags/CARD2/block")
        assert blocked.status_code == 200 and blocked.json()["status"] == "Blocked"
        answer = await station.call(call.Authorize(id_tag="CARD2"))
        assert answer.id_tag_info["status"] == "Blocked"
        assert (await api_client.post("/api/v1/tags/CARD2/unblock")).json()["status"] == "Accepted"
        answer = await station.call(call.Authorize(id_tag="CARD2"))
        assert answer.id_tag_info["status"] == "Accepted"
