"""Alembic migrations, runnable from the installed package without an ``alembic.ini``.

``script_location`` is this directory, set in code; ``env.py`` uses the
connection handed to it through ``Config.attributes`` (the async-engine
``run_sync`` recipe), so migrating is one call::

    await migrate(engine)

On PostgreSQL a transaction-scoped advisory lock serialises nodes that start at
the same time; on SQLite the migration's ``BEGIN`` already excludes other writers.
The whole upgrade runs in one transaction on both backends.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from opencsms.storage.database import WRITER_OPTION

SCRIPT_LOCATION = Path(__file__).resolve().parent
_PG_MIGRATION_LOCK = 0x6F63_736D_7300  # arbitrary, constant: "ocsms"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` pointing at this package; bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (idempotent)."""
    async with engine.connect() as conn:
        # SQLite: BEGIN IMMEDIATE, so a second process waits (busy_timeout) for the
        # first to finish instead of failing to upgrade its read snapshot.
        await conn.execution_options(**{WRITER_OPTION: True})
        await conn.begin()
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await conn.run_sync(_upgrade, revision)
        await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, ``None`` for an unmigrated database."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


__all__ = ["SCRIPT_LOCATION", "alembic_config", "current_revision", "head_revision", "migrate"]
