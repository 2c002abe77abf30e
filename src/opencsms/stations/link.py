"""The :class:`~opencsms.domain.commands.StationLink` of a single node.

It reaches a station through the session this node holds for it in the
:class:`SessionRegistry`, and translates the wire layer's exceptions into the
domain's ``Link*`` ones, so the domain never sees a session, a socket or an
OCPP-J frame. With clustering, another StationLink will forward to the node
that holds the socket; the domain will not notice.

Also :class:`OfflineLink`, for a process that holds no sessions at all (the
CLI working on the database directly): every station is offline there, so
commands either fail at once or are queued for the node that serves it.
"""

from __future__ import annotations

from opencsms.domain.commands import LinkCallError, LinkLost, LinkOffline, LinkTimeout
from opencsms.ocpp.errors import CallErrorReceived, OCPPError
from opencsms.ocpp.session import CallTimeout, SessionClosed
from opencsms.stations.registry import SessionRegistry


class RegistryLink:
    def __init__(self, registry: SessionRegistry, *, response_timeout: float | None = None) -> None:
        """``response_timeout`` overrides the sessions' own (None: theirs)."""
        self._registry = registry
        self._response_timeout = response_timeout

    def is_connected(self, station_id: str) -> bool:
        session = self._registry.get(station_id)
        return session is not None and not session.closed

    async def call(
        self, station_id: str, action: str, payload: dict[str, object]
    ) -> dict[str, object]:
        session = self._registry.get(station_id)
        if session is None or session.closed:
            raise LinkOffline(f"station {station_id!r} is not connected to this node")
        try:
            reply: dict[str, object] = await session.call(
                action, payload, timeout=self._response_timeout
            )
        except CallTimeout as exc:
            raise LinkTimeout(str(exc)) from exc
        except SessionClosed as exc:
            raise LinkLost(f"connection to {station_id!r} ended before the reply") from exc
        except CallErrorReceived as exc:
            raise LinkCallError(exc.code, exc.description) from exc
        except OCPPError as exc:
            # The reply broke the response schema (the session validates it).
            raise LinkCallError(exc.code, f"invalid reply: {exc.description}") from exc
        return reply


class OfflineLink:
    """A link to nowhere: for processes without an OCPP listener."""

    def is_connected(self, station_id: str) -> bool:
        return False

    async def call(
        self, station_id: str, action: str, payload: dict[str, object]
    ) -> dict[str, object]:
        raise LinkOffline(f"station {station_id!r}: this process serves no stations")
