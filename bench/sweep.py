"""The smart-charging sweep's reads: every sample, the samples since the plan, a few.

    python bench/sweep.py [--sessions 200] [--hours 12] [--plan-age 30]
                          [--rounds 5] [--database-url URL]

Fills a database (a fresh SQLite file unless ``--database-url``) with
``--sessions`` active sessions, each ``--hours`` of minute samples of three
measurands (energy register, power, current) and a plan made
``--plan-age`` minutes ago. Then times one sweep's reads (the rows
``Replanner.sweep`` works on: group, mode, plan and samples of every active
session) three ways in the same run, alternating over ``--rounds``:

* **full** (the first baseline): ``for_transaction``, every sample of the
  session, and four queries per session;
* **since** (the sweep before): ``for_transaction_since`` from the register
  reading at or before the plan (and 10 minutes back at least), four
  queries per session;
* **around** (the sweep now, ``_sweep_rows``): the register readings
  bracketing the plan and the latest register and power readings
  (``around``), and sites, modes and plans of all sessions, in five queries
  for them all.

Each way also runs the sweep's per-session work on what it read (latest
power reading, power now, metered vs planned energy since the plan), and
the three must give the same figures (checked; energies to 1e-9 kWh, the
sum of many intervals against one). A plan made at plug-in is the worst
case for **since** (``--plan-age`` = ``--hours`` × 60 shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from opencsms.domain.model import TagStatus, TransactionStart
from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.estimates import power_now_w
from opencsms.domain.smart_charging.live_inputs import (
    ACTIVE_LIMIT,
    group_of,
    latest_power_reading,
)
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.records import StoredPlan
from opencsms.domain.smart_charging.replanning import POWER_WINDOW, SweepRow, _sweep_rows
from opencsms.domain.smart_charging.session_view import behind_kwh
from opencsms.storage import SqlUnitOfWork, create_engine, migrate
from opencsms.storage.tables import meter_values

NOW = datetime(2026, 1, 16, 4, tzinfo=UTC)
KW = 7.0


async def full_rows(repos: Repositories) -> list[SweepRow]:
    """The baseline: the sweep's rows as it read them before, every sample."""
    rows: list[SweepRow] = []
    for t in await repos.transactions.list(active_only=True, limit=ACTIVE_LIMIT):
        rows.append(
            (
                await group_of(repos, t.station_id),
                await repos.charging.mode(t.station_id),
                t,
                await repos.charging.latest_plan(t.id),
                await repos.meter_values.for_transaction(t.id),
            )
        )
    return rows


async def since_rows(repos: Repositories) -> list[SweepRow]:
    """The sweep before: four queries per session, samples since the plan."""
    rows: list[SweepRow] = []
    for t in await repos.transactions.list(active_only=True, limit=ACTIVE_LIMIT):
        plan = await repos.charging.latest_plan(t.id)
        since = NOW - POWER_WINDOW if plan is None else min(NOW - POWER_WINDOW, plan.created_at)
        rows.append(
            (
                await group_of(repos, t.station_id),
                await repos.charging.mode(t.station_id),
                t,
                plan,
                await repos.meter_values.for_transaction_since(t.id, since),
            )
        )
    return rows


async def around_rows(repos: Repositories) -> list[SweepRow]:
    return await _sweep_rows(repos, NOW, POWER_WINDOW)


def same(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    """Equal figures, energies to 1e-9 kWh."""
    for (at_a, power_a, (planned_a, metered_a)), (at_b, power_b, (planned_b, metered_b)) in zip(
        a, b, strict=True
    ):  # type: ignore[misc]
        if at_a != at_b or power_a != power_b:
            return False
        if abs(planned_a - planned_b) > 1e-9 or abs(metered_a - metered_b) > 1e-9:
            return False
    return True


def sweep_work(rows: list[SweepRow]) -> list[tuple[object, ...]]:
    """What the sweep computes per session from its samples."""
    figures: list[tuple[object, ...]] = []
    for _, _, transaction, plan, samples in rows:
        assert plan is not None
        figures.append(
            (
                latest_power_reading(samples),
                power_now_w(transaction, samples),
                behind_kwh(transaction, plan, samples),
            )
        )
    return figures


async def fill(url: str, sessions: int, hours: int, plan_age: timedelta) -> SqlUnitOfWork:
    engine = create_engine(url, sqlite_synchronous="OFF")
    await migrate(engine)
    uow = SqlUnitOfWork(engine, owns_engine=True)
    await uow.start()
    started = NOW - timedelta(hours=hours)
    minutes = hours * 60

    async def create(repos: Repositories) -> list[int]:
        ids = []
        for i in range(sessions):
            begin = TransactionStart(f"CP-{i:05d}", 1, "TAG", 0, started)
            ids.append((await repos.transactions.create(begin, TagStatus.ACCEPTED)).id)
        return ids

    ids = await uow.run(create)
    made = NOW - plan_age

    async def plans(repos: Repositories) -> None:
        for i, tx in enumerate(ids):
            segment = Segment(made, NOW + timedelta(hours=2), KW)
            await repos.charging.add_plan(
                StoredPlan(0, tx, f"CP-{i:05d}", 1, made, "bench", "single", (segment,), 14.0)
            )

    await uow.run(plans)
    async with engine.begin() as conn:
        for i, tx in enumerate(ids):
            rows: list[dict[str, Any]] = []
            kw = KW * (0.8 + 0.4 * (i % 5) / 4)  # cars drawing 5.6-8.4 kW: some drift
            for m in range(1, minutes + 1):
                at = started + timedelta(minutes=m)
                common = {
                    "station_id": f"CP-{i:05d}",
                    "connector_id": 1,
                    "transaction_id": tx,
                    "reported_transaction_id": tx,
                    "timestamp": at,
                    "received_at": at,
                    "phase": None,
                    "context": "Sample.Periodic",
                    "location": "Outlet",
                    "format": "Raw",
                }
                for measurand, value, unit in (
                    ("Energy.Active.Import.Register", f"{kw * 1000 * m / 60:.0f}", "Wh"),
                    ("Power.Active.Import", f"{kw * 1000:.0f}", "W"),
                    ("Current.Import", f"{kw * 1000 / 230:.1f}", "A"),
                ):
                    rows.append({**common, "measurand": measurand, "value": value, "unit": unit})
            await conn.execute(insert(meter_values), rows)
    return uow


async def timed(
    uow: SqlUnitOfWork, read: Callable[[Repositories], Awaitable[list[SweepRow]]]
) -> tuple[float, float, int, list[tuple[object, ...]]]:
    """(read s, read + work s, samples read, figures)."""
    started = time.perf_counter()
    rows = await uow.read(read)
    read_s = time.perf_counter() - started
    figures = sweep_work(rows)
    total_s = time.perf_counter() - started
    return read_s, total_s, sum(len(row[4]) for row in rows), figures


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'sweep.db'}"
        plan_age = timedelta(minutes=args.plan_age)
        started = time.perf_counter()
        uow = await fill(url, args.sessions, args.hours, plan_age)
        rows = args.sessions * args.hours * 60 * 3
        print(
            f"{args.sessions} active sessions × {args.hours} h of minute samples × 3 measurands "
            f"= {rows:,} rows ({time.perf_counter() - started:.1f} s to fill), "
            f"plans made {args.plan_age} min ago, {url.split(':')[0]}"
        )
        try:
            ways = {"full": full_rows, "since": since_rows, "around": around_rows}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
            samples: dict[str, int] = {}
            figures: dict[str, list[tuple[object, ...]]] = {}
            for _ in range(args.rounds):
                for name, read in ways.items():
                    read_s, total_s, count, found = await timed(uow, read)
                    results[name].append((read_s, total_s))
                    samples[name], figures[name] = count, found
            for name in ways:
                assert same(figures["full"], figures[name]), f"{name} and full disagree"
        finally:
            await uow.close()
    median: dict[str, tuple[float, float]] = {}
    for name, runs in results.items():
        median[name] = (
            statistics.median(r for r, _ in runs),
            statistics.median(t for _, t in runs),
        )
        read_s, total_s = median[name]
        print(
            f"  {name:6} {samples[name]:>9,} samples read: reads {read_s * 1000:8.1f} ms, "
            f"reads + sweep work {total_s * 1000:8.1f} ms (median of {args.rounds})"
        )
    for name, base in (("since", "full"), ("around", "full"), ("around", "since")):
        print(
            f"  {name} / {base}: reads {median[name][0] / median[base][0]:.3f}, "
            f"reads + work {median[name][1] / median[base][1]:.3f}"
        )
    print("  same figures for every session, every way")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--plan-age", type=int, default=30, help="minutes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
