"""The signal and site ports of live smart charging over SQLAlchemy Core.

:class:`SqlSignalRepository` keeps signal series (``price``, ``co2`` or any
name) as one row per rate; :class:`SqlSiteRepository` keeps sites (their
limit and objective as plain columns), which station sits behind which site,
and the site's flexibility events. The needs, plans and profiles are in
``charging_repository.py``.

Choices the ports leave open:

* ``SignalRepository.replace`` *trims* a stored rate that straddles an edge of
  the replaced range ``[rates[0].start, rates[-1].end)`` instead of dropping
  it: the part outside the range is "the rest", and is kept. A gap inside the
  new rates clears what was stored there (the new data is the truth for the
  whole range).
* A series has one unit. Replacing with another unit is allowed only when it
  replaces every stored row of the series (e.g. a source switched from p/kWh
  to EUR/kWh and the whole series is loaded again); otherwise
  :class:`ValueError`, raised before anything is written.
* ``SiteRepository.set_site_of`` raises :class:`LookupError` for an unknown
  site (a membership must not point at nothing); ``put`` refuses a limit whose
  ``site_id`` is not the site's.
* Event intervals are stored as JSON ``[{start, end, value}]`` with ISO-8601
  UTC times; events are listed in the order they were received (then by id).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, select

from opencsms.domain.smart_charging.grid import FlexEvent, FlexInterval, SiteLimit
from opencsms.domain.smart_charging.planner import Objective
from opencsms.domain.smart_charging.rates import Rate, normalise
from opencsms.domain.smart_charging.records import SeriesSummary, Site
from opencsms.storage.pending import Executor, upsert
from opencsms.storage.tables import flex_events, signal_rates, site_members, sites


def iso(moment: datetime) -> str:
    """An aware time as ISO-8601 in UTC, for times kept inside JSON columns."""
    return moment.astimezone(UTC).isoformat()


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _overlapping(series: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    """Rows of ``series`` overlapping ``[start, end)``, found by index ranges.

    Rates of a series do not overlap, so ordering by end is ordering by start:
    the first rate ending after ``start`` (on the (series, end_at) index)
    bounds the range scan on (series, start_at) from below. Without that bound
    a window at the end of a long history scans all of it.
    """
    r = signal_rates.c
    first = (
        select(r.start_at)
        .where(r.series == series, r.end_at > start)
        .order_by(r.end_at)
        .limit(1)
        .scalar_subquery()
    )
    return and_(r.series == series, r.start_at >= first, r.start_at < end)


Key = TypeVar("Key", int, str)
IN_BATCH = 1000
"""Keys per ``IN (...)`` of the reads of many (well under any driver's bound-parameter limit)."""


def in_batches(keys: Iterable[Key]) -> Iterator[list[Key]]:
    """``keys`` without repeats, sorted, in lists of at most :data:`IN_BATCH`."""
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), IN_BATCH):
        yield ordered[start : start + IN_BATCH]


class SqlSignalRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def replace(self, series: str, rates: Sequence[Rate]) -> int:
        if not rates:
            raise ValueError(f"series {series!r}: no rates to store")
        new = normalise(rates)  # sorted, UTC, one unit, no overlap (RateError otherwise)
        unit = new[0].unit
        start, end = new[0].start, new[-1].end
        r = signal_rates.c
        overlapping = (
            await self._conn.execute(select(signal_rates).where(_overlapping(series, start, end)))
        ).all()
        kept: list[Rate] = []
        for row in overlapping:
            if row.start_at < start:
                kept.append(Rate(row.start_at, start, row.value, row.unit))
            if row.end_at > end:
                kept.append(Rate(end, row.end_at, row.value, row.unit))
        stored_units = {
            u
            for (u,) in await self._conn.execute(
                select(r.unit).where(r.series == series).distinct()
            )
        }
        if stored_units - {unit}:
            outside = (
                await self._conn.execute(
                    select(func.count())
                    .select_from(signal_rates)
                    .where(r.series == series, (r.start_at >= end) | (r.end_at <= start))
                )
            ).scalar_one()
            if outside or kept:
                old = ", ".join(sorted(stored_units - {unit}))
                raise ValueError(
                    f"series {series!r} is stored in {old}; rates in {unit} may only "
                    f"replace all of it (load the whole series again)"
                )
        await self._conn.execute(delete(signal_rates).where(_overlapping(series, start, end)))
        rows = [
            {
                "series": series,
                "start_at": rate.start,
                "end_at": rate.end,
                "value": rate.value,
                "unit": rate.unit,
            }
            for rate in [*kept, *new]
        ]
        await self._conn.execute(insert(signal_rates), rows)
        return len(new)

    async def window(self, series: str, start: datetime, end: datetime) -> builtins.list[Rate]:
        r = signal_rates.c
        result = await self._conn.execute(
            select(r.start_at, r.end_at, r.value, r.unit)
            .where(_overlapping(series, start, end))
            .order_by(r.start_at)
        )
        return [Rate(row.start_at, row.end_at, row.value, row.unit) for row in result]

    async def summaries(self) -> builtins.list[SeriesSummary]:
        r = signal_rates.c
        result = await self._conn.execute(
            select(
                r.series,
                func.max(r.unit).label("unit"),
                func.min(r.start_at).label("first_start"),
                func.max(r.end_at).label("last_end"),
                func.count().label("count"),
            )
            .group_by(r.series)
            .order_by(r.series)
        )
        # min()/max() keep their argument's type, so the times come back aware.
        return [
            SeriesSummary(row.series, row.unit, row.first_start, row.last_end, row.count)
            for row in result
        ]


def _site_values(site: Site) -> dict[str, Any]:
    limit = site.limit
    if limit is not None and limit.site_id != site.site_id:
        raise ValueError(f"site {site.site_id!r}: its limit names site {limit.site_id!r}")
    return {
        "site_id": site.site_id,
        "name": site.name,
        "limit_value": None if limit is None else limit.limit,
        "limit_unit": None if limit is None else limit.unit,
        "limit_phases": None if limit is None else limit.phases,
        "limit_voltage": None if limit is None else limit.voltage,
        "price_series": site.price_series,
        "co2_series": site.co2_series,
        "objective_mode": site.objective.mode,
        "objective_lam": site.objective.lam,
    }


def site_from_row(row: Row[Any]) -> Site:
    m = row._mapping
    limit = None
    if m["limit_value"] is not None:
        limit = SiteLimit(
            site_id=m["site_id"],
            limit=m["limit_value"],
            unit=m["limit_unit"],
            phases=m["limit_phases"],
            voltage=m["limit_voltage"],
        )
    return Site(
        site_id=m["site_id"],
        name=m["name"],
        limit=limit,
        price_series=m["price_series"],
        co2_series=m["co2_series"],
        objective=Objective(mode=m["objective_mode"], lam=m["objective_lam"]),
    )


def event_from_row(row: Row[Any]) -> FlexEvent:
    m = row._mapping
    return FlexEvent(
        site_id=m["site_id"],
        event_id=m["event_id"],
        kind=m["kind"],
        intervals=tuple(
            FlexInterval(from_iso(i["start"]), from_iso(i["end"]), float(i["value"]))
            for i in m["intervals"]
        ),
        priority=m["priority"],
        modification_number=m["modification_number"],
        cancelled=m["cancelled"],
        unit=m["unit"],
    )


class SqlSiteRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def put(self, site: Site) -> None:
        values = _site_values(site)
        stmt = upsert(self._conn.dialect.name, sites, ["site_id"], values)
        await self._conn.execute(stmt, values)

    async def get(self, site_id: str) -> Site | None:
        row = (await self._conn.execute(select(sites).where(sites.c.site_id == site_id))).first()
        return None if row is None else site_from_row(row)

    async def list(self) -> builtins.list[Site]:
        result = await self._conn.execute(select(sites).order_by(sites.c.site_id))
        return [site_from_row(row) for row in result]

    async def remove(self, site_id: str) -> bool:
        await self._conn.execute(delete(site_members).where(site_members.c.site_id == site_id))
        await self._conn.execute(delete(flex_events).where(flex_events.c.site_id == site_id))
        result = await self._conn.execute(delete(sites).where(sites.c.site_id == site_id))
        return bool(result.rowcount > 0)

    async def set_site_of(self, station_id: str, site_id: str | None) -> None:
        if site_id is None:
            await self._conn.execute(
                delete(site_members).where(site_members.c.station_id == station_id)
            )
            return
        if await self.get(site_id) is None:
            raise LookupError(f"no site {site_id!r}")
        values = {"station_id": station_id, "site_id": site_id}
        stmt = upsert(self._conn.dialect.name, site_members, ["station_id"], values)
        await self._conn.execute(stmt, values)

    async def site_of(self, station_id: str) -> str | None:
        result = await self._conn.execute(
            select(site_members.c.site_id).where(site_members.c.station_id == station_id)
        )
        site_id: str | None = result.scalar_one_or_none()
        return site_id

    async def sites_of(self, station_ids: Collection[str]) -> dict[str, str]:
        m = site_members.c
        found: dict[str, str] = {}
        for chunk in in_batches(station_ids):
            result = await self._conn.execute(
                select(m.station_id, m.site_id).where(m.station_id.in_(chunk))
            )
            found.update((station_id, site_id) for station_id, site_id in result)
        return found

    async def members(self, site_id: str) -> builtins.list[str]:
        m = site_members.c
        result = await self._conn.execute(
            select(m.station_id).where(m.site_id == site_id).order_by(m.station_id)
        )
        return [station_id for (station_id,) in result]

    async def put_event(self, event: FlexEvent, received_at: datetime) -> None:
        values = {
            "site_id": event.site_id,
            "event_id": event.event_id,
            "kind": event.kind,
            "priority": event.priority,
            "modification_number": event.modification_number,
            "cancelled": event.cancelled,
            "unit": event.unit,
            "intervals": [
                {"start": iso(i.start), "end": iso(i.end), "value": i.value}
                for i in event.intervals
            ],
            "received_at": received_at,
        }
        stmt = upsert(self._conn.dialect.name, flex_events, ["site_id", "event_id"], values)
        await self._conn.execute(stmt, values)

    async def events(
        self, site_id: str, *, include_cancelled: bool = False
    ) -> builtins.list[FlexEvent]:
        e = flex_events.c
        condition = e.site_id == site_id
        if not include_cancelled:
            condition = and_(condition, e.cancelled.is_(False))
        result = await self._conn.execute(
            select(flex_events).where(condition).order_by(e.received_at, e.event_id)
        )
        return [event_from_row(row) for row in result]


__all__ = ["SqlSignalRepository", "SqlSiteRepository", "event_from_row", "site_from_row"]
