"""Migrations: run from the package, idempotent, concurrent-safe, matching tables.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from opencsms.domain.model import Station
from opencsms.storage import (
    create_engine,
    current_revision,
    head_revision,
    migrate,
    open_storage,
)
from opencsms.storage.migrations import SCRIPT_LOCATION
from opencsms.storage.tables import metadata


def _schema_diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migrate_creates_exactly_the_tables_and_is_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await migrate(engine)
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
            tables = await conn.run_sync(_table_names)
    finally:
        await engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}


async def test_concurrent_migrations_do_not_collide(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for engine in engines:
            await engine.dispose()


async def test_restart_keeps_data(database_url: str) -> None:
    uow = await open_storage(database_url, "NORMAL")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await uow.run(lambda r: r.stations.add(Station("CP-1", None, now)))
    await uow.close()

    uow = await open_storage(database_url, "NORMAL")
    try:
        assert await uow.read(lambda r: r.stations.get("CP-1")) == Station("CP-1", None, now)
    finally:
        await uow.close()


def test_migration_files_ship_inside_the_package() -> None:
    import opencsms

    package = Path(opencsms.__file__).resolve().parent
    assert SCRIPT_LOCATION.is_relative_to(package)
    for name in ("env.py", "script.py.mako", "versions/0001_initial.py"):
        assert (SCRIPT_LOCATION / name).is_file(), name
