"""Options shared by several commands: where the data lives."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="OPENCSMS_DATA_DIR",
        help="SQLite database and certificates (default ./opencsms-data)",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="OPENCSMS_DATABASE_URL", help="SQLAlchemy URL"),
]


def address_in_use(exc: OSError) -> str | None:
    """A sentence for a listener that could not bind because its port is taken
    (another opencsms, say), or None for any other error."""
    if exc.errno != errno.EADDRINUSE:
        return None
    return f"{exc.strerror or exc}: is another server running?"
