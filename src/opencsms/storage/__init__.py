"""Storage: the domain's ports over SQLAlchemy 2 Core, on SQLite or PostgreSQL.

What lives where:

* ``tables.py`` — the tables (one ``MetaData``, named constraints), the
  ``UtcDateTime`` type that always reads back aware UTC datetimes.
* ``database.py`` — :func:`create_engine`: async engines with the SQLite PRAGMAs
  and transaction handling the rest relies on; URL checking.
* ``migrations/`` — Alembic environment and revisions; :func:`migrate` runs them
  from the installed package, no ``alembic.ini`` needed.
* ``rows.py`` — rows to domain dataclasses and back.
* ``repositories.py`` — one class per port, bound to an ``AsyncConnection``;
  :func:`repositories` builds the ``Repositories`` bundle
  (``transaction_repository.py`` holds the transactions one, for size).
* ``unit_of_work.py`` — :class:`SqlUnitOfWork`, the ``UnitOfWork`` with group
  commit (one writer task, one transaction and one fsync per batch).
* ``pending.py`` — the batch's deferred appends (meter values, status,
  events, heartbeats), one executemany per table before the commit.
* ``sqlite_writer.py`` — the writer's synchronous SQLite connection, used on
  the event loop (only BEGIN and COMMIT go to a thread).

Most callers need only :func:`open_storage`.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from opencsms.storage.database import (
    SqliteSynchronous,
    UnsupportedDatabaseURL,
    create_engine,
    normalize_url,
)
from opencsms.storage.migrations import current_revision, head_revision, migrate
from opencsms.storage.repositories import repositories
from opencsms.storage.unit_of_work import SqlUnitOfWork, UnitOfWorkClosed


async def open_storage(
    url: str | URL, sqlite_synchronous: SqliteSynchronous | str = "FULL"
) -> SqlUnitOfWork:
    """Create the engine, migrate to the latest revision, start the writer.

    The returned unit of work owns the engine: ``await uow.close()`` disposes it.
    """
    engine = create_engine(url, sqlite_synchronous=sqlite_synchronous)
    try:
        await migrate(engine)
        uow = SqlUnitOfWork(engine, owns_engine=True)
        await uow.start()
    except BaseException:
        await engine.dispose()
        raise
    return uow


__all__ = [
    "SqlUnitOfWork",
    "SqliteSynchronous",
    "UnitOfWorkClosed",
    "UnsupportedDatabaseURL",
    "create_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "normalize_url",
    "open_storage",
    "repositories",
]
