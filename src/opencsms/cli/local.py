"""Run a command's work on the local database's services, without a server
(``apikeys`` and ``operators`` make the first credentials this way)."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from opencsms.app import Services
from opencsms.config import Settings

T = TypeVar("T")


def on_local_database(
    data_dir: Path | None, database_url: str | None, work: Callable[[Services], Awaitable[T]]
) -> T:
    """``work(services)`` on the database of ``--data-dir`` / ``--database-url``
    (or their environment variables), closed afterwards."""
    overrides = {"data_dir": data_dir, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]

    async def main() -> T:
        services = await Services.open(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())


def local_user() -> str:
    """Who ran the command, as a security event tells it: the command line
    reaches the database directly, so there is no operator to name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a bare container)
        user = "unknown user"
    return f"{user} on {socket.gethostname()} (command line)"
