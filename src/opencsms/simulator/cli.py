"""``opencsms simulate``: run a fleet of simulated stations against a central system.

Zero-setup path: ``opencsms serve`` in one terminal, ``opencsms simulate
--register --stations 50`` in another. ``--register`` writes the stations
(fresh keys) and their id tags straight into the central system's database
and saves the keys file, so the defaults (``wss://127.0.0.1:9000/ocpp``, CA
``./opencsms-data/tls/ca.pem``) just work. Otherwise give ``--keys FILE``
(JSON or CSV ``station_id,key``) or one ``--key`` for every station.

``--processes K`` splits the fleet over K processes (one event loop each);
each child sends a stats snapshot twice a second and the parent merges them
for the display. The clock is sped up by ``--speed``; ``--duration`` is in
simulated seconds.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from opencsms import logs
from opencsms.simulator import report
from opencsms.simulator.fleet import (
    Fleet,
    FleetOptions,
    StationSpec,
    specs_for,
    with_station_ids,
)
from opencsms.simulator.keys import KeysFileError, load_keys
from opencsms.simulator.scenario import DEFAULT, ScenarioError, load
from opencsms.simulator.stats import FleetStats
from opencsms.simulator.timebase import clock_for

console = Console()
errors = Console(stderr=True)
SNAPSHOT_EVERY = 0.5


def simulate(
    url: Annotated[str, typer.Option(help="Central system endpoint (without station id)")] = (
        "wss://127.0.0.1:9000/ocpp"
    ),
    stations: Annotated[
        int | None,
        typer.Option(
            help="Fleet size [default: the scenario's counts, else the keys file, else 50]"
        ),
    ] = None,
    ca: Annotated[Path, typer.Option(help="CA certificate the server is checked against")] = (
        Path("./opencsms-data/tls/ca.pem")
    ),
    keys: Annotated[
        Path | None,
        typer.Option(
            help="Keys file: JSON {id: key} or CSV station_id,key (written by --register)"
        ),
    ] = None,
    key: Annotated[str | None, typer.Option(help="One AuthorizationKey for all stations")] = None,
    scenario: Annotated[Path | None, typer.Option(help="Scenario file (YAML or JSON)")] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Simulated seconds [default: the scenario's, else until Ctrl-C]"),
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    processes: Annotated[int, typer.Option(help="Spread the fleet over K processes")] = 1,
    ramp: Annotated[float, typer.Option(help="Connects started per second (0: all)")] = 200.0,
    prefix: Annotated[str, typer.Option(help="Station ids: <prefix>00001...")] = "SIM",
    register: Annotated[
        bool, typer.Option(help="Register stations and tags in the central system's database first")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="[--register] [env OPENCSMS_DATA_DIR] default ./opencsms-data"),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="[--register] [env OPENCSMS_DATABASE_URL]")
    ] = None,
    load_mode: Annotated[
        bool, typer.Option("--load", help="Load mode: no boot, one CALL outstanding per station")
    ] = False,
    load_rate: Annotated[
        float, typer.Option(help="Load mode: CALLs per second per station (0: closed loop)")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed of arrivals and EVs")] = 1,
    stats_json: Annotated[Path | None, typer.Option(help="Also write the final stats here")] = None,
    log_level: Annotated[str, typer.Option(help="Station library log level")] = "ERROR",
) -> None:
    """Run simulated charging stations (Basic Auth over WSS) and summarise what happened."""
    logs.configure(log_level)
    try:
        plan = load(scenario) if scenario is not None else DEFAULT
    except ScenarioError as exc:
        for problem in exc.problems:
            errors.print(f"[red]error:[/] {problem}", highlight=False)
        raise typer.Exit(2) from None
    count = stations or (len(plan.fleet_models(None)) if scenario else None)
    keyring: dict[str, str] = {}
    if keys is not None and not register:
        try:
            keyring = load_keys(keys)
        except KeysFileError as exc:
            errors.print(f"[red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
    count = count or len(keyring) or 50
    specs = specs_for(count, keyring, plan, prefix, key)
    if register:
        from opencsms.simulator.registration import register_fleet

        target = keys or (data_dir or Path("./opencsms-data")) / "simulator-keys.json"
        specs = register_fleet(specs, plan, target, data_dir, database_url, console)
    elif any(s.key is None for s in specs):
        errors.print("[red]error:[/] no key for some stations: give --keys, --key or --register")
        raise typer.Exit(2)
    if url.startswith("wss://") and not ca.exists():
        errors.print(f"[red]error:[/] CA file {ca} not found (opencsms serve prints its path)")
        raise typer.Exit(2)
    options = FleetOptions(
        url=url,
        ca_file=str(ca),
        scenario=plan,
        ramp=ramp / processes,
        load=load_mode,
        load_rate=load_rate,
        seed=seed,
    )
    run_for = duration if duration is not None else plan.duration
    console.print(
        f"{len(specs)} stations → {url} ({processes} process(es), speed x{speed:g}, "
        f"{'until Ctrl-C' if run_for is None else f'{run_for:g} simulated s'})"
    )
    stats = run_fleet(specs, options, speed, run_for, processes)
    console.print(report.summary(stats))
    if stats_json is not None:
        stats_json.write_text(json.dumps(stats.to_dict(), indent=1))


def run_fleet(
    specs: list[StationSpec],
    options: FleetOptions,
    speed: float,
    duration: float | None,
    processes: int,
    show: bool = True,
) -> FleetStats:
    """Run in this process (K=1) or in K children, with a live display; return the stats."""
    if processes <= 1:
        return _run_loop(_run_here(specs, options, speed, duration, show))
    options = replace(options, scenario=with_station_ids(options.scenario, specs))
    return _run_children(specs, options, speed, duration, processes, show)


def _run_loop(main: Any) -> FleetStats:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)  # type: ignore[no-any-return]
    return uvloop.run(main)  # type: ignore[no-any-return]


async def _run_here(
    specs: list[StationSpec],
    options: FleetOptions,
    speed: float,
    duration: float | None,
    show: bool,
) -> FleetStats:
    fleet = Fleet(specs, options, clock_for(speed))
    runner = asyncio.create_task(fleet.run(duration))
    last, last_at = 0, time.perf_counter()
    with Live(
        report.live(fleet.stats, None),
        console=console,
        refresh_per_second=4,
        transient=True,
        auto_refresh=show,
    ) as display:
        try:
            while not runner.done():
                await asyncio.wait({runner}, timeout=SNAPSHOT_EVERY)
                if runner.done():
                    break
                stats = fleet.snapshot()
                now = time.perf_counter()
                rate = (stats.messages - last) / (now - last_at)
                last, last_at = stats.messages, now
                if show:
                    display.update(report.live(stats, rate))
        except asyncio.CancelledError:  # Ctrl-C: stop the fleet, still show the summary
            return await _stopped(runner, fleet)
    return runner.result()


async def _stopped(runner: asyncio.Task[FleetStats], fleet: Fleet) -> FleetStats:
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return fleet.stats


def _child(
    index: int,
    specs: list[StationSpec],
    options: FleetOptions,
    speed: float,
    duration: float | None,
    out: multiprocessing.Queue[Any],
) -> None:
    """A child process: its share of the fleet, snapshots to the parent's queue."""
    logs.configure("ERROR")

    async def main() -> FleetStats:
        fleet = Fleet(specs, options, clock_for(speed))
        runner = asyncio.create_task(fleet.run(duration))
        try:
            while not runner.done():
                await asyncio.wait({runner}, timeout=SNAPSHOT_EVERY)
                if not runner.done():
                    out.put((index, fleet.snapshot().to_dict(), False))
        except asyncio.CancelledError:
            return await _stopped(runner, fleet)
        return runner.result()

    try:
        stats = _run_loop(main())
    except KeyboardInterrupt:
        stats = FleetStats(stations=len(specs))
    out.put((index, stats.to_dict(), True))


def _run_children(
    specs: list[StationSpec],
    options: FleetOptions,
    speed: float,
    duration: float | None,
    processes: int,
    show: bool,
) -> FleetStats:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[Any] = context.Queue()
    shares = [specs[i::processes] for i in range(processes)]
    children = [
        context.Process(target=_child, args=(i, share, options, speed, duration, out), daemon=True)
        for i, share in enumerate(shares)
    ]
    for child in children:
        child.start()
    latest: dict[int, FleetStats] = {}
    finished: set[int] = set()
    last, last_at = 0, time.perf_counter()

    def merged() -> FleetStats:
        total = FleetStats()
        for stats in latest.values():
            total.merge(stats)
        return total

    with Live(
        report.live(merged(), None),
        console=console,
        refresh_per_second=4,
        transient=True,
        auto_refresh=show,
    ) as display:
        try:
            while len(finished) < processes:
                try:
                    index, data, final = out.get(timeout=SNAPSHOT_EVERY)
                except queue.Empty:
                    if not any(c.is_alive() for c in children):
                        break
                    continue
                latest[index] = FleetStats.from_dict(data)
                if final:
                    finished.add(index)
                total = merged()
                now = time.perf_counter()
                if now - last_at >= SNAPSHOT_EVERY:
                    rate = (total.messages - last) / (now - last_at)
                    last, last_at = total.messages, now
                    if show:
                        display.update(report.live(total, rate))
        except KeyboardInterrupt:  # the children got SIGINT too and report their finals
            deadline = time.monotonic() + 15
            while len(finished) < processes and time.monotonic() < deadline:
                try:
                    index, data, final = out.get(timeout=0.5)
                except queue.Empty:
                    continue
                latest[index] = FleetStats.from_dict(data)
                if final:
                    finished.add(index)
    for child in children:
        child.join(timeout=5)
    return merged()
