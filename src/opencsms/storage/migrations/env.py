"""Alembic environment: migrate over the connection given by :func:`migrate`.

Run from the command line (``alembic -x url=... upgrade head`` with a config
whose ``script_location`` is this directory), it builds its own async engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from opencsms.storage.tables import metadata

config = context.config


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    from opencsms.storage.database import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_migrations)
    finally:
        await engine.dispose()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or set sqlalchemy.url")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run_migrations(given)
    else:
        asyncio.run(_run_with_own_engine(_url()))
