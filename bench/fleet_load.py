"""The simulator in load mode against opencsms, and against a raw echo server as the ceiling.

Run: python bench/fleet_load.py --stations 1000 --seconds 60

For each server (``opencsms serve`` with SQLite, then bench/echo_server.py),
started here as a subprocess pinned to CPU 0 while this load generator runs
on CPU 1: register the stations (key hash cost 8), start the server, connect
the whole fleet over WSS with Basic Auth (``--ramp`` connects per second),
then keep one CALL outstanding per station for ``--seconds`` (MeterValues;
every tenth a Heartbeat, every tenth a StatusNotification). Printed per
server: stations connected and the time to connect them all, sustained
answered CALLs per second, p50/p99 round trip per action, and server RSS per
connection (VmRSS after connecting minus before, over the stations). The
ratio opencsms / echo says how close to "Python + websockets + TLS doing
nothing" the central system gets.

Load mode skips BootNotification (stations count as registered before), so
the echo server's ``{}`` replies are acceptable to them; the same load goes
to both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from opencsms import logs
from opencsms.config import Settings
from opencsms.simulator.fleet import (
    Fleet,
    FleetOptions,
    StationSpec,
    specs_for,
)
from opencsms.simulator.registration import register_async
from opencsms.simulator.scenario import DEFAULT
from opencsms.simulator.stats import FleetStats
from opencsms.simulator.timebase import raise_fd_limit
from opencsms.testing import free_port, wait_for_port

HERE = Path(__file__).resolve().parent
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")


def pinned(cpu: int) -> list[str]:
    two = (os.cpu_count() or 1) > 1
    return ["taskset", "-c", str(cpu)] if two and _has("taskset") else []


def _has(program: str) -> bool:
    return any((Path(d) / program).exists() for d in os.environ.get("PATH", "").split(":"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (clock ticks -> seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def drive(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    ca: Path,
    specs: list[StationSpec],
    seconds: float,
    ramp: float,
) -> dict[str, object]:
    server = subprocess.Popen([*pinned(0), *command], env=env)
    try:
        await wait_for_port(port, alive=lambda: server.poll() is None, within=60)
        await asyncio.sleep(0.5)
        before = rss_kib(server.pid)
        scenario = DEFAULT.__class__(measurands=MEASURANDS)
        fleet = Fleet(
            specs,
            FleetOptions(
                url=f"wss://127.0.0.1:{port}/ocpp",
                ca_file=str(ca),
                scenario=scenario,
                load=True,
                ramp=ramp,
                hold_load=True,
            ),
        )
        began = time.perf_counter()
        await fleet.start()
        deadline = began + 300
        while fleet.snapshot().connected < len(specs) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        connect_time = time.perf_counter() - began
        connected = fleet.stats.connected
        await asyncio.sleep(2)  # let the first wave of StatusNotifications pass
        after = rss_kib(server.pid)
        fleet.load_gate.set()
        await asyncio.sleep(2)  # into the steady state
        fleet.stats.latency = {}
        errors_before = fleet.stats.errors
        window_start = time.perf_counter()
        server_cpu, own_cpu = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        await asyncio.sleep(seconds)
        window = time.perf_counter() - window_start
        server_cpu = (cpu_seconds(server.pid) - server_cpu) / window
        own_cpu = (cpu_seconds(os.getpid()) - own_cpu) / window
        measured = FleetStats(latency=dict(fleet.stats.latency))
        answered = sum(h.total for h in measured.latency.values())
        errors = fleet.stats.errors - errors_before
        await fleet.stop()
    finally:
        server.terminate()
        server.wait()
    rate = answered / window
    print(
        f"\n{name}: {connected}/{len(specs)} connected in {connect_time:.1f} s; "
        f"{rate:,.0f} answered CALLs/s over {window:.0f} s ({errors} errors); "
        f"server RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB = "
        f"{(after - before) / max(1, connected):.1f} KiB per connection; "
        f"CPU busy: server {server_cpu:.0%}, load generator {own_cpu:.0%}"
    )
    for action in sorted(measured.latency):
        h = measured.latency[action]
        p50, p99 = h.quantile(0.5) or 0.0, h.quantile(0.99) or 0.0
        print(f"  {action:<20} {h.total:>9,}  p50 {p50 * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms")
    return {
        "rate": rate,
        "connect_time": connect_time,
        "connected": connected,
        "rss_per_conn_kib": (after - before) / max(1, connected),
    }


async def main(stations: int, seconds: float, ramp: float) -> None:
    logs.configure("ERROR")
    raise_fd_limit(stations * 2 + 1024)  # inherited by the servers started below
    data_dir = Path(tempfile.mkdtemp(prefix="opencsms-fleet-bench-"))
    env = {
        **os.environ,
        "OPENCSMS_DATA_DIR": str(data_dir),
        "OPENCSMS_OCPP_HOST": "127.0.0.1",
        "OPENCSMS_KEY_HASH_COST": "8",
        "OPENCSMS_LOG_LEVEL": "ERROR",
    }
    settings = Settings(data_dir=data_dir, key_hash_cost=8)
    specs = await register_async(specs_for(stations, {}, DEFAULT, "LOAD"), [], settings)
    print(
        f"{stations} stations, load mode (one CALL outstanding each), {seconds:.0f} s "
        f"per server, WSS + Basic Auth, ramp {ramp:.0f}/s, SQLite synchronous=FULL"
    )

    port = free_port()
    ours = await drive(
        "opencsms",
        [sys.executable, "-m", "opencsms", "serve", "--ocpp-port", str(port)],
        env,
        port,
        data_dir / "tls" / "ca.pem",
        specs,
        seconds,
        ramp,
    )
    port = free_port()
    echo = await drive(
        "raw echo (ceiling)",
        [
            sys.executable,
            str(HERE / "echo_server.py"),
            "--port",
            str(port),
            "--tls-dir",
            str(data_dir / "tls"),
        ],
        env,
        port,
        data_dir / "tls" / "ca.pem",
        specs,
        seconds,
        ramp,
    )
    print(
        f"\nratio opencsms / echo: throughput {float(ours['rate']) / float(echo['rate']):.2f}, "
        f"connect time {float(ours['connect_time']) / float(echo['connect_time']):.2f}x, "
        f"RSS per connection {float(ours['rss_per_conn_kib']):.1f} vs "
        f"{float(echo['rss_per_conn_kib']):.1f} KiB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ramp", type=float, default=1000.0, help="connects started per second")
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    uvloop.run(main(args.stations, args.seconds, args.ramp))
