from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from opencsms.app import CentralSystem
from opencsms.config import Settings

CentralFactory = Callable[..., Awaitable[CentralSystem]]


def test_settings(data_dir: Path, database_url: str | None = None, **overrides: object) -> Settings:
    options: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "ocpp_port": 0,
        "key_hash_cost": 10,
        "response_timeout": 5.0,
    }
    options.update(overrides)
    return Settings(**options)  # type: ignore[arg-type]


@pytest.fixture
async def start_central(tmp_path: Path) -> AsyncIterator[CentralFactory]:
    """Start central systems on a shared data dir; all are stopped at the end."""
    started: list[CentralSystem] = []

    async def start(database_url: str | None = None, **overrides: object) -> CentralSystem:
        central = CentralSystem(test_settings(tmp_path / "data", database_url, **overrides))
        await central.start()
        started.append(central)
        return central

    yield start
    for central in started:
        await central.stop()


@pytest.fixture
async def central(start_central: CentralFactory) -> CentralSystem:
    """A central system on SQLite (the embedded default)."""
    return await start_central()
