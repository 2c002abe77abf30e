"""Options shared by several commands: where the data lives."""

from __future__ import annotations

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
