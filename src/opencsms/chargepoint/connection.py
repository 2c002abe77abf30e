"""The station's link to the central system: WSS, Basic Auth, reconnect with backoff.

OCPP 1.6 Security Profile 2: TLS with the server checked against a CA file,
and HTTP Basic Auth with the station id as user and ``AuthorizationKey`` as
password. The 1.6 security whitepaper stores that key as a hex string;
central systems disagree on whether the password is that hex text or the raw
octets it encodes, so :class:`ConnectionSettings` has ``key_encoding``
("hex": send the configured text; "raw": send the decoded bytes).

Each connection gets a fresh :class:`~opencsms.ocpp.session.OcppSession`
attached to the same :class:`~opencsms.chargepoint.station.ChargePoint`, so
the station's state (transactions, queue) outlives the socket. Failed
attempts back off exponentially with jitter (so a fleet that lost its
server does not return in one thundering herd); a Reset reconnects after a
short boot delay instead. Backoff sleeps go through the station's clock.
"""

from __future__ import annotations

import asyncio
import base64
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI

from opencsms.chargepoint.handlers import StationSession, build_router
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import Transport

log = structlog.get_logger("opencsms.chargepoint")

SUBPROTOCOL = "ocpp1.6"


@dataclass(slots=True)
class ConnectionSettings:
    url: str
    """Central system endpoint without the station id (``wss://host:port/ocpp``)."""
    ca_file: str | None = None
    ssl_context: ssl.SSLContext | None = None
    """Share one context across a fleet: building one per station is costly."""
    key_encoding: Literal["hex", "raw"] = "hex"
    response_timeout: float = 30.0
    open_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 120.0
    jitter: float = 0.5
    reboot_delay: float = 2.0
    validate: bool = True
    lenient: bool = False

    def context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("wss://"):
            return None
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context(cafile=self.ca_file)
        return self.ssl_context


def basic_auth(identity: str, key: str, encoding: Literal["hex", "raw"]) -> str | None:
    """The Authorization header value, or None without a key (Security Profile 1 off)."""
    if not key:
        return None
    password = key.encode()
    if encoding == "raw":
        try:
            password = bytes.fromhex(key)
        except ValueError:
            pass
    token = base64.b64encode(identity.encode() + b":" + password).decode()
    return f"Basic {token}"


def backoff_delay(attempt: int, settings: ConnectionSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: base * 2**attempt, capped, minus up to ``jitter``."""
    delay = min(settings.backoff_max, settings.backoff_initial * 2 ** min(attempt, 30))
    return float(delay * (1 - settings.jitter * rng.random()))


class StationConnection:
    def __init__(
        self,
        station: ChargePoint,
        settings: ConnectionSettings,
        *,
        wrap: Callable[[ClientConnection], Transport] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.station = station
        self.settings = settings
        self.wrap = wrap
        self.rng = rng or random.Random()
        self.ws: ClientConnection | None = None
        self.session: StationSession | None = None
        self.connects = 0
        self.failures = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rebooting = False
        station.on_reboot = self._reboot

    @property
    def uri(self) -> str:
        return f"{self.settings.url.rstrip('/')}/{self.station.info.identity}"

    def start(self) -> asyncio.Task[None]:
        self.station.start()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"link-{self.station.info.identity}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.ws is not None:
            await self.ws.close()
        await self.station.stop()

    async def drop(self, close_frame: bool = True) -> None:
        """End the current connection, cleanly or by cutting TCP (a fault mode)."""
        ws = self.ws
        if ws is None:
            return
        if close_frame:
            await ws.close()
        else:
            ws.transport.abort()

    async def _reboot(self) -> None:
        self._rebooting = True
        await self.drop(close_frame=True)

    async def _connect(self) -> ClientConnection:
        headers = {}
        key = self.station.config.get("AuthorizationKey") or ""
        auth = basic_auth(self.station.info.identity, key, self.settings.key_encoding)
        if auth is not None:
            headers["Authorization"] = auth
        ping = self.station.config.get_int("WebSocketPingInterval", 0)
        return await connect(
            self.uri,
            ssl=self.settings.context(),
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=self.settings.open_timeout,
            ping_interval=ping if ping > 0 else None,
            max_size=2**20,
        )

    async def run(self) -> None:
        """Connect, serve, reconnect — until cancelled."""
        attempt = 0
        while True:
            try:
                ws = await self._connect()
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                self.failures += 1
                log.info("connect failed", station=self.station.info.identity, error=str(exc))
                await self.station.clock.sleep(backoff_delay(attempt, self.settings, self.rng))
                attempt += 1
                continue
            if ws.subprotocol != SUBPROTOCOL:
                await ws.close(1002, "ocpp1.6 required")
                await self.station.clock.sleep(backoff_delay(attempt, self.settings, self.rng))
                attempt += 1
                continue
            attempt = 0
            await self._serve(ws)
            if self._rebooting:
                self._rebooting = False
                await self.station.clock.sleep(self.settings.reboot_delay)
            else:
                await self.station.clock.sleep(backoff_delay(0, self.settings, self.rng))

    async def _serve(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.connects += 1
        transport: Transport = self.wrap(ws) if self.wrap else ws
        session = StationSession(
            self.station,
            self.station.info.identity,
            transport,
            build_router(),
            response_timeout=self.settings.response_timeout,
            validate=self.settings.validate,
            lenient=self.settings.lenient,
        )
        self.session = session
        runner = asyncio.create_task(session.run())
        self.station.attach(session)
        self.connected.set()
        try:
            await runner
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            self.connected.clear()
            self.station.detach(session)
            self.session = None
            self.ws = None
            await ws.close()
