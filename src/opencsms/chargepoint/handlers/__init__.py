"""The central system's requests, one module per OCPP 1.6 feature profile.

Handlers are plain functions ``async (session, payload) -> payload``; the
station they act on travels with the session (:class:`StationSession`), so a
single route table serves every station of a fleet in one process. Work that
talks back to the central system (starting the transaction after a
RemoteStartTransaction, the reboot after a Reset, the message a
TriggerMessage asks for) runs after the reply is on the wire, as the station
task of an ``after_reply`` step, never inside the handler.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from opencsms.ocpp.router import Router
from opencsms.ocpp.session import OcppSession

if TYPE_CHECKING:
    from opencsms.chargepoint.station import ChargePoint


class StationSession(OcppSession):
    """An OCPP-J session that knows the station it serves."""

    def __init__(self, station: ChargePoint, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.station = station


def station_of(session: OcppSession) -> ChargePoint:
    if not isinstance(session, StationSession):
        raise TypeError("charge-point handlers need a StationSession")
    return session.station


@functools.cache
def build_router() -> Router:
    """The route table of a charge point (shared, it holds no state)."""
    from opencsms.chargepoint.handlers import (
        core,
        firmware,
        local_auth,
        remote_trigger,
        reservation,
        smart_charging,
    )

    router = Router()
    for module in (core, firmware, local_auth, reservation, remote_trigger, smart_charging):
        for action, (handler, after) in module.ROUTES.items():
            router.on(action, handler, after_reply=after)
    return router
