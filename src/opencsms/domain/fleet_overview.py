"""The fleet at a glance, for the dashboard's home page: summary figures,
the problems that need an operator, and the station list with its filters.

"Online" means connected to this node (the session registry, which the
caller passes as ``online_ids``: the domain does not know sockets). The
database knows everything else, and every read here is bounded whatever the
fleet's size (:class:`~opencsms.domain.ports.FleetQueryRepository`): counts
are aggregates, lists are keyset pages by id.

Presence is not in the database, so the online/offline filter is applied
here: "online" pages through the registry's (sorted) ids in batches and asks
the database only about those; "offline" walks the filtered list in batches
and drops the connected ones. Both stop as soon as a page is full.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from opencsms.domain.charging_state import (
    CURRENT,
    POWER,
    VOLTAGE,
    current_times_voltage,
    in_base_units,
    number_of,
    total_or_phases,
)
from opencsms.domain.model import ConnectorStatus, PowerReading, ProvisioningItem, Station
from opencsms.domain.ports import Repositories, StationQuery, UnitOfWork
from opencsms.domain.smart_charging.records import ProfileRecord

CONNECTOR_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
"""OCPP 1.6 ChargePointStatus values, in the order a connector goes through them."""

_ID_BATCH = 500
"""Registry ids per ``IN (...)`` when listing online stations."""

_MAX_BATCH = 5000
"""Rows per read when skipping connected stations: batches grow four-fold
from a few pages' worth up to this, so a fleet mostly online is walked in a
few queries rather than dozens."""


@dataclass(frozen=True, slots=True)
class FleetSummary:
    stations: int
    online: int
    offline: int
    connectors: dict[str, int]
    """Connectors by status: every one of :data:`CONNECTOR_STATUSES` (0 when
    none), then any other status a station reported."""
    power_w: float
    """The sum of each active session's latest power reading."""
    active_sessions: int


@dataclass(frozen=True, slots=True)
class StationRow:
    station: Station
    online: bool
    connectors: list[ConnectorStatus]
    """Connector 0 (the station as a whole) included, by connector id."""
    power_w: float | None
    """The station's active sessions' latest power readings, summed; None
    without an active session that reported power."""


@dataclass(frozen=True, slots=True)
class StationPage:
    rows: list[StationRow]
    next_after: str | None
    """The cursor of the next page (the last row's id); None on the last page."""


@dataclass(frozen=True, slots=True)
class Problems:
    faulted: list[ConnectorStatus]
    offline: list[Station]
    """Registered stations seen before but not connected, most recently seen first."""
    provisioning: list[ProvisioningItem]
    profiles: list[ProfileRecord]
    more_offline: bool
    """More offline stations than listed (the station list filtered by offline has them all)."""


class FleetOverview:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def summary(self, online_ids: Collection[str]) -> FleetSummary:
        async def read(repos: Repositories) -> FleetSummary:
            registered = await repos.fleet.station_count()
            counts = await repos.fleet.connector_counts()
            readings = await repos.fleet.latest_power()
            active = await repos.fleet.active_transaction_count()
            connectors = {status: counts.pop(status, 0) for status in CONNECTOR_STATUSES}
            connectors.update(sorted(counts.items()))
            online = len(online_ids)
            return FleetSummary(
                stations=registered,
                online=online,
                offline=max(registered - online, 0),
                connectors=connectors,
                power_w=float(sum(_power_by_transaction(readings).values())),
                active_sessions=active,
            )

        return await self._uow.read(read)

    async def stations(
        self,
        where: StationQuery,
        limit: int,
        after: str | None,
        online_ids: Collection[str],
        online: bool | None = None,
    ) -> StationPage:
        """Up to ``limit`` stations matching ``where`` (and, when ``online`` is
        given, connected or not) with ids after ``after``."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        connected = frozenset(online_ids)

        async def read(repos: Repositories) -> StationPage:
            found = await _matching(repos, where, limit + 1, after, connected, online)
            page = found[:limit]
            ids = [s.id for s in page]
            connectors = await repos.fleet.connectors_of(ids) if ids else {}
            readings = await repos.fleet.latest_power(ids) if ids else []
            power: dict[str, float] = defaultdict(float)
            station_of = {r.transaction_id: r.station_id for r in readings}
            for transaction_id, watts in _power_by_transaction(readings).items():
                power[station_of[transaction_id]] += watts
            rows = [
                StationRow(s, s.id in connected, connectors.get(s.id, []), power.get(s.id))
                for s in page
            ]
            return StationPage(rows, page[-1].id if len(found) > limit else None)

        return await self._uow.read(read)

    async def problems(self, online_ids: Collection[str], limit: int) -> Problems:
        """At most ``limit`` of each kind of problem, the most recent first."""
        connected = frozenset(online_ids)

        async def read(repos: Repositories) -> Problems:
            offline = await _offline(repos, connected, limit + 1)
            return Problems(
                faulted=await repos.fleet.connectors_in("Faulted", limit),
                offline=offline[:limit],
                provisioning=await repos.fleet.provisioning_failures(limit),
                profiles=await repos.fleet.profile_failures(limit),
                more_offline=len(offline) > limit,
            )

        return await self._uow.read(read)

    async def sites(self) -> list[tuple[str, str]]:
        """(site id, name) of every site, for the list's site filter."""
        found = await self._uow.read(lambda r: r.sites.list())
        return [(site.site_id, site.name) for site in found]


async def _matching(
    repos: Repositories,
    where: StationQuery,
    limit: int,
    after: str | None,
    connected: frozenset[str],
    online: bool | None,
) -> list[Station]:
    if online is None:
        return await repos.fleet.search(where, limit, after)
    found: list[Station] = []
    if online:
        candidates = sorted(i for i in connected if after is None or i > after)
        for start in range(0, len(candidates), _ID_BATCH):
            chunk = candidates[start : start + _ID_BATCH]
            found.extend(await repos.fleet.search(where, limit - len(found), ids=chunk))
            if len(found) >= limit:
                break
        return found
    batch, cursor = max(limit * 4, 200), after
    while len(found) < limit:
        read = await repos.fleet.search(where, batch, cursor)
        found.extend(s for s in read if s.id not in connected)
        if len(read) < batch:
            break
        cursor, batch = read[-1].id, min(batch * 4, _MAX_BATCH)
    return found[:limit]


async def _offline(repos: Repositories, connected: frozenset[str], limit: int) -> list[Station]:
    found: list[Station] = []
    batch = max(limit * 4, 200)
    before = None
    while len(found) < limit:
        read = await repos.fleet.seen_stations(batch, before)
        found.extend(s for s in read if s.id not in connected)
        if len(read) < batch:
            break
        last = read[-1]
        assert last.last_seen_at is not None  # seen_stations lists seen ones only
        before, batch = (last.last_seen_at, last.id), min(batch * 4, _MAX_BATCH)
    return found[:limit]


def _power_by_transaction(readings: Sequence[PowerReading]) -> dict[int, float]:
    """Each transaction's power in W as
    :func:`~opencsms.domain.charging_state.power_w` reads it: from its latest
    power reading (the total, else the sum of the phases), or else current
    times voltage. One pass over the samples: the fleet's power now reads
    thousands."""
    watts: dict[int, list[tuple[str | None, float]]] = defaultdict(list)
    amps: dict[int, list[tuple[str | None, float]]] = defaultdict(list)
    volts: dict[int, dict[str | None, float]] = defaultdict(dict)
    for r in readings:
        if r.measurand == POWER:
            value = in_base_units(r.value, r.unit, r.format, "W", "kW")
            if value is not None:
                watts[r.transaction_id].append((r.phase, value))
        elif (value := number_of(r.value, r.format)) is not None:
            if r.measurand == CURRENT:
                amps[r.transaction_id].append((r.phase, value))
            elif r.measurand == VOLTAGE:
                volts[r.transaction_id][r.phase] = value
    power: dict[int, float] = {}
    for transaction_id in watts.keys() | amps.keys():
        found = (
            total_or_phases(watts[transaction_id])
            if transaction_id in watts
            else current_times_voltage(amps[transaction_id], volts.get(transaction_id, {}))
        )
        if found is not None:
            power[transaction_id] = found
    return power
