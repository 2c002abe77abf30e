"""SIGKILL the server mid-session: every acknowledged message is in the database.

The server runs as a real ``opencsms serve`` process; stations are registered
with the real ``opencsms stations add`` command. Several stations send
MeterValues as fast as the server answers while the process is killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from opencsms.app import Services
from opencsms.config import Settings
from opencsms.domain.ports import Repositories
from opencsms.security.tls import client_ssl_context
from opencsms.testing import basic_authorization, free_port, wait_for_port

from .stations import reply_to

KEY = "00112233445566778899aabbccddeeff00112233"
STATIONS = 5
T0 = datetime(2026, 11, 23, tzinfo=UTC)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opencsms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


async def station(
    url: str, station_id: str, ca: Path, acked: list[int], stop: asyncio.Event
) -> None:
    """Send MeterValues one after another; record the register value of each one answered."""
    async with connect(
        f"{url}/{station_id}",
        ssl=client_ssl_context(ca),
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers={"Authorization": basic_authorization(station_id, KEY)},
    ) as ws:
        reading = 0
        try:
            while not stop.is_set() or reading < 20:
                reading += 1
                moment = (T0 + timedelta(seconds=reading)).isoformat()
                sample = {"value": str(reading), "unit": "Wh"}
                payload = {
                    "connectorId": 1,
                    "meterValue": [{"timestamp": moment, "sampledValue": [sample]}],
                }
                await ws.send(orjson.dumps([2, f"{reading}", "MeterValues", payload]).decode())
                reply = await reply_to(ws, f"{reading}", within=60)
                assert reply == [3, f"{reading}", {}]
                acked.append(reading)
        except ConnectionClosed:
            return


async def test_every_acknowledged_message_survives_sigkill(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "OPENCSMS_DATA_DIR": str(tmp_path / "data"),
        "OPENCSMS_OCPP_HOST": "127.0.0.1",
        "OPENCSMS_OCPP_PORT": str(port),
        "OPENCSMS_API_HOST": "127.0.0.1",
        "OPENCSMS_API_PORT": "0",
        "OPENCSMS_KEY_HASH_COST": "10",
        "OPENCSMS_LOG_LEVEL": "WARNING",
    }
    for n in range(STATIONS):
        added = cli(env, "stations", "add", f"CP{n}", "--key", KEY)
        assert KEY in added.stdout
    listed = cli(env, "stations", "list").stdout
    assert all(f"CP{n}" in listed for n in range(STATIONS))

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "opencsms",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port, alive=lambda: server.returncode is None)
        ca = tmp_path / "data" / "tls" / "ca.pem"
        acked: dict[str, list[int]] = {f"CP{n}": [] for n in range(STATIONS)}
        stop = asyncio.Event()
        fleet = [
            asyncio.create_task(station(f"wss://localhost:{port}/ocpp", sid, ca, acked[sid], stop))
            for sid in acked
        ]
        async with asyncio.timeout(60):
            while min(len(values) for values in acked.values()) < 20:
                failed = [task for task in fleet if task.done()]
                assert not failed, failed[0].result()  # a station broke off: say why
                await asyncio.sleep(0.05)
        stop.set()
        server.send_signal(signal.SIGKILL)
        await server.wait()
        await asyncio.wait_for(asyncio.gather(*fleet), 10)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    assert server.returncode == -signal.SIGKILL

    services = await Services.open(Settings(data_dir=tmp_path / "data"))
    try:
        for station_id, readings in acked.items():

            async def stored(repos: Repositories, sid: str = station_id) -> list[int]:
                values = await repos.meter_values.for_station(sid, limit=1_000_000)
                return [int(v.sample.value) for v in values]

            in_db = set(await services.uow.read(stored))
            assert readings, station_id
            assert set(readings) <= in_db, f"{station_id} lost acknowledged readings"
    finally:
        await services.close()
