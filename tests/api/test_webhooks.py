"""Webhooks through the API over HTTPS, delivered to a real local receiver."""

from __future__ import annotations

import asyncio
import json

import httpx

from integration.stations import ocpp_station
from opencsms.app import CentralSystem
from opencsms.domain.webhooks import verify_signature
from webhook_receiver import receiver

SECRET = "a-receiver-secret-of-some-length"


async def deliveries(client: httpx.AsyncClient, hook: int, count: int) -> list[dict[str, object]]:
    """The log once ``count`` deliveries are in a final state (bounded wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        log: list[dict[str, object]] = (
            await client.get(f"/api/v1/webhooks/{hook}/deliveries")
        ).json()
        if len([d for d in log if d["state"] != "pending"]) >= count:
            return log
        assert loop.time() < deadline, log
        await asyncio.sleep(0.05)


async def test_a_station_event_reaches_the_receiver_signed_and_logged(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("HOOK1")
    async with receiver() as target:
        created = await api_client.post(
            "/api/v1/webhooks",
            json={"url": target.url, "secret": SECRET, "event_types": ["station.connected"]},
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["secret"] == SECRET and hook["event_types"] == ["station.connected"]

        async with ocpp_station(central, "HOOK1", key):
            (request,) = await target.wait_for(1)
        log = await deliveries(api_client, hook["id"], 1)

    h = request.headers
    assert h["x-opencsms-event"] == "station.connected"
    assert verify_signature(
        SECRET, h["x-opencsms-timestamp"], request.body, h["x-opencsms-signature"]
    )
    body = json.loads(request.body)
    assert (body["type"], body["station_id"], body["data"]) == ("station.connected", "HOOK1", {})
    # station.disconnected is not subscribed to: exactly one delivery
    [entry] = log
    assert entry["state"] == "delivered" and entry["attempts"] == 1
    assert entry["last_status_code"] == 200 and entry["event_id"] == body["id"]
    assert str(entry["id"]) == h["x-opencsms-delivery"]


async def test_create_list_ping_delete(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    async with receiver([500, 204]) as target:
        hook = (await api_client.post("/api/v1/webhooks", json={"url": target.url})).json()
        assert len(hook["secret"]) >= 32  # generated
        listed = (await api_client.get("/api/v1/webhooks")).json()
        assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
        assert (await api_client.get(f"/api/v1/webhooks/{hook['id']}")).json()["url"] == target.url

        failed = (await api_client.post(f"/api/v1/webhooks/{hook['id']}/ping")).json()
        assert failed["event_type"] == "webhook.ping" and failed["state"] == "pending"
        assert failed["last_status_code"] == 500 and failed["last_error"] == "HTTP 500"
        assert failed["next_attempt_at"] is not None
        ok = (await api_client.post(f"/api/v1/webhooks/{hook['id']}/ping")).json()
        assert ok["state"] == "delivered" and ok["last_status_code"] == 204
        first, second = await target.wait_for(2)
    for request in (first, second):
        assert verify_signature(
            hook["secret"],
            request.headers["x-opencsms-timestamp"],
            request.body,
            request.headers["x-opencsms-signature"],
        )
    log = (await api_client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
    assert [d["id"] for d in log] == [ok["id"], failed["id"]]

    assert (await api_client.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await api_client.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await api_client.post(f"/api/v1/webhooks/{hook['id']}/ping")).status_code == 404
    assert (await api_client.get("/api/v1/webhooks")).json() == []
    kept = (await api_client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()
    assert [(d["id"], d["state"]) for d in kept] == [
        (ok["id"], "delivered"),
        (failed["id"], "failed"),
    ]


async def test_bad_webhooks_are_refused_and_nothing_is_stored(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    for body, says in [
        ({"url": "ftp://example.com/x"}, "http(s) URL"),
        ({"url": "https://example.com/x", "secret": "short"}, "secret"),
        ({"url": "https://example.com/x", "event_types": ["nope"]}, "unknown event types"),
        ({}, "url"),
    ]:
        response = await api_client.post("/api/v1/webhooks", json=body)
        assert response.status_code == 422, body
        assert says in response.json()["detail"], response.json()
    assert (await api_client.get("/api/v1/webhooks")).json() == []
    assert (await api_client.get("/api/v1/webhooks/999/deliveries")).status_code == 404


async def test_webhooks_are_for_admins(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    assert (await reader_client.get("/api/v1/webhooks")).status_code == 403
    response = await reader_client.post("/api/v1/webhooks", json={"url": "https://example.com/"})
    assert response.status_code == 403
    assert await central.services.webhooks.list() == []
