"""``opencsms stations | tags | transactions | commands``: operate the fleet
through the REST API (see ``api_client.py`` for remote vs in-process)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from opencsms.cli.api_client import ApiClient, ApiError, Target, open_client
from opencsms.cli.options import DatabaseUrl, DataDir
from opencsms.config import Settings
from opencsms.domain.model import TagStatus

T = TypeVar("T")

stations_app = typer.Typer(
    help="Register, list and inspect charging stations.", no_args_is_help=True
)
tags_app = typer.Typer(help="Manage id tags (RFID cards, app tokens).", no_args_is_help=True)
transactions_app = typer.Typer(
    help="Charging sessions and their meter values.", no_args_is_help=True
)
commands_app = typer.Typer(
    help="Send OCPP commands to stations; read the audit trail.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="OPENCSMS_API_URL",
        help="Operator API of a running server, e.g. https://csms.example:8080 "
        "(default: work in-process on the local database)",
    ),
]
ApiKey = Annotated[
    str | None, typer.Option("--api-key", envvar="OPENCSMS_API_KEY", help="Bearer API key")
]
CaFile = Annotated[
    Path | None,
    typer.Option("--ca-file", envvar="OPENCSMS_API_CA_FILE", help="CA to trust for --api-url"),
]


NO_TARGET = Target(None)  # type: ignore[arg-type]
"""Placeholder default of a command's ``target``: :func:`with_target` always passes one."""

_TARGET_OPTIONS: dict[str, Any] = {
    "data_dir": DataDir,
    "database_url": DatabaseUrl,
    "api_url": ApiUrl,
    "api_key": ApiKey,
    "ca_file": CaFile,
}


def with_target(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command the options that say where the API is (``--data-dir``,
    ``--database-url``, ``--api-url``, ``--api-key``, ``--ca-file``) and pass
    them to it as one ``target``: declared once here, not in every command."""
    hints = typing.get_type_hints(command, include_extras=True)
    kept = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != "target"
    ]
    options = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=hint)
        for name, hint in _TARGET_OPTIONS.items()
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, None) for name in _TARGET_OPTIONS}
        overrides = {"data_dir": given["data_dir"], "database_url": given["database_url"]}
        settings = Settings(**{key: value for key, value in overrides.items() if value})
        target = Target(settings, given["api_url"], given["api_key"], given["ca_file"])
        command(*args, target=target, **kwargs)

    # what Typer reads: the command's own parameters, then the target's options
    run.__signature__ = inspect.Signature(kept + options)  # type: ignore[attr-defined]
    return run


def _call(target: Target, work: Callable[[ApiClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_client(target) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except ApiError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2 if exc.status_code == 422 else 1) from None


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="seconds")


async def _all_pages(client: ApiClient, path: str, params: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    after: str | None = None
    while True:
        _, page = await client.request("GET", path, params={**params, "after": after})
        items.extend(page["items"])
        after = page.get("next_after")
        if not after:
            return items


# -- stations ---------------------------------------------------------------


@stations_app.command("add")
@with_target
def stations_add(
    station_id: str,
    key: Annotated[
        str | None,
        typer.Option(help="AuthorizationKey: 32-40 hex digits or 16-20 characters"),
    ] = None,
    lenient: Annotated[bool, typer.Option(help="Log schema violations and accept")] = False,
    target: Target = NO_TARGET,
) -> None:
    """Register a station and print its AuthorizationKey (shown only this once)."""
    body = {"id": station_id, "authorization_key": key, "lenient": lenient}
    _, created = _call(
        target,
        lambda client: client.request("POST", "/stations", json=body),
    )
    console.print(f"registered {station_id}")
    console.print(f"AuthorizationKey: {created['authorization_key']}")
    console.print("(stored only as a hash: keep it now, it cannot be shown again)")


@stations_app.command("rotate-key")
@with_target
def stations_rotate_key(
    station_id: str,
    key: Annotated[str | None, typer.Option(help="The new key (generated if omitted)")] = None,
    target: Target = NO_TARGET,
) -> None:
    """Give a station a new AuthorizationKey (its next login needs it)."""
    _, created = _call(
        target,
        lambda client: client.request(
            "POST", f"/stations/{station_id}/credentials", json={"authorization_key": key}
        ),
    )
    console.print(f"AuthorizationKey: {created['authorization_key']}")


@stations_app.command("list")
@with_target
def stations_list(
    online: Annotated[
        bool | None, typer.Option("--online/--offline", help="Only online or offline ones")
    ] = None,
    target: Target = NO_TARGET,
) -> None:
    """List registered stations with their presence."""
    stations = _call(
        target,
        lambda client: _all_pages(client, "/stations", {"limit": 1000, "online": online}),
    )
    table = Table(
        "id", "online", "vendor", "model", "firmware", "last boot", "last seen", "lenient"
    )
    for s in stations:
        table.add_row(
            s["id"],
            "[green]yes[/]" if s["online"] else "no",
            s["vendor"] or "",
            s["model"] or "",
            s["firmware_version"] or "",
            _when(s["last_boot_at"]),
            _when(s["last_seen_at"]),
            "yes" if s["lenient"] else "",
        )
    console.print(table)


@stations_app.command("show")
@with_target
def stations_show(
    station_id: str,
    target: Target = NO_TARGET,
) -> None:
    """A station's details and the live status of its connectors."""
    _, s = _call(
        target,
        lambda client: client.request("GET", f"/stations/{station_id}"),
    )
    console.print(f"[bold]{s['id']}[/]  online: {'yes' if s['online'] else 'no'}")
    boot = s.get("boot") or {}
    for label, value in (
        ("vendor", boot.get("vendor")),
        ("model", boot.get("model")),
        ("serial", boot.get("charge_point_serial_number") or boot.get("serial_number")),
        ("firmware", boot.get("firmware_version")),
        ("last boot", _when(s["last_boot_at"])),
        ("last seen", _when(s["last_seen_at"])),
    ):
        if value:
            console.print(f"  {label}: {value}")
    table = Table("connector", "status", "error", "since")
    for c in s["connectors"]:
        table.add_row(str(c["connector_id"]), c["status"], c["error_code"], _when(c["updated_at"]))
    console.print(table)


@stations_app.command("remove")
@with_target
def stations_remove(
    station_id: str,
    target: Target = NO_TARGET,
) -> None:
    """Remove a station's registration (its history stays)."""
    _call(
        target,
        lambda client: client.request("DELETE", f"/stations/{station_id}"),
    )
    console.print(f"removed {station_id}")


# -- id tags ----------------------------------------------------------------


@tags_app.command("add")
@with_target
def tags_add(
    id_tag: str,
    status: Annotated[TagStatus, typer.Option(help="Accepted, Blocked, Expired, Invalid")] = (
        TagStatus.ACCEPTED
    ),
    expiry: Annotated[
        datetime | None, typer.Option(help="Expiry, ISO 8601 (UTC if no offset)")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent id tag (group)")] = None,
    target: Target = NO_TARGET,
) -> None:
    """Add or replace an id tag."""
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    body = {
        "status": status.value,
        "expiry_date": expiry.isoformat() if expiry else None,
        "parent_id_tag": parent,
    }
    _, tag = _call(
        target,
        lambda client: client.request("PUT", f"/tags/{id_tag}", json=body),
    )
    console.print(f"{tag['id_tag']}: {tag['status']}")


@tags_app.command("list")
@with_target
def tags_list(
    target: Target = NO_TARGET,
) -> None:
    """List id tags."""
    tags = _call(
        target,
        lambda client: _all_pages(client, "/tags", {"limit": 1000}),
    )
    table = Table("id tag", "status", "expiry", "parent")
    for tag in tags:
        table.add_row(
            tag["id_tag"], tag["status"], _when(tag["expiry_date"]), tag["parent_id_tag"] or ""
        )
    console.print(table)


def _tag_action(verb: str, id_tag: str, target: Target) -> None:
    method, path = (
        ("DELETE", f"/tags/{id_tag}") if verb == "remove" else ("POST", f"/tags/{id_tag}/{verb}")
    )
    _, tag = _call(target, lambda client: client.request(method, path))
    console.print(f"{id_tag}: {tag['status']}" if tag else f"removed {id_tag}")


@tags_app.command("block")
@with_target
def tags_block(
    id_tag: str,
    target: Target = NO_TARGET,
) -> None:
    """Block an id tag: stations asking about it get Blocked."""
    _tag_action("block", id_tag, target)


@tags_app.command("unblock")
@with_target
def tags_unblock(
    id_tag: str,
    target: Target = NO_TARGET,
) -> None:
    """Accept a blocked id tag again."""
    _tag_action("unblock", id_tag, target)


@tags_app.command("remove")
@with_target
def tags_remove(
    id_tag: str,
    target: Target = NO_TARGET,
) -> None:
    """Remove an id tag: stations asking about it get Invalid."""
    _tag_action("remove", id_tag, target)


# -- transactions -------------------------------------------------------------


@transactions_app.command("list")
@with_target
def transactions_list(
    station: Annotated[str | None, typer.Option(help="Only this station's")] = None,
    tag: Annotated[str | None, typer.Option(help="Only this id tag's")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Started at or after (UTC if no offset)")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Started before (UTC if no offset)")
    ] = None,
    active: Annotated[bool, typer.Option(help="Only sessions still running")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    target: Target = NO_TARGET,
) -> None:
    """Charging sessions, newest first."""
    params = {
        "station_id": station,
        "id_tag": tag,
        "from": _utc(since),
        "to": _utc(until),
        "active": active or None,
        "limit": limit,
    }
    _, page = _call(
        target,
        lambda client: client.request("GET", "/transactions", params=params),
    )
    table = Table("id", "station", "conn", "id tag", "started", "stopped", "kWh", "reason")
    for t in page["items"]:
        energy = (
            f"{(t['meter_stop'] - t['meter_start']) / 1000:.2f}"
            if t["meter_stop"] is not None and not t["meter_anomaly"]
            else ""
        )
        table.add_row(
            str(t["id"]),
            t["station_id"],
            str(t["connector_id"]),
            t["id_tag"],
            _when(t["started_at"]),
            _when(t["stopped_at"]) or "[green]active[/]",
            energy,
            t["stop_reason"] or "",
        )
    console.print(table)


@transactions_app.command("show")
@with_target
def transactions_show(
    transaction_id: int,
    target: Target = NO_TARGET,
) -> None:
    """One session: energy, power now, state and its meter values."""
    _, t = _call(
        target,
        lambda client: client.request("GET", f"/transactions/{transaction_id}"),
    )
    energy = "unknown" if t["energy_wh"] is None else f"{t['energy_wh'] / 1000:.3f} kWh"
    power = "unknown" if t["power_w"] is None else f"{t['power_w'] / 1000:.2f} kW"
    console.print(
        f"[bold]transaction {t['id']}[/] on {t['station_id']} connector {t['connector_id']}, "
        f"id tag {t['id_tag']}"
    )
    console.print(f"  state: {t['state']}  energy: {energy}  power now: {power}")
    console.print(f"  started {_when(t['started_at'])}  stopped {_when(t['stopped_at']) or '-'}")
    table = Table("time", "measurand", "value", "unit", "phase", "context")
    for sample in t["meter_values"][-50:]:
        table.add_row(
            _when(sample["timestamp"]),
            sample["measurand"],
            sample["value"],
            sample["unit"] or "",
            sample["phase"] or "",
            sample["context"] or "",
        )
    console.print(table)


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


# -- commands -----------------------------------------------------------------


@commands_app.command("send")
@with_target
def commands_send(
    station_id: str,
    action: Annotated[str, typer.Argument(help="OCPP 1.6 action, e.g. Reset, UnlockConnector")],
    payload: Annotated[
        str | None, typer.Option("--payload", "-p", help='JSON payload, e.g. \'{"type": "Soft"}\'')
    ] = None,
    queue_ttl: Annotated[
        float | None,
        typer.Option(help="If the station is offline, queue it this many seconds"),
    ] = None,
    target: Target = NO_TARGET,
) -> None:
    """Send a command and print its outcome (or its place in the queue)."""
    try:
        body_payload = json.loads(payload) if payload else {}
    except json.JSONDecodeError as exc:
        errors.print(f"[red]error:[/] --payload is not JSON: {exc}")
        raise typer.Exit(2) from None
    if not isinstance(body_payload, dict):
        errors.print("[red]error:[/] --payload must be a JSON object")
        raise typer.Exit(2)
    body = {"payload": body_payload, "queue_ttl_s": queue_ttl}

    async def send(client: ApiClient) -> Any:
        try:
            return (
                await client.request("POST", f"/stations/{station_id}/commands/{action}", json=body)
            )[1]
        except ApiError as exc:
            if exc.status_code == 409:  # offline: the API's hint names its own field
                raise ApiError(
                    409,
                    f"station {station_id!r} is not connected; "
                    "add --queue-ttl SECONDS to queue the command",
                ) from None
            raise

    command = _call(target, send)
    _print_command(command)
    if command["state"] not in ("answered", "queued"):
        raise typer.Exit(1)


@commands_app.command("list")
@with_target
def commands_list(
    station: Annotated[str | None, typer.Option(help="Only this station's")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    target: Target = NO_TARGET,
) -> None:
    """The commands' audit trail, newest first."""
    params = {"station_id": station, "action": action, "limit": limit}
    _, page = _call(
        target,
        lambda client: client.request("GET", "/commands", params=params),
    )
    table = Table("id", "station", "action", "state", "status", "by", "created", "error")
    for c in page["items"]:
        table.add_row(
            str(c["id"]),
            c["station_id"],
            c["action"],
            c["state"],
            c["status"] or "",
            c["requested_by"],
            _when(c["created_at"]),
            c["error"] or "",
        )
    console.print(table)


@commands_app.command("show")
@with_target
def commands_show(
    command_id: int,
    target: Target = NO_TARGET,
) -> None:
    """One command with its payload and answer."""
    _, command = _call(
        target,
        lambda client: client.request("GET", f"/commands/{command_id}"),
    )
    _print_command(command)


def _print_command(c: dict[str, Any]) -> None:
    color = {"answered": "green", "queued": "yellow"}.get(c["state"], "red")
    console.print(
        f"command {c['id']}: {c['action']} to {c['station_id']} "
        f"[{color}]{c['state']}[/]" + (f" ({c['status']})" if c.get("status") else "")
    )
    console.print(f"  requested by {c['requested_by']} at {_when(c['created_at'])}")
    console.print(f"  payload: {json.dumps(c['payload'])}")
    if c.get("response") is not None:
        console.print(f"  response: {json.dumps(c['response'])}")
    if c.get("expires_at"):
        console.print(f"  queued until {_when(c['expires_at'])}")
    if c.get("error"):
        console.print(f"  error: {c['error']}")
