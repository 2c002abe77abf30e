"""The live event stream over real HTTPS, fed by simulated stations over WSS."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from integration.conftest import api_client_for
from opencsms.app import CentralSystem
from opencsms.chargepoint.clock import FakeClock
from opencsms.domain.model import IdTag
from opencsms.simulator.fleet import Fleet, FleetOptions, StationSpec
from opencsms.simulator.scenario import Scenario, StationModel, Visit


@dataclass
class Stream:
    """An SSE response read in the background into messages and comments."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            async with self.changed:
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif "data" in fields:
                    self.messages.append(
                        {
                            "sse_id": fields.get("id"),
                            "event": fields.get("event"),
                            **json.loads(fields["data"]),
                        }
                    )
                    fields = {}
                self.changed.notify_all()
        async with self.changed:
            self.ended = True
            self.changed.notify_all()

    async def wait_until(self, condition: Any, within: float = 20.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: condition(self)), within)

    def types(self) -> list[str]:
        return [m["type"] for m in self.messages]


@contextlib.asynccontextmanager
async def stream(client: httpx.AsyncClient, **params: Any) -> AsyncIterator[Stream]:
    async with client.stream("GET", "/api/v1/events", params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reading = Stream()
        task = asyncio.create_task(reading.read(response))
        try:
            yield reading
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task


def fleet_of(central: CentralSystem, keys: dict[str, str], clock: FakeClock) -> Fleet:
    scenario = Scenario(
        meter_interval=60,
        random_sessions=False,
        sessions=tuple(Visit(station=n, arrive=30, leave=3600, tag=f"TAG-{n}") for n in (1, 2)),
    )
    assert central.ca_file is not None
    return Fleet(
        [StationSpec(i, keys[i], StationModel()) for i in keys],
        FleetOptions(
            url=central.ocpp_url,
            ca_file=str(central.ca_file),
            scenario=scenario,
            ramp=0,
            response_timeout=5,
        ),
        clock,
    )


async def test_a_reader_sees_one_stations_status_transactions_and_meter_values(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    keys = {i: await central.services.stations.register(i) for i in ("SSE-A", "SSE-B")}
    for n in (1, 2):
        await central.services.tags.put(IdTag(f"TAG-{n}"))
    fleet = fleet_of(central, keys, FakeClock())
    wanted = ("connector.status", "transaction.started", "meter.values")
    async with (
        stream(reader_client, station_id="SSE-A") as only_a,
        stream(reader_client, type=["transaction.*", "station.connected"]) as lifecycle,
    ):
        await fleet.start()
        try:
            await fleet.settle()
            await fleet.advance(200, step=30)
            await only_a.wait_until(lambda s: all(t in s.types() for t in wanted))
            await lifecycle.wait_until(lambda s: s.types().count("transaction.started") == 2)
        finally:
            await fleet.stop()

    assert {m["station_id"] for m in only_a.messages} == {"SSE-A"}
    assert "station.connected" in only_a.types()
    for message in only_a.messages:
        assert message["event"] == message["type"] and message["sse_id"] == message["id"]
    started = next(m for m in only_a.messages if m["type"] == "transaction.started")
    assert started["data"]["id_tag"] == "TAG-1" and started["data"]["connector_id"] == 1
    transaction = await central.services.transactions.get(started["data"]["transaction_id"])
    assert transaction is not None and transaction.station_id == "SSE-A"
    meter = next(m for m in only_a.messages if m["type"] == "meter.values")
    assert meter["data"]["connector_id"] == 1
    assert meter["data"]["values"][0]["sampled_value"][0]["value"]
    statuses = [m["data"]["status"] for m in only_a.messages if m["type"] == "connector.status"]
    assert "Charging" in statuses or "Preparing" in statuses

    assert set(lifecycle.types()) == {"station.connected", "transaction.started"}
    assert {m["station_id"] for m in lifecycle.messages} == {"SSE-A", "SSE-B"}


async def test_heartbeat_comments_keep_an_idle_stream_alive(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    async with stream(reader_client, heartbeat=1) as idle:
        await idle.wait_until(lambda s: "heartbeat" in s.comments, within=10)
    assert idle.messages == []
    assert idle.comments[0] == "connected"


async def test_the_stream_ends_cleanly_when_the_node_stops(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    async with stream(reader_client) as open_stream:
        await open_stream.wait_until(lambda s: "connected" in s.comments)
        central.events.publish("station.connected", "X", {})
        await open_stream.wait_until(lambda s: len(s.messages) == 1)
        await central.stop()
        # Ended by the server: a complete response, not a cut connection.
        await open_stream.wait_until(lambda s: s.ended, within=4)
    assert central.events.subscribers <= 1  # at most the metrics' own subscription


async def test_bad_filters_and_missing_keys_are_refused(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    response = await reader_client.get("/api/v1/events", params={"type": "nope"})
    assert response.status_code == 422 and "unknown event type" in response.json()["detail"]
    response = await reader_client.get("/api/v1/events", params={"type": "nothing.*"})
    assert response.status_code == 422
    response = await reader_client.get("/api/v1/events", params={"heartbeat": 0})
    assert response.status_code == 422
    async with api_client_for(central, None) as anonymous:
        assert (await anonymous.get("/api/v1/events")).status_code == 401
