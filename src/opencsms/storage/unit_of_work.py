"""Group commit: many stations' writes, one database transaction, one fsync.

Every OCPP message that changes state must be durable before it is answered
(``UnitOfWork.run`` returns only after the commit). One commit per message
would cap a CSMS at the disk's fsync rate, a few hundred per second; with
group commit the cost of a commit is shared by every message that arrived
while the previous commit was running.

How: :meth:`SqlUnitOfWork.run` puts ``(work, future)`` on a queue and awaits
the future. One writer task takes everything queued (up to ``max_batch``),
runs each item's ``work`` in turn in the same transaction, commits once and
resolves every future. No timer: batches form by themselves under load and a
lone message is committed at once.

What a batch costs: the hot uplink writes (meter values, status history and
current status, station events, heartbeats' ``last_seen_at``) are not sent
item by item but collected and sent with one executemany per table just
before the commit (``pending.py``; reads of the same table flush first, so
read-your-writes holds), and meter values are linked to our transactions with
one query per batch. On SQLite the writer's statements run on a synchronous
connection in the event loop and only BEGIN and COMMIT go to a thread
(``sqlite_writer.py``). On PostgreSQL asyncpg is truly asynchronous; fewer
statements is what helps there.

Isolation between items, in two passes. First pass, optimistic: every item
runs straight in the batch transaction, no savepoints, appends deferred. If
they all succeed and the deferred rows are written (the normal case) the batch
commits. If one raises, the transaction is rolled back and the deferred rows
dropped, that item keeps its exception and is not run again, and a second pass
re-runs the other items, each inside its own SAVEPOINT and with immediate
writes, so any further failure only rolls back its own item; then the batch
commits. If writing the deferred rows fails, no item is blamed: all of them
are re-run that way, and the item whose row the database refuses fails alone.
A work callable therefore runs at most twice, and twice only in a batch where
something failed: work must confine its effects to the database (the domain
services' closures do: repository calls and clock reads only).

Why not a savepoint per item always (the obvious design, tried first): a
savepoint is two more statements per item, and statements are what a batch
costs. ``bench/storage_group_commit.py`` (200 writers, one MeterValues with
two samples each, 5 rounds; shared 2-CPU VM, noisy; items/s):

==========================  ===========  ========  ===========  ==========
                            SQLite FULL  (before)  PostgreSQL   (before)
==========================  ===========  ========  ===========  ==========
one commit per item               1,320       620          630         530
group commit                     15,600     3,100       19,000       2,800
  with 1 failing item/round       4,000       940          790         780
  savepoint/item (rejected)       5,900     1,000          770         780
==========================  ===========  ========  ===========  ==========

"before": immediate writes, one transaction lookup per MeterValues and, on
SQLite, every statement several hops to aiosqlite's thread (~0.5 ms each).
On PostgreSQL each savepoint has a new name, so asyncpg prepares it afresh.
A batch with a failing item costs about what the savepoint design always
costs. Failures in work are rare (validation happens before), so paying for
them only when they occur wins.

End to end, ``bench/ocpp_throughput.py`` (50 WSS stations, MeterValues,
commit before answering; ratio to a raw echo server in the same run):
SQLite FULL 1,050-1,250 msg/s, p50 32-44 ms (ratio 0.06-0.07) before,
4,300-5,200 msg/s, p50 8-11 ms (0.28-0.32 on a quiet machine) now;
PostgreSQL 820-1,250 msg/s, p50 37-50 ms (0.04-0.06) before, 3,500-3,600
msg/s, p50 14 ms (0.21-0.24) with deferred appends alone, 2,700-4,800 now on
a machine shared with another load test.

Items of a batch run one after the other on one connection, so a later item
reads what an earlier one wrote (a replayed StartTransaction in the same batch
finds the first). If the commit itself fails, every item of the batch gets
that exception: none of them is durable.

Caveats: a ``work`` that never finishes stalls all writes, so work must only
talk to the database. A caller cancelled while its item waits in the queue
is skipped; once its item has run, it is committed anyway (cancelling cannot
un-commit) and the result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opencsms.domain.ports import Work
from opencsms.storage.database import WRITER_OPTION
from opencsms.storage.pending import PendingRows
from opencsms.storage.repositories import repositories
from opencsms.storage.sqlite_writer import SyncWriterConnection, sqlite_writer_engine

T = TypeVar("T")

DEFAULT_MAX_BATCH = 500


@dataclass(slots=True)
class _Item:
    work: Work[Any]
    future: asyncio.Future[Any]


_Outcome = tuple[_Item, bool, Any]
"""(item, succeeded, result or exception)"""


class UnitOfWorkClosed(RuntimeError):
    """``run`` was called before ``start`` or after ``close``."""


class SqlUnitOfWork:
    """:class:`opencsms.domain.ports.UnitOfWork` with group commit over one engine.

    ``owns_engine=True`` makes :meth:`close` dispose the engine as well (as
    :func:`opencsms.storage.open_storage` does); otherwise the engine is the
    caller's.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        owns_engine: bool = False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self._owns_engine = owns_engine
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        # SQLite: the writer's own synchronous connection (see sqlite_writer.py).
        self._sqlite_engine: Engine | None = sqlite_writer_engine(engine)
        self._conn: Any = None  # the writer's connection, kept between batches
        # Counters for tests, benchmarks and /metrics.
        self.batches_committed = 0
        self.items_committed = 0
        self.items_failed = 0
        self.batches_failed = 0
        self.batches_rerun = 0
        self.largest_batch = 0

    async def start(self) -> None:
        """Launch the writer task (in the running event loop)."""
        if self._writer is not None:
            raise RuntimeError("SqlUnitOfWork already started")
        if self._closing:
            raise UnitOfWorkClosed("SqlUnitOfWork is closed")
        self._writer = asyncio.create_task(self._write_loop(), name="opencsms-group-commit")

    async def run(self, work: Work[T]) -> T:
        if self._writer is None or self._closing:
            raise UnitOfWorkClosed("SqlUnitOfWork is not running (start() it first)")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(work, future))
        return await future

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` on a connection of its own; it sees committed data only."""
        async with self.engine.connect() as conn:
            try:
                return await work(repositories(conn))
            finally:
                await conn.rollback()

    async def close(self) -> None:
        """Commit what is queued, stop the writer; dispose the engine if owned."""
        if self._closed:
            return
        self._closing = True
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
        self._closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._writer is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _write_loop(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = await self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self.max_batch and not self._queue.empty():
                    item = self._queue.get_nowait()
                    if item is None:  # close(): commit this batch, then stop
                        stopping = True
                        break
                    batch.append(item)
                await self._commit(batch)
        finally:
            # Only reached early if the writer itself died: fail, don't strand, callers.
            self._closing = True
            while not self._queue.empty():
                leftover = self._queue.get_nowait()
                if leftover is not None and not leftover.future.done():
                    leftover.future.set_exception(UnitOfWorkClosed("group commit writer stopped"))

    async def _commit(self, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # skip callers gone
        if not live:
            return
        try:
            conn = await self._connection()
            try:
                outcomes = await self._run_batch(conn, live)
            except BaseException:
                # After a failed COMMIT, SQLite keeps the transaction open and the
                # pool's reset would not know; never use such a connection again.
                self._conn = None
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
        except BaseException as exc:
            self.batches_failed += 1
            for item in live:
                if item.future.done():
                    continue
                if isinstance(exc, Exception):
                    item.future.set_exception(exc)
                else:
                    item.future.cancel()
            if not isinstance(exc, Exception):
                raise
            return

        self.batches_committed += 1
        self.largest_batch = max(self.largest_batch, len(outcomes))
        for item, ok, value in outcomes:
            if ok:
                self.items_committed += 1
            else:
                self.items_failed += 1
            if item.future.done():
                continue
            if ok:
                item.future.set_result(value)
            else:
                item.future.set_exception(value)
        # Let the resolved callers run before the next batch is taken, so their
        # follow-up writes join it rather than trickling into the one after.
        await asyncio.sleep(0)

    async def _connection(self) -> Any:
        """The writer's connection, opened on first use and after a failure.

        Kept between batches rather than checked out of the pool per batch:
        a checkout and its reset-on-return cost a statement each.
        """
        if self._conn is None:
            if self._sqlite_engine is not None:
                self._conn = await SyncWriterConnection.open(self._sqlite_engine)
            else:
                conn: AsyncConnection = await self.engine.connect()
                await conn.execution_options(**{WRITER_OPTION: True})
                self._conn = conn
        return self._conn

    async def _run_batch(self, conn: Any, items: list[_Item]) -> list[_Outcome]:
        """Run and commit ``items``; see the module docstring for the two passes."""
        pending = PendingRows(conn, deferred=True)
        repos = repositories(conn, pending)
        results: list[Any] = []
        failed: _Item | None = None
        failure: Exception | None = None
        await conn.begin()
        try:
            for item in items:
                try:
                    results.append(await item.work(repos))
                except Exception as exc:
                    # A failed flush of earlier items' rows is nobody's in particular.
                    if pending.flush_error is None:
                        failed, failure = item, exc
                    raise
            await pending.flush()
        except Exception:
            pass
        else:
            await conn.commit()
            return [(item, True, result) for item, result in zip(items, results, strict=True)]

        # Second pass: the pending rows are dropped with the rollback; writes are
        # immediate from now on, so a bad row fails its own item's savepoint.
        await conn.rollback()
        self.batches_rerun += 1
        repos = repositories(conn)
        outcomes: list[_Outcome] = []
        await conn.begin()
        for item in items:
            if item is failed:
                assert failure is not None
                outcomes.append((item, False, failure))
                continue
            if item.future.done():  # caller gave up meanwhile; nothing of it committed
                continue
            try:
                async with conn.begin_nested():
                    result = await item.work(repos)
            except Exception as exc:
                outcomes.append((item, False, exc))
            else:
                outcomes.append((item, True, result))
        await conn.commit()
        return outcomes
