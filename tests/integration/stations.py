"""Test stations: the ``ocpp`` package's ChargePoint over a real WSS connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from ocpp.v16 import ChargePoint
from websockets.asyncio.client import ClientConnection, connect

from opencsms.app import CentralSystem
from opencsms.security.tls import client_ssl_context
from opencsms.testing import basic_authorization


async def open_socket(
    central: CentralSystem,
    station_id: str,
    password: str | bytes | None,
    *,
    username: str | None = None,
    subprotocols: list[str] | None = None,
    **options: Any,
) -> ClientConnection:
    headers = {}
    if password is not None:
        headers["Authorization"] = basic_authorization(username or station_id, password)
    assert central.ca_file is not None
    return await connect(
        f"{central.ocpp_url}/{station_id}",
        ssl=client_ssl_context(central.ca_file),
        subprotocols=subprotocols if subprotocols is not None else ["ocpp1.6"],  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        **options,
    )


@contextlib.asynccontextmanager
async def ocpp_station(
    central: CentralSystem, station_id: str, password: str | bytes
) -> AsyncIterator[ChargePoint]:
    """A connected ``ocpp.v16.ChargePoint`` whose receive loop runs in the background."""
    ws = await open_socket(central, station_id, password)
    station = ChargePoint(station_id, ws, response_timeout=10)
    loop = asyncio.create_task(station.start())
    try:
        yield station
    finally:
        await ws.close()
        loop.cancel()
        with contextlib.suppress(BaseException):
            await loop


async def reply_to(ws: ClientConnection, message_id: str, within: float = 5.0) -> list[Any]:
    """The CALLRESULT or CALLERROR answering our ``message_id``.

    The server calls a station too (GetConfiguration when provisioning it,
    queued commands): like a real station that supports none of them, any
    CALL of the server's met on the way is answered with NotSupported.
    """
    async with asyncio.timeout(within):
        while True:
            frame = orjson.loads(await ws.recv())
            if frame[0] == 2:
                error = [4, frame[1], "NotSupported", "raw test station", {}]
                await ws.send(orjson.dumps(error).decode())
                continue
            assert frame[1] == message_id, frame
            return frame  # type: ignore[no-any-return]
