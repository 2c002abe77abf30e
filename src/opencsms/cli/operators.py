"""``opencsms operators add | list | passwd | disable | enable``: dashboard operator
accounts, managed locally on the database.

Local on purpose, like ``apikeys``: the first operator can only be made by
someone with access to the server's database. A password is read from
standard input (``--password-stdin``, one line, so it never shows in the
shell history or the process list) or generated and printed once. Bad input
(a malformed name or short password, a name that exists or does not) exits
with code 2 before anything is written.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from opencsms.app import Services
from opencsms.cli.local import on_local_database
from opencsms.cli.options import DatabaseUrl, DataDir
from opencsms.domain.model import ApiRole, Operator
from opencsms.domain.operators import (
    UnknownOperator,
    check_name,
    check_password,
    generate_password,
)

operators_app = typer.Typer(
    help="Dashboard operator accounts (name and password).", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="read the password (one line) from standard input; else one is generated",
    ),
]


def _fail(message: object) -> typer.Exit:
    errors.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password, and whether it was generated (and must be shown)."""
    if not from_stdin:
        return generate_password(), True
    line = sys.stdin.readline()
    password = line.removesuffix("\n").removesuffix("\r")
    try:
        check_password(password)
    except ValueError as exc:
        raise _fail(exc) from None
    return password, False


def _show_generated(name: str, password: str) -> None:
    console.print(f"password for {name!r} (shown only this once):", highlight=False)
    console.print(password, soft_wrap=True, highlight=False)


@operators_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="the login: letters, digits and . _ @ -")],
    role: Annotated[ApiRole, typer.Option(help="admin or read-only")] = ApiRole.ADMIN,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an operator who can log in to the dashboard."""
    try:
        check_name(name)
    except ValueError as exc:
        raise _fail(exc) from None
    password, generated = _password(password_stdin)

    async def work(services: Services) -> Operator:
        return await services.operators.create(name, password, role)

    try:
        operator = on_local_database(data_dir, database_url, work)
    except ValueError as exc:  # OperatorExists among them
        raise _fail(exc) from None
    console.print(f"operator {operator.name!r} ({operator.role}) created", highlight=False)
    if generated:
        _show_generated(name, password)


@operators_app.command("list")
def list_operators(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List operators (no passwords or hashes)."""

    async def work(services: Services) -> list[Operator]:
        return await services.operators.list()

    table = Table("name", "role", "created", "disabled")
    for operator in on_local_database(data_dir, database_url, work):
        created, disabled = _when(operator.created_at), _when(operator.disabled_at)
        table.add_row(operator.name, str(operator.role), created, disabled)
    console.print(table)


@operators_app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="the operator's name")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a new password; the operator's sessions end."""
    password, generated = _password(password_stdin)

    async def work(services: Services) -> None:
        await services.operators.set_password(name, password)

    try:
        on_local_database(data_dir, database_url, work)
    except (UnknownOperator, ValueError) as exc:
        raise _fail(exc.args[0]) from None
    console.print(f"password of {name!r} changed; its sessions ended", highlight=False)
    if generated:
        _show_generated(name, password)


@operators_app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="the operator's name")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Stop an operator from logging in; its sessions end at once."""

    async def work(services: Services) -> None:
        await services.operators.disable(name)

    try:
        on_local_database(data_dir, database_url, work)
    except UnknownOperator as exc:
        raise _fail(exc.args[0]) from None
    console.print(f"operator {name!r} disabled; its sessions ended", highlight=False)


@operators_app.command("enable")
def enable(
    name: Annotated[str, typer.Argument(help="the operator's name")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Let a disabled operator log in again, with the password it had."""

    async def work(services: Services) -> None:
        await services.operators.enable(name)

    try:
        on_local_database(data_dir, database_url, work)
    except UnknownOperator as exc:
        raise _fail(exc.args[0]) from None
    console.print(f"operator {name!r} enabled", highlight=False)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else ""
