from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from opencsms.app import CentralSystem
from opencsms.config import Settings
from opencsms.domain.model import ApiRole
from opencsms.security.tls import client_ssl_context
from opencsms.testing import create_api_key

CentralFactory = Callable[..., Awaitable[CentralSystem]]


def test_settings(data_dir: Path, database_url: str | None = None, **overrides: object) -> Settings:
    options: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "ocpp_host": "127.0.0.1",
        "ocpp_port": 0,
        "api_host": "127.0.0.1",
        "api_port": 0,
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


def api_client_for(central: CentralSystem, token: str | None) -> httpx.AsyncClient:
    """An HTTPS client of ``central``'s API trusting its development CA,
    sending ``token`` as the bearer key (none when None)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    verify: object = True
    if central.ca_file is not None:
        verify = client_ssl_context(central.ca_file)
    return httpx.AsyncClient(
        base_url=central.api_url,
        headers=headers,
        verify=verify,  # type: ignore[arg-type]
        timeout=30.0,
    )


@pytest.fixture
async def api_client(central: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of ``central``'s API, over HTTPS with the dev CA."""
    token = await create_api_key(central.services, ApiRole.ADMIN, "test-admin")
    async with api_client_for(central, token) as client:
        yield client


@pytest.fixture
async def reader_client(central: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    """A read-only client of ``central``'s API."""
    token = await create_api_key(central.services, ApiRole.READ_ONLY, "test-reader")
    async with api_client_for(central, token) as client:
        yield client
