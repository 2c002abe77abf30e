"""The ceiling: a minimal websockets + orjson server on uvloop that answers
every CALL with an empty CALLRESULT, over the same TLS as opencsms.

No validation, no storage, no auth: what one Python process can do at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import uvloop
from websockets.asyncio.server import ServerConnection, serve

from opencsms.security.tls import server_ssl_context


async def answer(connection: ServerConnection) -> None:
    async for message in connection:
        frame = orjson.loads(message)
        await connection.send(orjson.dumps([3, frame[1], {}]).decode())


async def main(port: int, tls_dir: Path) -> None:
    context = server_ssl_context(
        [
            (tls_dir / "server-rsa.pem", tls_dir / "server-rsa-key.pem"),
            (tls_dir / "server-ecdsa.pem", tls_dir / "server-ecdsa-key.pem"),
        ]
    )
    async with serve(
        answer,
        "127.0.0.1",
        port,
        ssl=context,
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        compression=None,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-dir", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.tls_dir))
