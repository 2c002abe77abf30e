"""Pages of charging sessions for an operator's list: newest first, filtered,
with each session's energy, power now and charging state.

Keyset pages, not offsets: the cursor is the last transaction shown, and the
next page starts below its ``(started_at, id)`` in the list's order, so a page
deep in a busy fleet's history costs what the first one does, and sessions
starting meanwhile do not shift the rows under the operator.

The repository's list already filters and orders by ``(started_at desc, id
desc)``; the cursor is built from its ``started_before`` bound plus the rows
that started at the cursor's very instant (stations report to the second, so
two sessions can share a start). Those ties are read first, then what started
earlier: no new storage query, and every read is bounded by the page size
(and the number of sessions starting at one instant).

Energy and power of active sessions come from a few readings per session
(:meth:`MeterValueRepository.around`: the latest register and power
readings), never from a session's whole meter history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from opencsms.domain.charging_state import ChargingState, charging_state, energy_wh, power_w
from opencsms.domain.fleet_view import TransactionFilter
from opencsms.domain.model import Transaction
from opencsms.domain.ports import Repositories, UnitOfWork

_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SessionRow:
    transaction: Transaction
    energy_wh: float | None
    power_w: float | None
    state: ChargingState


@dataclass(frozen=True, slots=True)
class SessionPage:
    rows: list[SessionRow]
    next_after: int | None
    """The cursor of the next page (the last row's id); None on the last page."""


class SessionList:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def page(
        self, where: TransactionFilter, limit: int, after: int | None = None
    ) -> SessionPage:
        """Up to ``limit`` sessions matching ``where`` after the one with id
        ``after`` in the list's order (from the first when ``after`` is None
        or names no transaction)."""
        if limit < 1:
            raise ValueError("limit must be >= 1")

        async def read(repos: Repositories) -> SessionPage:
            cursor = await repos.transactions.get(after) if after is not None else None
            found = await _after(repos, where, cursor, limit + 1)
            rows = await _rows(repos, found[:limit])
            more = len(found) > limit
            return SessionPage(rows, rows[-1].transaction.id if more and rows else None)

        return await self._uow.read(read)


async def _list(
    repos: Repositories, where: TransactionFilter, limit: int, offset: int = 0
) -> list[Transaction]:
    return await repos.transactions.list(
        where.station_id,
        where.active_only,
        limit,
        id_tag=where.id_tag,
        started_from=where.started_from,
        started_before=where.started_before,
        offset=offset,
    )


async def _after(
    repos: Repositories, where: TransactionFilter, cursor: Transaction | None, limit: int
) -> list[Transaction]:
    if cursor is None:
        return await _list(repos, where, limit)
    at = cursor.started_at
    found: list[Transaction] = []
    if where.started_from is not None and at < where.started_from:
        return found  # a cursor below the window (not from this list): nothing follows
    ties = replace(where, started_from=at, started_before=at + _INSTANT)
    in_window = where.started_before is None or at < where.started_before
    offset = 0
    while in_window and len(found) < limit:  # ordered by id desc: keep those below the cursor
        batch = await _list(repos, ties, limit, offset)
        offset += len(batch)
        found.extend(t for t in batch if t.id < cursor.id)
        if len(batch) < limit:
            break
    if len(found) < limit:
        before = at if where.started_before is None else min(at, where.started_before)
        found.extend(await _list(repos, replace(where, started_before=before), limit - len(found)))
    return found[:limit]


async def _rows(repos: Repositories, transactions: list[Transaction]) -> list[SessionRow]:
    active = [t for t in transactions if t.active]
    samples = await repos.meter_values.around([t.id for t in active]) if active else {}
    statuses: dict[tuple[str, int], str] = {}
    for station_id in dict.fromkeys(t.station_id for t in active):
        for c in await repos.connectors.current(station_id):
            statuses[(station_id, c.connector_id)] = c.status
    rows = []
    for t in transactions:
        readings = samples.get(t.id, [])
        power = power_w(t, readings)
        status = statuses.get((t.station_id, t.connector_id))
        rows.append(SessionRow(t, energy_wh(t, readings), power, charging_state(t, status, power)))
    return rows
