"""Connector state and the OCPP 1.6 status state machine (section 4.9).

A connector's status is *derived* from facts (plugged, transaction running,
EV drawing, EVSE offering 0 A, reserved, inoperative, faulted) by the pure
function :func:`derive_status`, rather than set by hand from many places:
every event updates a fact and asks for the status again, and a
StatusNotification is sent only when the result changes. The transition
table below is the spec's; a derived change outside it is logged, and the
tests check that the station's normal sequences stay inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ocpp.v16.enums import ChargePointErrorCode
from ocpp.v16.enums import ChargePointStatus as S

ALLOWED: dict[S, frozenset[S]] = {
    S.available: frozenset(
        {
            S.preparing,
            S.charging,
            S.suspended_ev,
            S.suspended_evse,
            S.reserved,
            S.unavailable,
            S.faulted,
        }
    ),
    S.preparing: frozenset(
        {S.available, S.charging, S.suspended_ev, S.suspended_evse, S.finishing, S.faulted}
    ),
    S.charging: frozenset(
        {S.available, S.suspended_ev, S.suspended_evse, S.finishing, S.unavailable, S.faulted}
    ),
    S.suspended_ev: frozenset(
        {S.available, S.charging, S.suspended_evse, S.finishing, S.unavailable, S.faulted}
    ),
    S.suspended_evse: frozenset(
        {S.available, S.charging, S.suspended_ev, S.finishing, S.unavailable, S.faulted}
    ),
    S.finishing: frozenset({S.available, S.preparing, S.unavailable, S.faulted}),
    S.reserved: frozenset({S.available, S.preparing, S.unavailable, S.faulted}),
    S.unavailable: frozenset(
        {S.available, S.preparing, S.charging, S.suspended_ev, S.suspended_evse, S.faulted}
    ),
    S.faulted: frozenset(
        {
            S.available,
            S.preparing,
            S.charging,
            S.suspended_ev,
            S.suspended_evse,
            S.finishing,
            S.reserved,
            S.unavailable,
        }
    ),
}
"""From-status -> statuses the 1.6 table (section 4.9) allows next."""


def transition_allowed(old: S, new: S) -> bool:
    return old == new or new in ALLOWED[old]


@dataclass(slots=True)
class Reservation:
    reservation_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None


@dataclass(slots=True)
class Transaction:
    """A transaction as the station knows it. ``id`` is provisional (negative)
    until the CSMS answers the StartTransaction, then the real transactionId."""

    local_id: int
    connector_id: int
    id_tag: str
    start: datetime
    meter_start: int
    reservation_id: int | None = None
    id: int | None = None
    parent_id_tag: str | None = None

    @property
    def wire_id(self) -> int:
        return self.id if self.id is not None else self.local_id


@dataclass(slots=True)
class Connector:
    """Facts about one connector (id 0 stands for the whole station)."""

    id: int
    plugged: bool = False
    ev_suspended: bool = False  # EV does not draw (full, or waiting)
    evse_paused: bool = False  # the composite limit is 0 A
    finishing: bool = False  # transaction ended, cable still in
    authorized_tag: str | None = None  # tag presented before plug-in
    inoperative: bool = False
    inoperative_scheduled: bool | None = None  # ChangeAvailability while busy
    fault: ChargePointErrorCode | None = None
    fault_info: str | None = None
    reservation: Reservation | None = None
    transaction: Transaction | None = None
    status: S = S.available
    reported: S | None = None  # last status sent
    extra: dict[str, object] = field(default_factory=dict)

    def derive(self) -> S:
        return derive_status(self)


def derive_status(c: Connector) -> S:
    """The 1.6 status implied by a connector's facts."""
    if c.fault is not None and c.fault != ChargePointErrorCode.no_error:
        return S.faulted
    if c.id == 0:
        return S.unavailable if c.inoperative else S.available
    if c.transaction is not None:
        if c.evse_paused:
            return S.suspended_evse
        if c.ev_suspended or not c.plugged:
            return S.suspended_ev
        return S.charging
    if c.inoperative:
        return S.unavailable
    if c.plugged and c.finishing:
        return S.finishing
    if c.plugged or c.authorized_tag is not None:
        return S.preparing
    if c.reservation is not None:
        return S.reserved
    return S.available
