"""``opencsms serve | stations ... | tags ...``.

Flags override ``OPENCSMS_*`` environment variables, which override the
defaults in :mod:`opencsms.config`. Administrative commands open the same
database as the server (SQLite in WAL mode tolerates both at once).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from opencsms import logs
from opencsms.app import CentralSystem, Services
from opencsms.cli.apikeys import apikeys_app
from opencsms.config import Settings
from opencsms.domain.model import IdTag, TagStatus
from opencsms.domain.ports import StationExists
from opencsms.security.keys import InvalidKey
from opencsms.simulator.cli import simulate

T = TypeVar("T")

app = typer.Typer(help="opencsms: an OCPP 1.6J central system.", no_args_is_help=True)
stations_app = typer.Typer(help="Register and list charging stations.", no_args_is_help=True)
tags_app = typer.Typer(help="Manage id tags (RFID cards, app tokens).", no_args_is_help=True)
app.add_typer(stations_app, name="stations")
app.add_typer(tags_app, name="tags")
app.add_typer(apikeys_app, name="apikeys")
app.command("simulate")(simulate)

console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="[env OPENCSMS_DATA_DIR] default ./opencsms-data")
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="[env OPENCSMS_DATABASE_URL]")
]


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
    ocpp_host: Annotated[str | None, typer.Option(help="[env OPENCSMS_OCPP_HOST]")] = None,
    ocpp_port: Annotated[int | None, typer.Option(help="[env OPENCSMS_OCPP_PORT]")] = None,
    api_host: Annotated[str | None, typer.Option(help="[env OPENCSMS_API_HOST]")] = None,
    api_port: Annotated[int | None, typer.Option(help="[env OPENCSMS_API_PORT]")] = None,
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
        console.print(f"database: {settings.resolved_database_url}")
        try:
            await asyncio.Event().wait()
        finally:
            await system.stop()

    try:
        _run_loop(main())
    except KeyboardInterrupt:
        pass


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where available: it must own the loop from the start."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


@stations_app.command("add")
def stations_add(
    station_id: str,
    key: Annotated[
        str | None,
        typer.Option(help="AuthorizationKey: 32-40 hex digits or 16-20 characters"),
    ] = None,
    lenient: Annotated[bool, typer.Option(help="Log schema violations and accept")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register a station and print its AuthorizationKey (shown only this once)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)

    async def work(services: Services) -> str:
        clear = await services.stations.register(station_id, key)
        if lenient:
            await services.stations.set_lenient(station_id, True)
        return clear

    try:
        clear = _run(settings, work)
    except InvalidKey as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except StationExists:
        errors.print(f"[red]error:[/] station {station_id!r} is already registered")
        raise typer.Exit(1) from None
    console.print(f"registered {station_id}")
    console.print(f"AuthorizationKey: {clear}")
    console.print("(stored only as a hash: keep it now, it cannot be shown again)")


@stations_app.command("list")
def stations_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List registered stations."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    stations = _run(settings, lambda services: services.stations.list())
    table = Table("id", "vendor", "model", "firmware", "last boot", "last seen", "lenient")
    for station in stations:
        info = station.info
        table.add_row(
            station.id,
            info.vendor if info else "",
            info.model if info else "",
            (info.firmware_version or "") if info else "",
            _when(station.last_boot_at),
            _when(station.last_seen_at),
            "yes" if station.lenient_validation else "",
        )
    console.print(table)


@stations_app.command("remove")
def stations_remove(
    station_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Remove a station's registration (its history stays)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    if not _run(settings, lambda services: services.stations.remove(station_id)):
        errors.print(f"[red]error:[/] no station {station_id!r}")
        raise typer.Exit(1)
    console.print(f"removed {station_id}")


@tags_app.command("add")
def tags_add(
    id_tag: str,
    status: Annotated[TagStatus, typer.Option(help="Accepted, Blocked, Expired, Invalid")] = (
        TagStatus.ACCEPTED
    ),
    expiry: Annotated[
        datetime | None, typer.Option(help="Expiry, ISO 8601 (UTC if no offset)")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent id tag (group)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add or replace an id tag."""
    from datetime import UTC

    if len(id_tag) > 20:
        errors.print("[red]error:[/] an OCPP 1.6 id tag has at most 20 characters")
        raise typer.Exit(2)
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    tag = IdTag(id_tag, status, expiry, parent)
    _run(settings, lambda services: services.tags.put(tag))
    console.print(f"{id_tag}: {status.value}")


@tags_app.command("list")
def tags_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List id tags."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    tags = _run(settings, lambda services: services.tags.list())
    table = Table("id tag", "status", "expiry", "parent")
    for tag in tags:
        table.add_row(tag.id_tag, tag.status.value, _when(tag.expiry_date), tag.parent_id_tag or "")
    console.print(table)


@tags_app.command("block")
def tags_block(id_tag: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Block an id tag: stations asking about it get Blocked."""
    _set_tag_status(id_tag, TagStatus.BLOCKED, data_dir, database_url)


@tags_app.command("unblock")
def tags_unblock(id_tag: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Accept a blocked id tag again."""
    _set_tag_status(id_tag, TagStatus.ACCEPTED, data_dir, database_url)


def _set_tag_status(
    id_tag: str, status: TagStatus, data_dir: Path | None, database_url: str | None
) -> None:
    settings = _settings(data_dir=data_dir, database_url=database_url)
    if not _run(settings, lambda services: services.tags.set_status(id_tag, status)):
        errors.print(f"[red]error:[/] no id tag {id_tag!r}")
        raise typer.Exit(1)
    console.print(f"{id_tag}: {status.value}")


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def main() -> None:  # pragma: no cover
    sys.exit(app())
