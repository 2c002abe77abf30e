"""Serve the API with uvicorn inside the node's own event loop.

Why not ``uvicorn.run``: it owns the loop and the process's signal handlers,
while the API must share the loop with the OCPP listener and the services
(one process, one event loop) and stop when :class:`CentralSystem` stops.
So we drive :class:`uvicorn.Server` through its ``startup`` / ``main_loop``
/ ``shutdown`` steps on a socket we bind ourselves (port 0 works, and the
bound port is known before the first request).

Why set ``config.ssl`` after ``config.load()``: uvicorn builds its SSL context
from file names and options, which cannot express our TLS policy (two
certificates, the policy's 18 suites in order, no renegotiation). The
listener is created with whatever ``config.ssl`` holds, so putting the
context from :func:`opencsms.security.tls.server_ssl_context` there gives the
API exactly the stations' TLS.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import uvicorn
from fastapi import FastAPI

GRACEFUL_SHUTDOWN_S = 5.0
"""How long open requests (an event stream, say) get to finish at stop()."""


class ApiServer:
    """``bind()`` (the port is known from then on), ``start(app)``, ``stop()``."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() first"
        port: int = self._socket.getsockname()[1]
        return port

    def bind(self) -> int:
        if self._socket is None:
            self._socket = _bind(self._host, self._port)
        return self.port

    async def start(self, app: FastAPI) -> None:
        self.bind()
        assert self._socket is not None
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=int(GRACEFUL_SHUTDOWN_S),
        )
        config.load()
        config.ssl = self._ssl_context
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[self._socket])
        except BaseException:
            self._socket.close()
            self._socket = None
            raise
        self._server = server
        self._task = asyncio.create_task(server.main_loop(), name="api-server")

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            return
        server.should_exit = True
        await task
        await server.shutdown(sockets=[self._socket] if self._socket else None)
        self._socket = None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it a body written after its headers waited ~40 ms
    # for the client's delayed ACK (bench/README.md, the dashboard)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
