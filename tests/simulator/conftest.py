"""A tiny test-only central system over WSS on 127.0.0.1 (the real one is tested elsewhere).

It checks Basic Auth, answers the station's messages with fixed replies,
records what it received per station, and lets a test send CALLs to a
station through the station's server-side :class:`OcppSession`.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from opencsms.chargepoint.clock import FakeClock
from opencsms.ocpp.router import Router
from opencsms.ocpp.session import OcppSession
from opencsms.simulator import ConnectionSettings

KEY = "00112233445566778899aabbccddeeff"
Payload = dict[str, Any]


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait (real time) for state that network round trips will bring about."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polls state no event announces
            await asyncio.sleep(0.01)


class MiniCsms:
    def __init__(self, boot_status: str = "Accepted", interval: int = 300) -> None:
        self.boot_status = boot_status
        self.interval = interval
        self.received: list[tuple[str, str, Payload]] = []
        self.sessions: dict[str, OcppSession] = {}
        self.connections = 0
        self._next_tx = 100
        self._changed = asyncio.Event()
        self.server: Server | None = None
        self.router = Router()
        for action, handler in {
            "BootNotification": self._boot,
            "Heartbeat": self._time,
            "Authorize": self._authorize,
            "StartTransaction": self._start,
            "StopTransaction": self._stop,
        }.items():
            self.router.on(action, handler)
        for action in (
            "StatusNotification",
            "MeterValues",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
        ):
            self.router.on(action, self._empty(action))

    # -- replies ---------------------------------------------------------------

    def _record(self, session: OcppSession, action: str, payload: Payload) -> None:
        self.received.append((session.identity, action, payload))
        self._changed.set()

    async def _boot(self, session: OcppSession, p: Payload) -> Payload:
        self._record(session, "BootNotification", p)
        return {
            "status": self.boot_status,
            "interval": self.interval,
            "currentTime": datetime.now(UTC).isoformat(),
        }

    async def _time(self, session: OcppSession, p: Payload) -> Payload:
        self._record(session, "Heartbeat", p)
        return {"currentTime": datetime.now(UTC).isoformat()}

    async def _authorize(self, session: OcppSession, p: Payload) -> Payload:
        self._record(session, "Authorize", p)
        status = "Blocked" if p["idTag"].startswith("BAD") else "Accepted"
        return {"idTagInfo": {"status": status}}

    async def _start(self, session: OcppSession, p: Payload) -> Payload:
        self._record(session, "StartTransaction", p)
        self._next_tx += 1
        return {"transactionId": self._next_tx, "idTagInfo": {"status": "Accepted"}}

    async def _stop(self, session: OcppSession, p: Payload) -> Payload:
        self._record(session, "StopTransaction", p)
        return {"idTagInfo": {"status": "Accepted"}}

    def _empty(self, action: str) -> Any:
        async def reply(session: OcppSession, p: Payload) -> Payload:
            self._record(session, action, p)
            return {}

        return reply

    # -- queries ----------------------------------------------------------------

    def got(self, action: str, station: str | None = None) -> list[Payload]:
        return [p for s, a, p in self.received if a == action and (station is None or s == station)]

    async def wait_for(self, action: str, count: int = 1, timeout: float = 5.0) -> list[Payload]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(found := self.got(action)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found

    async def call(self, station: str, action: str, payload: Payload) -> Payload:
        return await self.sessions[station].call(action, payload, timeout=5)

    # -- server -------------------------------------------------------------------

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        identity = request.path.rsplit("/", 1)[-1]
        expected = base64.b64encode(f"{identity}:{KEY}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        session = OcppSession(identity, ws, self.router, response_timeout=5)
        self.sessions[identity] = session
        self.connections += 1
        await session.run()

    async def start(self, ssl_context: ssl.SSLContext) -> int:
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=ssl_context,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            process_request=self._check_auth,
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, ca_file


@pytest.fixture
async def csms(
    tls: tuple[ssl.SSLContext, Path],
) -> AsyncIterator[tuple[MiniCsms, ConnectionSettings]]:
    server = MiniCsms()
    port = await server.start(tls[0])
    settings = ConnectionSettings(
        url=f"wss://127.0.0.1:{port}/ocpp", ca_file=str(tls[1]), response_timeout=5
    )
    try:
        yield server, settings
    finally:
        await server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
