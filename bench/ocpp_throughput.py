"""OCPP messages per second with full persistence, against a raw echo server.

Run: python bench/ocpp_throughput.py [--stations 50] [--seconds 5] [--database-url URL]

Each server runs in its own process (pinned to CPU 0 when possible); the load
generator runs in this process (CPU 1). Every simulated station keeps one
CALL outstanding, as OCPP requires, over WSS with Basic Auth, sending
MeterValues with two sampled values. opencsms validates, stores and commits
each one before answering. The echo server (bench/echo_server.py) answers
without doing anything: the ratio says how close to the ceiling we are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import uvloop
from websockets.asyncio.client import connect

from opencsms.app import Services
from opencsms.config import Settings
from opencsms.security.tls import client_ssl_context
from opencsms.testing import basic_authorization, free_port, wait_for_port

KEY = "00112233445566778899aabbccddeeff00112233"
HERE = Path(__file__).resolve().parent


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if os.cpu_count() and os.cpu_count() > 1 else []  # type: ignore[operator]


def meter_values(n: int) -> str:
    payload = {
        "connectorId": 1,
        "transactionId": 1,
        "meterValue": [
            {
                "timestamp": f"2026-11-23T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "sampledValue": [
                    {"value": str(n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    }
    return orjson.dumps([2, str(n), "MeterValues", payload]).decode()


async def load(url: str, ca: Path, stations: int, seconds: float) -> tuple[int, list[float]]:
    """Drive ``stations`` connections for ``seconds``; return (answered, latencies)."""
    context = client_ssl_context(ca)
    latencies: list[float] = []
    answered = 0
    deadline = 0.0

    async def one(station_id: str) -> None:
        nonlocal answered
        async with connect(
            f"{url}/{station_id}",
            ssl=context,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": basic_authorization(station_id, KEY)},
            compression=None,
        ) as ws:
            await ready.wait()
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                sent = time.perf_counter()
                await ws.send(meter_values(n))
                await ws.recv()
                latencies.append(time.perf_counter() - sent)
                answered += 1

    ready = asyncio.Event()
    tasks = [asyncio.create_task(one(f"CP{i:05d}")) for i in range(stations)]
    await asyncio.sleep(0.5 + stations * 0.002)  # all connected (auth cached after first)
    deadline = time.perf_counter() + seconds
    ready.set()
    await asyncio.gather(*tasks)
    return answered, latencies


def report(name: str, answered: int, latencies: list[float], seconds: float) -> float:
    rate = answered / seconds
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [0.0] * 99
    print(
        f"{name:<28} {rate:>9.0f} msg/s   p50 {quantiles[49] * 1000:6.2f} ms"
        f"   p99 {quantiles[98] * 1000:6.2f} ms   ({answered} answered)"
    )
    return rate


async def main(stations: int, seconds: float, database_url: str | None, synchronous: str) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="opencsms-bench-"))
    env = {
        **os.environ,
        "OPENCSMS_DATA_DIR": str(data_dir),
        "OPENCSMS_OCPP_HOST": "127.0.0.1",
        "OPENCSMS_KEY_HASH_COST": "8",
        "OPENCSMS_LOG_LEVEL": "WARNING",
        "OPENCSMS_SQLITE_SYNCHRONOUS": synchronous,
    }
    if database_url:
        env["OPENCSMS_DATABASE_URL"] = database_url
    settings = Settings(data_dir=data_dir, database_url=database_url, key_hash_cost=8)
    services = await Services.open(settings)
    for i in range(stations):
        await services.stations.register(f"CP{i:05d}", KEY)
    await services.close()

    print(f"{stations} stations, {seconds:.0f} s each run, MeterValues with 2 samples, WSS")
    print(f"database: {settings.resolved_database_url} (synchronous={synchronous})")

    port = free_port()
    server = subprocess.Popen(
        [*pinned(0), sys.executable, "-m", "opencsms", "serve", "--ocpp-port", str(port)], env=env
    )
    try:
        await wait_for_port(port, alive=lambda: server.poll() is None)
        ca = data_dir / "tls" / "ca.pem"
        answered, latencies = await load(f"wss://localhost:{port}/ocpp", ca, stations, seconds)
        ours = report("opencsms (validate+commit)", answered, latencies, seconds)
    finally:
        server.terminate()
        server.wait()

    port = free_port()
    echo = subprocess.Popen(
        [
            *pinned(0),
            sys.executable,
            str(HERE / "echo_server.py"),
            "--port",
            str(port),
            "--tls-dir",
            str(data_dir / "tls"),
        ],
        env=env,
    )
    try:
        await wait_for_port(port, alive=lambda: echo.poll() is None)
        answered, latencies = await load(f"wss://localhost:{port}/ocpp", ca, stations, seconds)
        ceiling = report("raw echo (ceiling)", answered, latencies, seconds)
    finally:
        echo.terminate()
        echo.wait()
    print(f"ratio opencsms / echo: {ours / ceiling:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--synchronous", default="FULL", help="SQLite PRAGMA synchronous")
    args = parser.parse_args()
    if os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})
    uvloop.run(main(args.stations, args.seconds, args.database_url, args.synchronous))
