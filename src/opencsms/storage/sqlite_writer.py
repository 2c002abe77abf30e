"""The group-commit writer's SQLite connection: pysqlite, on the event-loop thread.

Why not aiosqlite for the writer: aiosqlite runs every DBAPI call on a thread
of its own and hands the result back through the event loop, and a SQLAlchemy
``execute`` is several such calls. Profiled under ``bench/ocpp_throughput.py``
that was ~0.5 ms per statement, most of it thread hops and GIL hand-overs, on
the very CPU the event loop needs, while the statements themselves (inserts
into the page cache of a database whose write lock we already hold) take
microseconds. So the writer uses a plain synchronous ``sqlite3`` connection
(SQLAlchemy's sync engine, ``check_same_thread=False``) and runs its
statements directly on the loop thread; only what may wait goes to a thread
with :func:`asyncio.to_thread`, so new items keep queuing meanwhile:

* ``BEGIN IMMEDIATE``, which waits (``busy_timeout``) while another process
  such as the CLI holds the write lock;
* ``COMMIT``, the fsync (and, in WAL mode, the occasional checkpoint).

While one of those runs in the thread the writer task is suspended on it, so
the connection is never used from two threads at once.

:class:`SyncWriterConnection` exposes what the repositories and the unit of
work await on an ``AsyncConnection`` (``execute``, ``begin_nested``, ``begin``,
``commit``, ...), so there is one implementation of the repositories for both
kinds of connection. Like ``AsyncConnection.execute``, ``execute`` returns a
buffered result (rows fetched at once), so a result left half-read can never
hold a statement open across an ``await``.

Readers (``UnitOfWork.read``) stay on aiosqlite: a read may scan a lot of
history and must not stall the loop; in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from opencsms.storage.database import WRITER_OPTION, install_sqlite_hooks, sqlite_synchronous_of


def sqlite_writer_engine(engine: AsyncEngine) -> Engine | None:
    """A synchronous pysqlite engine on the same file and with the same PRAGMAs as
    ``engine``, for the writer; ``None`` if ``engine`` is not SQLite."""
    synchronous = sqlite_synchronous_of(engine)
    if engine.dialect.name != "sqlite" or synchronous is None:
        return None
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync_engine = create_sync_engine(
        url, poolclass=NullPool, connect_args={"check_same_thread": False}
    )
    install_sqlite_hooks(sync_engine, synchronous)
    return sync_engine


class SyncWriterConnection:
    """A sync SQLAlchemy ``Connection`` behind the async methods the writer uses."""

    def __init__(self, connection: Connection) -> None:
        self.sync_connection = connection

    @classmethod
    async def open(cls, engine: Engine) -> SyncWriterConnection:
        # Opening sets the PRAGMAs and may wait for the WAL switch: in a thread.
        conn = await asyncio.to_thread(engine.connect)
        conn = conn.execution_options(**{WRITER_OPTION: True})
        return cls(conn)

    @property
    def dialect(self) -> Dialect:
        return self.sync_connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        result = self.sync_connection.execute(statement, parameters)
        if result.returns_rows:
            return result.freeze()()  # buffered, as AsyncConnection.execute's
        return result

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self.sync_connection.begin_nested():
            yield

    async def begin(self) -> None:
        await asyncio.to_thread(self.sync_connection.begin)

    async def commit(self) -> None:
        await asyncio.to_thread(self.sync_connection.commit)

    async def rollback(self) -> None:
        self.sync_connection.rollback()  # WAL: no fsync, nothing to wait for

    async def invalidate(self) -> None:
        self.sync_connection.invalidate()

    async def close(self) -> None:
        self.sync_connection.close()
