"""``opencsms demo``: the server, a simulated fleet and a day of signals in one command.

The logic is :mod:`opencsms.demo`; this prints where to look and runs until
Ctrl-C (or SIGTERM), then stops the fleet before the server (so the stations' last
messages are answered rather than refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opencsms import logs
from opencsms.cli.options import address_in_use
from opencsms.demo import Demo, DemoOptions, start_demo

console = Console()
errors = Console(stderr=True)


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The demo's own database and certificates")
    ] = Path("opencsms-demo"),
    stations: Annotated[
        int, typer.Option(min=2, help="Simulated stations (60 % at the depot)")
    ] = 25,
    api_port: Annotated[int, typer.Option(help="Dashboard and REST API (HTTPS)")] = 8080,
    ocpp_port: Annotated[int, typer.Option(help="OCPP WebSocket listener (WSS)")] = 9000,
    seed: Annotated[int, typer.Option(help="Random seed of the cars")] = 1,
    log_level: Annotated[str, typer.Option(help="Server log level")] = "WARNING",
) -> None:
    """Run the server, 25 simulated stations on two sites, prices and CO2; see the dashboard."""
    logs.configure(log_level)
    options = DemoOptions(
        data_dir=data_dir, stations=stations, api_port=api_port, ocpp_port=ocpp_port, seed=seed
    )

    async def main() -> None:
        with console.status("starting the server, the fleet and the signals..."):
            running = await start_demo(options)
        try:
            console.print(welcome(running))
            stopped = asyncio.Event()
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C only
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
            await stopped.wait()
        finally:
            console.print("stopping the fleet, then the server...")
            await running.stop()

    try:
        _run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if (reason := address_in_use(exc)) is None:
            raise
        errors.print(f"[red]error:[/] {reason}; see --ocpp-port and --api-port", highlight=False)
        raise typer.Exit(2) from None
    console.print("[bold]demo stopped[/]; its data stays in " + str(data_dir))


def welcome(running: Demo) -> Table:
    """Where to look and how to log in."""
    name, password = running.login
    table = Table(title="[bold green]opencsms demo is running[/]", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("dashboard", running.dashboard_url)
    table.add_row("login", f"{name} / {password}")
    if running.ca_file is not None:
        table.add_row(
            "certificate",
            f"development CA {running.ca_file}: the browser will warn about the "
            "certificate (trust this CA, or accept the warning for 127.0.0.1)",
        )
    table.add_row("stations", f"{len(running.stations)} simulated, on {running.ocpp_url}/<id>")
    table.add_row("API docs", running.docs_url)
    table.add_row("stop", "Ctrl-C")
    return table


def _run(main: object) -> None:
    """uvloop where available, as ``opencsms serve``."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]
