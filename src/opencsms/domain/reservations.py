"""Reservations: ReserveNow, CancelReservation, closing by StartTransaction, expiry.

A reservation is stored ``requested`` before ReserveNow is sent (its id is the
OCPP reservationId, unique system-wide) and follows its commands through
:meth:`CommandService.on_finished`, whether they were answered at once or
failed: Accepted makes it ``active``; any other answer, or none, ``rejected``
with the reason in ``detail``. An Accepted CancelReservation makes it
``cancelled``; a refused one leaves it as it was, with the answer in
``detail``.

A StartTransaction closes it (``used``, with our transaction id) when it
names the reservation, or, without a reservationId, when the reserved id tag
starts on the reserved connector (or anywhere on the station for a
connector-0 reservation). That runs after the transaction's commit, off its
unit of work: a lost close leaves the reservation to the expiry sweep, which
marks every requested or active reservation past its expiry date
``expired`` (the station drops it itself at that time).

Every change is published as ``reservation.changed``.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import asdict
from datetime import datetime, timedelta

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import CommandService, InvalidCommand, UnknownStation
from opencsms.domain.events import EventBus
from opencsms.domain.model import (
    Command,
    CommandState,
    Reservation,
    ReservationState,
    TransactionStart,
)
from opencsms.domain.ports import Repositories, UnitOfWork

log = structlog.get_logger("opencsms.reservations")

ID_TAG_MAX = 20
OPEN_STATES = (ReservationState.REQUESTED, ReservationState.ACTIVE)


class UnknownReservation(LookupError):
    """No reservation has this id."""


class ReservationClosed(ValueError):
    """The reservation is no longer requested or active (cancel refused)."""


def reservation_as_dict(reservation: Reservation) -> dict[str, object]:
    data = asdict(reservation)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    data["state"] = reservation.state.value
    return data


def format_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class ReservationService:
    def __init__(
        self,
        uow: UnitOfWork,
        commands: CommandService,
        clock: Clock = utc_now,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._commands = commands
        self._clock = clock
        self._events = events
        commands.on_finished("ReserveNow", self._reserve_finished)
        commands.on_finished("CancelReservation", self._cancel_finished)

    # -- operator requests -------------------------------------------------

    async def reserve(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        expiry_date: datetime,
        *,
        requested_by: str,
        parent_id_tag: str | None = None,
        queue_ttl: timedelta | None = None,
    ) -> Reservation:
        """Store the reservation and send ReserveNow; return it as it is now.

        Raises :class:`InvalidCommand` / :class:`UnknownStation` with nothing
        stored; :class:`~opencsms.domain.commands.StationOffline` (after
        recording it ``rejected``) for an offline station without ``queue_ttl``.
        """
        now = self._clock()
        if connector_id < 0:
            raise InvalidCommand("connectorId must be 0 (any connector) or a connector number")
        if not 0 < len(id_tag) <= ID_TAG_MAX:
            raise InvalidCommand(f"idTag must be 1 to {ID_TAG_MAX} characters")
        if parent_id_tag is not None and not 0 < len(parent_id_tag) <= ID_TAG_MAX:
            raise InvalidCommand(f"parentIdTag must be 1 to {ID_TAG_MAX} characters")
        if expiry_date.tzinfo is None or expiry_date.utcoffset() is None:
            raise InvalidCommand("expiryDate needs a time zone")
        if expiry_date <= now:
            raise InvalidCommand("expiryDate must be in the future")

        async def create(repos: Repositories) -> Reservation:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await repos.reservations.create(
                station_id, connector_id, id_tag, parent_id_tag, expiry_date, now
            )

        reservation = await self._uow.run(create)
        self._publish(reservation)
        payload: dict[str, object] = {
            "connectorId": connector_id,
            "expiryDate": format_time(expiry_date),
            "idTag": id_tag,
            "reservationId": reservation.id,
        }
        if parent_id_tag is not None:
            payload["parentIdTag"] = parent_id_tag
        if queue_ttl is not None:
            queue_ttl = min(queue_ttl, expiry_date - now)
        try:
            await self._commands.execute(
                station_id, "ReserveNow", payload, requested_by=requested_by, queue_ttl=queue_ttl
            )
        except InvalidCommand as exc:
            await self._close(reservation.id, ReservationState.REJECTED, detail=str(exc))
            raise
        return await self.get(reservation.id)

    async def cancel(
        self, reservation_id: int, *, requested_by: str
    ) -> tuple[Reservation, Command]:
        """Send CancelReservation; raises :class:`UnknownReservation`,
        :class:`ReservationClosed`, or ``StationOffline``."""
        reservation = await self.get(reservation_id)
        if reservation.state not in OPEN_STATES:
            raise ReservationClosed(f"reservation {reservation_id} is {reservation.state.value}")
        command = await self._commands.execute(
            reservation.station_id,
            "CancelReservation",
            {"reservationId": reservation_id},
            requested_by=requested_by,
        )
        return await self.get(reservation_id), command

    # -- what the station and the clock do ----------------------------------

    async def transaction_started(self, start: TransactionStart, transaction_id: int) -> None:
        """Close the reservation this StartTransaction used, if any. Never
        raises: the station's StartTransaction is answered whatever happens here
        (a reservation left open is expired by the sweep)."""
        try:
            await self._close_used(start, transaction_id)
        except Exception:
            log.exception("closing a used reservation failed", station=start.station_id)

    async def _close_used(self, start: TransactionStart, transaction_id: int) -> None:
        candidates = await self._uow.read(
            lambda r: r.reservations.list(start.station_id, open_only=True)
        )
        used = None
        for reservation in candidates:
            if start.reservation_id is not None:
                if reservation.id == start.reservation_id:
                    used = reservation
                    break
            elif reservation.id_tag == start.id_tag and reservation.connector_id in (
                0,
                start.connector_id,
            ):
                used = reservation
                break
        if used is not None:
            await self._close(used.id, ReservationState.USED, transaction_id=transaction_id)

    async def expire_due(self, now: datetime | None = None) -> builtins.list[Reservation]:
        """Mark requested/active reservations past their expiry date expired."""
        at = self._clock() if now is None else now

        async def work(repos: Repositories) -> builtins.list[Reservation]:
            expired = []
            for reservation in await repos.reservations.due_to_expire(at):
                updated = await repos.reservations.update(
                    reservation.id, ReservationState.EXPIRED, at
                )
                if updated is not None:
                    expired.append(updated)
            return expired

        expired = await self._uow.run(work)
        for reservation in expired:
            self._publish(reservation)
        return expired

    async def sweep_forever(self, interval: float) -> None:
        """Run :meth:`expire_due` every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.expire_due()
            except Exception:
                log.exception("reservation expiry sweep failed")
            await asyncio.sleep(interval)

    # -- reads -------------------------------------------------------------

    async def get(self, reservation_id: int) -> Reservation:
        reservation = await self._uow.read(lambda r: r.reservations.get(reservation_id))
        if reservation is None:
            raise UnknownReservation(f"no reservation {reservation_id}")
        return reservation

    async def list(
        self, station_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> builtins.list[Reservation]:
        return await self._uow.read(lambda r: r.reservations.list(station_id, open_only, limit))

    # -- internals ---------------------------------------------------------

    async def _reserve_finished(self, command: Command) -> None:
        reservation_id = command.payload.get("reservationId")
        if not isinstance(reservation_id, int):
            return
        if command.state is CommandState.ANSWERED and command.status == "Accepted":
            await self._close(reservation_id, ReservationState.ACTIVE, only_if_requested=True)
            return
        if command.state is CommandState.ANSWERED:
            detail = f"station answered {command.status}"
        else:
            detail = f"ReserveNow {command.state.value}: {command.error or 'no answer'}"
        await self._close(
            reservation_id, ReservationState.REJECTED, detail=detail, only_if_requested=True
        )

    async def _cancel_finished(self, command: Command) -> None:
        reservation_id = command.payload.get("reservationId")
        if not isinstance(reservation_id, int):
            return
        if command.state is CommandState.ANSWERED and command.status == "Accepted":
            await self._close(reservation_id, ReservationState.CANCELLED)
            return
        answer = command.status if command.state is CommandState.ANSWERED else command.error
        current = await self._uow.read(lambda r: r.reservations.get(reservation_id))
        if current is not None and current.state in OPEN_STATES:
            await self._close(reservation_id, current.state, detail=f"CancelReservation: {answer}")

    async def _close(
        self,
        reservation_id: int,
        state: ReservationState,
        *,
        detail: str | None = None,
        transaction_id: int | None = None,
        only_if_requested: bool = False,
    ) -> Reservation | None:
        """Move an open reservation to ``state`` (a closed one is left alone)."""

        async def work(repos: Repositories) -> Reservation | None:
            current = await repos.reservations.get(reservation_id)
            if current is None or current.state not in OPEN_STATES:
                return None
            if only_if_requested and current.state is not ReservationState.REQUESTED:
                return None
            return await repos.reservations.update(
                reservation_id, state, self._clock(), transaction_id, detail
            )

        updated = await self._uow.run(work)
        if updated is not None:
            self._publish(updated)
        return updated

    def _publish(self, reservation: Reservation) -> None:
        if self._events is not None:
            self._events.publish(
                "reservation.changed", reservation.station_id, reservation_as_dict(reservation)
            )
