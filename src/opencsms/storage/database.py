"""Async engines for the two supported backends: SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite needs some care to be a correct backend for :class:`SqlUnitOfWork`:

* ``journal_mode=WAL`` so readers (``UnitOfWork.read``) never wait for the writer;
* ``synchronous`` chosen by the operator: ``FULL`` survives power loss after
  every commit, ``NORMAL`` (in WAL mode) may lose the last commits on power loss
  but never corrupts; group commit makes ``FULL`` affordable;
* ``busy_timeout`` so another process (the CLI, a backup) makes us wait, not fail;
* ``foreign_keys=ON``, which SQLite leaves off per connection;
* the sqlite3 driver's "legacy transaction control" is switched off and
  SQLAlchemy emits ``BEGIN`` itself (the documented workaround), because the
  driver otherwise neither begins a transaction before a SAVEPOINT nor around
  DDL, which breaks per-item savepoints and transactional migrations. The group
  commit writer asks for ``BEGIN IMMEDIATE`` (execution option
  :data:`WRITER_OPTION`) so it takes the write lock up front instead of failing
  a read-to-write upgrade half-way through a batch.

In-memory SQLite is refused: its single shared connection would make readers
see, and interfere with, the writer's open transaction.
"""

from __future__ import annotations

import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SqliteSynchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
SQLITE_SYNCHRONOUS_MODES: tuple[str, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")
SQLITE_BUSY_TIMEOUT_MS = 10_000

WRITER_OPTION = "opencsms_writer"
"""Connection execution option: this connection writes (SQLite: ``BEGIN IMMEDIATE``)."""

_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}

_SQLITE_SYNCHRONOUS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
"""The ``synchronous`` mode each SQLite engine made here was created with, so the
group-commit writer's own connection (``sqlite_writer.py``) gets the same."""


class UnsupportedDatabaseURL(ValueError):
    """The URL names a backend or driver opencsms does not support."""


def normalize_url(url: str | URL) -> URL:
    """Check ``url`` and fill in the async driver (``sqlite://`` → ``sqlite+aiosqlite://``)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # ArgumentError, ValueError: both mean "not a URL"
        raise UnsupportedDatabaseURL(f"not a database URL: {url!r}") from exc
    backend = "postgresql" if parsed.get_backend_name() == "postgres" else parsed.get_backend_name()
    driver = _DRIVERS.get(backend)
    if driver is None:
        raise UnsupportedDatabaseURL(
            f"unsupported database {parsed.render_as_string(hide_password=True)!r}: use "
            "sqlite+aiosqlite:///path/to/opencsms.db or postgresql+asyncpg://user@host/db"
        )
    given = parsed.get_driver_name() if "+" in parsed.drivername else None
    if given not in (None, driver):
        raise UnsupportedDatabaseURL(
            f"unsupported driver {given!r} for {backend}: opencsms uses {backend}+{driver}"
        )
    parsed = parsed.set(drivername=f"{backend}+{driver}")
    if backend == "sqlite":
        database = parsed.database or ""
        if (
            database in ("", ":memory:")
            or "mode=memory" in database
            or parsed.query.get("mode") == "memory"
        ):
            raise UnsupportedDatabaseURL(
                "in-memory SQLite is not supported (readers would share the writer's "
                "connection); use a file, e.g. sqlite+aiosqlite:///./opencsms.db"
            )
    return parsed


def create_engine(
    url: str | URL, *, sqlite_synchronous: SqliteSynchronous | str = "FULL", **kwargs: Any
) -> AsyncEngine:
    """Create an async engine for ``url``; extra ``kwargs`` go to SQLAlchemy.

    For SQLite the database file's parent directory is created and the PRAGMAs
    described in the module docstring are set on every new connection.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, **kwargs)

    synchronous = sqlite_synchronous.upper()
    if synchronous not in SQLITE_SYNCHRONOUS_MODES:
        raise ValueError(
            f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}, "
            f"not {sqlite_synchronous!r}"
        )
    database = parsed.database or ""
    if not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    engine = create_async_engine(parsed, **kwargs)
    install_sqlite_hooks(engine.sync_engine, synchronous)
    return engine


def sqlite_synchronous_of(engine: AsyncEngine) -> str | None:
    """The ``synchronous`` mode of a SQLite engine from :func:`create_engine`, else None."""
    return _SQLITE_SYNCHRONOUS.get(engine.sync_engine)


def install_sqlite_hooks(engine: Engine, synchronous: str) -> None:
    """Set the PRAGMAs on every new connection of ``engine`` and emit BEGIN ourselves."""
    _SQLITE_SYNCHRONOUS[engine] = synchronous

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            _ensure_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITER_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def _ensure_wal(cursor: Any) -> None:
    """Switch to WAL (persistent in the file, so normally a no-op read).

    Switching a new file needs an exclusive lock, and SQLite answers "database
    is locked" at once, ignoring ``busy_timeout``, while another connection (a
    second node starting, a concurrent migration) holds it; so retry for a
    while. This sleeps in the event loop, but only on a fresh file under
    contention, once.
    """
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
