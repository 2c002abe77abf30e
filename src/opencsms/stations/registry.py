"""Which session currently speaks for each station on this node.

A station that reconnects (e.g. after its network dropped without a close
frame) opens a second authenticated connection while the server still holds
the first. The newest connection wins: the old socket is closed, and the old
session's late cleanup (``detach``) must not remove the new one — hence the
identity check in ``detach``.
"""

from __future__ import annotations

import asyncio

import structlog

from opencsms.ocpp.session import OcppSession

log = structlog.get_logger("opencsms.stations")

REPLACED = 4000
"""Close code for a connection superseded by a newer one from the same id
(4000-4999 are free for applications, RFC 6455 section 7.4.2)."""


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, OcppSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def attach(self, session: OcppSession) -> None:
        """Make ``session`` the station's current one; close the one it replaces.

        The old socket is closed in the background: when it is half-open its
        closing handshake waits for a timeout, and the new connection must not.
        """
        previous = self._sessions.get(session.identity)
        self._sessions[session.identity] = session
        if previous is not None and previous is not session:
            log.info("connection replaced by a newer one", station=session.identity)
            task = asyncio.create_task(previous.close(REPLACED, "replaced by a new connection"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def detach(self, session: OcppSession) -> bool:
        if self._sessions.get(session.identity) is session:
            del self._sessions[session.identity]
            return True
        return False

    def get(self, station_id: str) -> OcppSession | None:
        return self._sessions.get(station_id)

    def connected(self) -> list[str]:
        return sorted(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    async def close_all(self) -> None:
        for session in list(self._sessions.values()):
            await session.close(1001, "server shutting down")
