"""``/metrics`` over HTTPS after a station talked and answered a command."""

from __future__ import annotations

import asyncio

import httpx
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families

from integration.conftest import api_client_for
from integration.stations import ocpp_station
from opencsms.app import CentralSystem

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(central: CentralSystem) -> Samples:
    async with api_client_for(central, None) as anonymous:  # no API key needed
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def frames(direction: str, kind: str, action: str) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {"direction": direction, "kind": kind, "action": action}
    return ("opencsms_ocpp_messages_total", frozenset(labels.items()))


async def test_stations_connected_messages_and_command_outcomes(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("MET1")
    before = await scrape(central)
    assert before[("opencsms_stations_connected", frozenset())] == 0

    async with ocpp_station(central, "MET1", key) as station:
        await station.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        for _ in range(3):
            await station.call(call.Heartbeat())
        # The ocpp ChargePoint has no ClearCache handler: it answers a CALLERROR.
        response = await api_client.post("/api/v1/stations/MET1/commands/ClearCache", json={})
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "error"
        during = await scrape(central)

    assert during[("opencsms_stations_connected", frozenset())] == 1
    assert during[frames("received", "call", "Heartbeat")] == 3
    assert during[frames("sent", "result", "Heartbeat")] == 3
    assert during[frames("received", "call", "BootNotification")] == 1
    assert during[frames("sent", "call", "ClearCache")] == 1
    assert during[frames("received", "error", "ClearCache")] == 1

    state = frozenset({"action": "ClearCache", "state": "error"}.items())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while ("opencsms_commands_total", state) not in (after := await scrape(central)):
        assert loop.time() < deadline, "command.finished never counted"
        await asyncio.sleep(0.05)
    assert after[("opencsms_commands_total", state)] == 1
    latency = frozenset({"action": "ClearCache"}.items())
    assert after[("opencsms_command_latency_seconds_count", latency)] == 1
