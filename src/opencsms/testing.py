"""Helpers for tests and benchmarks that run the real thing on 127.0.0.1.

Shipped in the package (as httpx and trio do) so the test suite, the
benchmarks and downstream projects share one version of these chores.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from opencsms.domain.model import ApiRole

if TYPE_CHECKING:
    from opencsms.app import Services


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a subprocess to bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(
    port: int, *, alive: Callable[[], bool] = lambda: True, within: float = 30.0
) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``.

    ``alive`` tells whether the process expected to listen is still running,
    so a server that dies at start fails fast instead of timing out.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if not alive():
            raise RuntimeError(f"the server meant to listen on {port} exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listening on {port} after {within} s")


def basic_authorization(username: str, password: str | bytes) -> str:
    """An HTTP Basic ``Authorization`` header value; a bytes password is sent as is."""
    raw = password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(username.encode() + b":" + raw).decode()


async def create_api_key(
    services: Services, role: ApiRole | str = ApiRole.ADMIN, name: str | None = None
) -> str:
    """A new operator API key (the bearer token) with ``role``, as
    ``opencsms apikeys create`` would make it."""
    role = ApiRole(role)
    created = await services.api_keys.create(name or f"test-{role}", role)
    return created.token
