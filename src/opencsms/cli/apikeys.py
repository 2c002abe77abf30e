"""``opencsms apikeys create | list | revoke``: operator API keys, made
locally on the database.

Local on purpose: the API itself needs a key, so the first one can only be
made by someone with access to the server's database (the same trust as
``opencsms stations add``). The key is printed once; only its hash is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opencsms.app import Services
from opencsms.cli.local import local_user, on_local_database
from opencsms.cli.options import DatabaseUrl, DataDir
from opencsms.domain.api_keys import CreatedKey
from opencsms.domain.model import ApiKey, ApiRole

apikeys_app = typer.Typer(help="Operator API keys (bearer tokens).", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@apikeys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="who or what uses the key, e.g. billing")],
    role: Annotated[ApiRole, typer.Option(help="admin or read-only")] = ApiRole.ADMIN,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it (shown only this once)."""

    async def work(services: Services) -> CreatedKey:
        return await services.api_keys.create(name, role, by=local_user())

    try:
        created = on_local_database(data_dir, database_url, work)
    except ValueError as exc:
        errors.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"API key {created.key.id} ({created.key.role}) for {created.key.name!r}:")
    console.print(created.token, soft_wrap=True, highlight=False)
    console.print("Send it as 'Authorization: Bearer <key>'. It is not shown again.")


@apikeys_app.command("list")
def list_keys(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List keys (ids and names; the secrets are not stored)."""

    async def work(services: Services) -> list[ApiKey]:
        return await services.api_keys.list()

    table = Table("id", "name", "role", "created", "last used", "revoked")
    for key in on_local_database(data_dir, database_url, work):
        table.add_row(
            key.id,
            key.name,
            str(key.role),
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    console.print(table)


@apikeys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id, as `apikeys list` shows it")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: requests with it get 401 from then on."""

    async def work(services: Services) -> bool:
        return await services.api_keys.revoke(key_id, by=local_user())

    if not on_local_database(data_dir, database_url, work):
        errors.print(f"[red]error:[/] no active API key {key_id!r}")
        raise typer.Exit(1)
    console.print(f"revoked API key {key_id}")


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else ""
