"""``opencsms serve | stations | tags | transactions | commands | apikeys | simulate``
and the smart-charging ones (``signals | sites | sessions | savings``, ``plan``).

Flags override ``OPENCSMS_*`` environment variables, which override the
defaults in :mod:`opencsms.config`. The operator commands (``operate.py``)
drive the REST API, of a running server (``--api-url``) or in-process on the
local database (SQLite in WAL mode tolerates a server beside them);
``apikeys`` works on the database directly (it makes the first key).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from opencsms import logs
from opencsms.app import CentralSystem, Services
from opencsms.cli.apikeys import apikeys_app
from opencsms.cli.demo import demo
from opencsms.cli.operate import commands_app, stations_app, tags_app, transactions_app
from opencsms.cli.operators import operators_app
from opencsms.cli.options import DatabaseUrl, DataDir, address_in_use
from opencsms.cli.plan import plan
from opencsms.cli.sites import sites_app
from opencsms.cli.smart_charging import savings, sessions_app, signals_app
from opencsms.config import Settings
from opencsms.simulator.cli import simulate

T = TypeVar("T")

app = typer.Typer(help="opencsms: an OCPP 1.6J central system.", no_args_is_help=True)
app.add_typer(stations_app, name="stations")
app.add_typer(tags_app, name="tags")
app.add_typer(transactions_app, name="transactions")
app.add_typer(commands_app, name="commands")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(operators_app, name="operators")
app.command("simulate")(simulate)
app.command("plan")(plan)
app.add_typer(signals_app, name="signals")
app.add_typer(sites_app, name="sites")
app.add_typer(sessions_app, name="sessions")
app.command("savings")(savings)
app.command("demo")(demo)

console = Console()
errors = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def _run(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        services = await Services.open(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    ocpp_host: Annotated[str | None, typer.Option(help="env OPENCSMS_OCPP_HOST")] = None,
    ocpp_port: Annotated[int | None, typer.Option(help="env OPENCSMS_OCPP_PORT")] = None,
    api_host: Annotated[str | None, typer.Option(help="env OPENCSMS_API_HOST")] = None,
    api_port: Annotated[int | None, typer.Option(help="env OPENCSMS_API_PORT")] = None,
    tls_cert_file: Annotated[Path | None, typer.Option(help="RSA cert chain (PEM)")] = None,
    tls_key_file: Annotated[Path | None, typer.Option(help="RSA key (PEM)")] = None,
    tls_ecdsa_cert_file: Annotated[Path | None, typer.Option(help="ECDSA cert chain")] = None,
    tls_ecdsa_key_file: Annotated[Path | None, typer.Option(help="ECDSA key (PEM)")] = None,
    tls13: Annotated[
        bool | None, typer.Option("--tls13/--no-tls13", help="Also offer TLS 1.3")
    ] = None,
    insecure_plain_ws: Annotated[
        bool | None,
        typer.Option("--insecure-plain-ws", help="DEVELOPMENT ONLY: plain ws://, no TLS"),
    ] = None,
    heartbeat_interval: Annotated[int | None, typer.Option(help="Seconds")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING")] = None,
) -> None:
    """Run the central system until interrupted."""
    settings = _settings(
        data_dir=data_dir,
        database_url=database_url,
        ocpp_host=ocpp_host,
        ocpp_port=ocpp_port,
        api_host=api_host,
        api_port=api_port,
        tls_cert_file=tls_cert_file,
        tls_key_file=tls_key_file,
        tls_ecdsa_cert_file=tls_ecdsa_cert_file,
        tls_ecdsa_key_file=tls_ecdsa_key_file,
        tls_enable_1_3=tls13,
        insecure_plain_ws=insecure_plain_ws,
        heartbeat_interval=heartbeat_interval,
        log_level=log_level,
    )
    logs.configure(settings.log_level, settings.log_json)

    async def main() -> None:
        system = CentralSystem(settings)
        await system.start()
        console.print(f"[bold green]opencsms[/] listening on {system.ocpp_url}/<chargePointId>")
        if system.ca_file is not None:
            console.print(f"development CA certificate (trust this in stations): {system.ca_file}")
        console.print(f"operator API on {system.api_url}/api/v1 (OpenAPI: {system.api_url}/docs)")
        console.print(f"dashboard on {system.api_url}/dashboard/ (opencsms operators add NAME)")
        console.print(f"database: {settings.resolved_database_url}")
        try:
            await asyncio.Event().wait()
        finally:
            await system.stop()

    try:
        _run_loop(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if (reason := address_in_use(exc)) is None:
            raise
        errors.print(f"[red]error:[/] {reason}; see --ocpp-port and --api-port", highlight=False)
        raise typer.Exit(2) from None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where available: it must own the loop from the start."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


def main() -> None:  # pragma: no cover
    sys.exit(app())
