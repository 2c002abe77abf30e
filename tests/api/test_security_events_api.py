"""Security events end to end: a real station logging in over WSS with a
wrong key (and an unknown one) is recorded as ``station.login_failed`` and
shown by ``GET /api/v1/security-events`` (admin only, paged by id)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from integration.conftest import api_client_for
from integration.stations import open_socket
from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole


async def test_wrong_station_keys_are_recorded_and_listed(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("CP1")
    with central.events.subscribe(types={"security.station.login_failed"}) as live:
        for station_id, password in (("CP1", "0" * 40), ("GHOST", key)):
            with pytest.raises(InvalidStatus) as refused:
                await open_socket(central, station_id, password)
            assert refused.value.response.status_code == 401
        # published after the rows are stored (the guard only stops a hang)
        published = [await asyncio.wait_for(live.get(), 10) for _ in range(2)]
    assert {e.station_id for e in published} == {"CP1", "GHOST"}

    response = await api_client.get(
        "/api/v1/security-events", params={"kind": "station.login_failed"}
    )
    assert response.status_code == 200
    events = response.json()
    assert [(e["subject"], e["remote"], e["detail"]) for e in events] == [
        ("GHOST", "127.0.0.1", "unknown station id"),
        ("CP1", "127.0.0.1", "wrong key"),
    ]
    assert key not in response.text and "0" * 40 not in response.text

    await central.services.operators.create("alice", "a long password", ApiRole.ADMIN)
    everything = (await api_client.get("/api/v1/security-events")).json()
    assert [e["kind"] for e in everything] == [
        "operator.created",
        "station.login_failed",
        "station.login_failed",
        "api_key.created",  # the fixtures' two keys
        "api_key.created",
    ]
    page = (
        await api_client.get(
            "/api/v1/security-events", params={"limit": 2, "before_id": everything[0]["id"]}
        )
    ).json()
    assert page == everything[1:3]

    assert (await reader_client.get("/api/v1/security-events")).status_code == 403
    async with api_client_for(central, None) as anonymous:
        assert (await anonymous.get("/api/v1/security-events")).status_code == 401
    assert (await api_client.get("/api/v1/security-events?limit=0")).status_code == 422
