"""How long the event loop stalls while a big site is planned: inline vs in a thread.

    python bench/planner_stall.py [--cars 200] [--slots 96] [--rounds 2]

Every station socket of a node is served by one event loop, so a plan that
holds the loop delays every station's reply. A 1 ms ticker task measures the
loop's stalls while ``plan_site`` (HiGHS LP) runs on the loop itself and via
``asyncio.to_thread`` (how the live service runs it). HiGHS and NumPy release
the GIL for their heavy parts, so the loop keeps turning in the thread case.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

from opencsms.domain.smart_charging.planner import ChargeRequest
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.site_planner import plan_site

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planner import site_problem


def problem(cars: int, slots: int) -> tuple[list[ChargeRequest], list[Rate], list[Rate]]:
    return site_problem(cars, slots, random.Random(3))


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - started - 0.001)


async def measure(mode: str, args: tuple[list[ChargeRequest], list[Rate], list[Rate]]) -> float:
    requests, price, cap = args
    stalls: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stalls, stop))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    if mode == "inline":
        plan_site(requests, price, [], cap, time_limit_s=60)
    else:
        await asyncio.to_thread(plan_site, requests, price, [], cap, time_limit_s=60)
    took = time.perf_counter() - started
    stop.set()
    await task
    worst = max(stalls)
    print(f"  {mode:6}  plan {took:.2f} s   longest loop stall {worst * 1000:7.1f} ms")
    return worst


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cars", type=int, default=200)
    parser.add_argument("--slots", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    args = problem(options.cars, options.slots)
    print(f"site of {options.cars} cars × {options.slots} quarter-hours")
    inline, thread = [], []
    for _ in range(options.rounds):
        inline.append(await measure("inline", args))
        thread.append(await measure("thread", args))
    print(f"longest stall thread / inline = {max(thread) / max(inline):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
