"""Serving: /readyz follows the database; plain HTTP only with insecure_plain_ws."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from integration.conftest import CentralFactory, api_client_for
from opencsms.api.server import _bind
from opencsms.domain.model import ApiRole
from opencsms.testing import create_api_key


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_readyz_is_503_while_the_database_does_not_answer(
    start_central: CentralFactory, database_url: str
) -> None:
    central = await start_central(database_url)
    url = make_url(database_url)
    admin = await asyncpg.connect(url.set(drivername="postgresql", database="postgres")
                                  .render_as_string(hide_password=False))  # fmt: skip
    name = url.database

    async def ready() -> int:
        return (await client.get("/readyz")).status_code

    async with api_client_for(central, None) as client:
        assert await ready() == 200
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["detail"] == "database unreachable"
            assert (await client.get("/healthz")).status_code == 200
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await admin.close()
        async with asyncio.timeout(10):  # a pooled connection may fail once more
            while await ready() != 200:  # noqa: ASYNC110 - nothing announces it
                await asyncio.sleep(0.05)


async def test_plain_http_only_when_asked(start_central: CentralFactory) -> None:
    central = await start_central(insecure_plain_ws=True)
    assert central.api_url.startswith("http://")
    token = await create_api_key(central.services, ApiRole.READ_ONLY)
    async with httpx.AsyncClient(
        base_url=central.api_url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        assert (await client.get("/api/v1/stations")).status_code == 200


async def test_stop_closes_the_api(start_central: CentralFactory) -> None:
    central = await start_central()
    url = central.api_url
    async with api_client_for(central, None) as client:
        assert (await client.get("/healthz")).status_code == 200
        await central.stop()
        async with httpx.AsyncClient(base_url=url, verify=False) as fresh:
            try:
                await fresh.get("/healthz")
            except httpx.ConnectError:
                pass
            else:
                raise AssertionError("the API still answers after stop()")


async def test_connections_to_the_api_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the
    listening socket says it is TCP; without it a response body written
    after its headers waited for the client's delayed ACK."""
    listening = _bind("127.0.0.1", 0)
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listening)
    async with server:
        port = listening.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(seen, 5) != 0
        writer.close()
        await writer.wait_closed()
