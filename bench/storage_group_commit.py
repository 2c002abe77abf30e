"""Group commit vs one commit per item, through ``SqlUnitOfWork.run``.

200 concurrent writers each store one MeterValues (two sampled values), in
several rounds, on SQLite (synchronous FULL and NORMAL, WAL) and PostgreSQL.
Three ways, measured in the same run:

* baseline: ``SqlUnitOfWork(max_batch=1)``, i.e. one transaction and one commit
  per item, same code path otherwise;
* group commit: ``SqlUnitOfWork()`` as shipped (optimistic: no savepoints
  unless an item fails);
* the same with one failing writer per round (the batch is rolled back and
  its other items re-run, each in a savepoint);
* the rejected design: a SAVEPOINT around every item, always.

Usage::

    python bench/storage_group_commit.py [--rounds 10] [--writers 200] [--no-postgres]

PostgreSQL: ``OPENCSMS_BENCH_POSTGRES_URL`` (default the test server); the
script works in a database of its own, ``opencsms_bench``, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import URL, make_url

from opencsms.domain.model import MeterValue, SampledValue
from opencsms.domain.ports import Repositories
from opencsms.storage import SqlUnitOfWork, create_engine, migrate, repositories

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BENCH_DB = "opencsms_bench"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
VALUES = [
    MeterValue(
        NOW,
        (
            SampledValue("12345", "Energy.Active.Import.Register", "Wh"),
            SampledValue("7.2", "Power.Active.Import", "kW"),
        ),
    )
]


class _SavepointPerItemUnitOfWork(SqlUnitOfWork):
    """The rejected design: every item in its own SAVEPOINT, always."""

    async def _run_batch(self, conn: Any, items: list[Any]) -> list[Any]:
        repos = repositories(conn)  # immediate writes: what a savepoint can isolate
        outcomes: list[Any] = []
        await conn.begin()
        for item in items:
            try:
                async with conn.begin_nested():
                    outcomes.append((item, True, await item.work(repos)))
            except Exception as exc:
                outcomes.append((item, False, exc))
        await conn.commit()
        return outcomes


async def _measure(uow: SqlUnitOfWork, writers: int, rounds: int, failing: bool = False) -> float:
    def work(i: int) -> Any:
        async def store(r: Repositories) -> int:
            stored = await r.meter_values.add(f"CP-{i}", 1, None, VALUES, NOW)
            if failing and i == writers // 2:
                raise ValueError("one failing writer per round")
            return stored

        return store

    async def one_round() -> None:
        await asyncio.gather(*(uow.run(work(i)) for i in range(writers)), return_exceptions=True)

    await uow.start()
    try:
        await one_round()  # warm-up
        started = time.perf_counter()
        for _ in range(rounds):
            await one_round()
        elapsed = time.perf_counter() - started
    finally:
        await uow.close()
    return writers * rounds / elapsed


async def _bench_backend(label: str, url: str, sync: str, writers: int, rounds: int) -> None:
    figures: dict[str, float] = {}
    batches = 0
    for name, factory, failing in (
        ("one commit per item", lambda e: SqlUnitOfWork(e, max_batch=1), False),
        ("group commit", SqlUnitOfWork, False),
        ("  with 1 failing item/round", SqlUnitOfWork, True),
        ("  savepoint/item (rejected)", _SavepointPerItemUnitOfWork, False),
    ):
        engine = create_engine(url, sqlite_synchronous=sync)
        try:
            await migrate(engine)
            uow = factory(engine)
            figures[name] = await _measure(uow, writers, rounds, failing)
            if name == "group commit":
                batches = uow.batches_committed
        finally:
            await engine.dispose()
    base = figures["one commit per item"]
    items = writers * (rounds + 1)
    print(f"\n{label}  ({writers} writers x {rounds} rounds, MeterValues with 2 samples)")
    for name, rate in figures.items():
        print(f"  {name:<30} {rate:>9,.0f} items/s  x{rate / base:5.1f}")
    print(f"  group commit: {items} items in {batches} batches ({items / batches:.0f} per batch)")


async def _fresh_pg_database(base: URL) -> URL:
    conn = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await conn.close()
    return base.set(database=BENCH_DB)


async def _drop_pg_database(base: URL) -> None:
    conn = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="opencsms-bench-") as tmp:
        for sync in ("FULL", "NORMAL"):
            path = Path(tmp) / f"bench-{sync}.db"
            await _bench_backend(
                f"SQLite synchronous={sync}", f"sqlite:///{path}", sync, args.writers, args.rounds
            )
    if not args.no_postgres:
        base = make_url(os.environ.get("OPENCSMS_BENCH_POSTGRES_URL", DEFAULT_PG))
        url = await _fresh_pg_database(base)
        try:
            await _bench_backend(
                "PostgreSQL",
                url.render_as_string(hide_password=False),
                "FULL",
                args.writers,
                args.rounds,
            )
        finally:
            await _drop_pg_database(base)


if __name__ == "__main__":
    asyncio.run(main())
