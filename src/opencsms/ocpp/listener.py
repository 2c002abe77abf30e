"""The stations' WebSocket listener: TLS, Security Profile 2, subprotocol.

Everything that can refuse a station happens in the HTTP handshake, before
the upgrade (``process_request``), so a refused client never holds a
WebSocket and never disturbs the live session of the id it tried:

- path must be ``<prefix>/<chargePointId>``, else 404;
- HTTP Basic Auth is checked by the injected ``authenticate`` callable;
  every failure (no header, wrong password, unknown id, username != id) gets
  the same 401, byte for byte;
- the client must offer the ``ocpp1.6`` subprotocol, else 400.

websockets itself enforces ``max_size`` (a larger frame closes with 1009)
and reaps half-open sockets with ping/pong timeouts. The listener knows
nothing of what happens in a session: it hands the connection to
``on_connect`` for its whole life.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.http11 import Request, Response

log = structlog.get_logger("opencsms.ocpp")

SUBPROTOCOL = "ocpp1.6"
MAX_ID_LENGTH = 48  # CiString48: the longest chargeBoxIdentity OCPP 1.6 allows

Authenticate = Callable[[str, str | None, str], Awaitable[bool]]
"""(charge point id from the URL, Authorization header or None, remote address)."""
OnConnect = Callable[[str, ServerConnection], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    path_prefix: str = "/ocpp"
    max_message_bytes: int = 1024 * 1024
    ping_interval: float | None = 60.0
    ping_timeout: float | None = 30.0
    handshake_timeout: float = 60.0


def station_id_from_path(path: str, prefix: str) -> str | None:
    """``/ocpp/CP%20001?x=1`` -> ``CP 001``; None if the path is not a station URL."""
    route = urlsplit(path).path
    head = prefix.rstrip("/") + "/"
    if not route.startswith(head):
        return None
    station_id = unquote(route[len(head) :])
    if not station_id or "/" in station_id or len(station_id) > MAX_ID_LENGTH:
        return None
    if not station_id.isprintable():
        return None
    return station_id


def offered_subprotocols(request: Request) -> list[str]:
    return [
        token.strip()
        for header in request.headers.get_all("Sec-WebSocket-Protocol")
        for token in header.split(",")
        if token.strip()
    ]


def _unauthorized(connection: ServerConnection) -> Response:
    response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
    return response


async def serve_stations(
    config: ListenerConfig, authenticate: Authenticate, on_connect: OnConnect
) -> Server:
    """Start listening; the caller owns the returned server (``close()``)."""
    if config.ssl_context is None:
        log.warning(
            "PLAIN ws:// LISTENER: station passwords travel in clear. Development only.",
            port=config.port,
        )

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        station_id = station_id_from_path(request.path, config.path_prefix)
        if station_id is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        try:
            header = request.headers.get("Authorization")
        except MultipleValuesError:
            header = None
        address = connection.remote_address[0] if connection.remote_address else "?"
        if not await authenticate(station_id, header, address):
            return _unauthorized(connection)  # the authenticator logged why
        if SUBPROTOCOL not in offered_subprotocols(request):
            log.info("station refused: subprotocol", station=station_id)
            return connection.respond(
                HTTPStatus.BAD_REQUEST, f"Offer the {SUBPROTOCOL} subprotocol\n"
            )
        return None

    async def handler(connection: ServerConnection) -> None:
        assert connection.request is not None
        station_id = station_id_from_path(connection.request.path, config.path_prefix)
        assert station_id is not None  # process_request refused every other path
        await on_connect(station_id, connection)

    return await serve(
        handler,
        config.host,
        config.port,
        ssl=config.ssl_context,
        process_request=process_request,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        max_size=config.max_message_bytes,
        ping_interval=config.ping_interval,
        ping_timeout=config.ping_timeout,
        # a handshake that was queued behind thousands of others is still worth
        # finishing: failing it throws away the TLS work and brings a retry
        open_timeout=config.handshake_timeout,
        # a peer that missed its pong will not answer a close frame either:
        # do not hold a half-open socket for websockets' default 10 s
        close_timeout=config.ping_timeout or 10.0,
        compression=None,
    )
