"""``simulate --register``: put a simulated fleet into the central system's database.

Each station gets a fresh key (an existing registration gets its key
replaced, so re-running is harmless) and the scenario's id tags are added
as Accepted. Every key is stored as an scrypt hash at the central system's
``key_hash_cost`` (``OPENCSMS_KEY_HASH_COST``, default 14 ≈ 45 ms each):
for thousands of stations set it lower for a load test (e.g. 8), on the
server too. Registrations run 64 at a time so the storage layer can group
their commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from opencsms.app import Services
from opencsms.config import Settings
from opencsms.domain.model import IdTag
from opencsms.domain.ports import StationExists
from opencsms.security.keys import generate_key
from opencsms.simulator.fleet import StationSpec
from opencsms.simulator.keys import write_keys
from opencsms.simulator.scenario import Scenario

BATCH = 64


async def _in_batches(items: list[Awaitable[Any]], advance: Any) -> None:
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        await asyncio.gather(*batch)
        advance(len(batch))


async def register_async(
    specs: list[StationSpec], tags: list[str], settings: Settings, progress: Progress | None = None
) -> list[StationSpec]:
    """Register (or re-key) every station and add the tags; return specs with keys."""
    services = await Services.open(settings)
    fresh = [replace(s, key=s.key or generate_key()) for s in specs]
    task = progress.add_task("registering stations", total=len(fresh)) if progress else None

    async def one(spec: StationSpec) -> None:
        assert spec.key is not None
        try:
            await services.stations.register(spec.identity, spec.key)
        except StationExists:
            await services.stations.set_key(spec.identity, spec.key)

    def advance(n: int, which: Any = task) -> None:
        if progress is not None and which is not None:
            progress.advance(which, n)

    try:
        await _in_batches([one(s) for s in fresh], advance)
        tag_task = progress.add_task("adding id tags", total=len(tags)) if progress else None
        await _in_batches(
            [services.tags.put(IdTag(t)) for t in tags], lambda n: advance(n, tag_task)
        )
    finally:
        await services.close()
    return fresh


def register_fleet(
    specs: list[StationSpec],
    plan: Scenario,
    keys_file: Path,
    data_dir: Path | None,
    database_url: str | None,
    console: Console,
) -> list[StationSpec]:
    overrides = {"data_dir": data_dir, "database_url": database_url}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    tags = plan.tag_ids(sum(s.model.connectors for s in specs))
    with Progress(console=console, transient=True) as progress:
        registered = asyncio.run(register_async(specs, tags, settings, progress))
    write_keys(keys_file, {s.identity: s.key for s in registered if s.key is not None})
    console.print(
        f"registered {len(registered)} stations and {len(tags)} id tags in "
        f"{settings.resolved_database_url} (key hash cost {settings.key_hash_cost}); "
        f"keys in {keys_file}"
    )
    return registered
