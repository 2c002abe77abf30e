"""Fixtures shared by the whole test suite: real databases, no mocks.

``database_url`` runs a test once on SQLite (a fresh file in ``tmp_path``) and
once on PostgreSQL (``OPENCSMS_TEST_POSTGRES_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``). The PostgreSQL runs are
marked ``postgresql`` (deselect with ``-m "not postgresql"``) and *fail* when
the server is unreachable: a silently skipped backend is an untested backend.

Each pytest session works in a database of its own, created next to the
configured one (``<name>_<pid>``) and dropped at the end, so concurrent test
runs on one server do not trample each other; if the role may not create
databases, the configured database itself is used. Each test starts from an
empty ``public`` schema.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from opencsms.storage import SqlUnitOfWork, create_engine, migrate

POSTGRES_URL_ENV = "OPENCSMS_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

T = TypeVar("T")


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a private loop, leaving pytest-asyncio's loop alone.

    (``asyncio.run`` would reset the thread's current event loop.) Only for
    synchronous fixtures: nothing may be running in this thread.
    """
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coro)


async def _create_session_database(base: URL, name: str) -> bool:
    conn = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()
    return True


async def _drop_session_database(base: URL, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[URL]:
    """The PostgreSQL database of this test session (fails if the server is down)."""
    base = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    name = f"{base.database or 'opencsms'}_{os.getpid()}"
    try:
        own = _run(_create_session_database(base, name))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {base.render_as_string()} is unreachable ({exc!r}); start it "
            f"or set {POSTGRES_URL_ENV}, or deselect with -m 'not postgresql'",
            pytrace=False,
        )
    if not own:
        yield base
        return
    yield base.set(database=name)
    _run(_drop_session_database(base, name))


async def _empty_public_schema(url: URL) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database (no tables, not migrated), one per test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'opencsms.db'}"
    url: URL = request.getfixturevalue("postgres_session_url")
    _run(_empty_public_schema(url))
    return url.render_as_string(hide_password=False)


@pytest.fixture
async def uow(database_url: str) -> AsyncIterator[SqlUnitOfWork]:
    """A started :class:`SqlUnitOfWork` on a migrated database; closed (engine disposed) after."""
    engine = create_engine(database_url)
    await migrate(engine)
    unit = SqlUnitOfWork(engine, owns_engine=True)
    await unit.start()
    try:
        yield unit
    finally:
        await unit.close()
