"""SessionList on SQLite and PostgreSQL: keyset pages through sessions that
share a start instant, filters kept across pages, and each row's energy,
power and state from the latest readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opencsms.domain.charging_state import ChargingState
from opencsms.domain.fleet_view import TransactionFilter
from opencsms.domain.model import (
    MeterValue,
    SampledValue,
    Station,
    StatusReport,
    TagStatus,
    TransactionStart,
    TransactionStop,
)
from opencsms.domain.ports import Repositories
from opencsms.domain.session_list import SessionList
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2027, 1, 1, tzinfo=UTC)


async def _sessions(uow: SqlUnitOfWork) -> list[tuple[datetime, int, str]]:
    """23 sessions on CP1 and CP2; 9 of them start at the same instant."""

    async def add(r: Repositories) -> list[tuple[datetime, int, str]]:
        for station in ("CP1", "CP2"):
            await r.stations.add(Station(station, None, T0))
        made = []
        for n in range(23):
            at = T0 + timedelta(minutes=n) if n < 14 else T0 + timedelta(hours=3)
            start = TransactionStart(f"CP{1 + n % 2}", 1, f"T{n}", 1000, at)
            tx = await r.transactions.create(start, TagStatus.ACCEPTED)
            made.append((at, tx.id, tx.station_id))
        return made

    return await uow.run(add)


async def test_keyset_pages_cover_every_session_once(uow: SqlUnitOfWork) -> None:
    made = await _sessions(uow)
    sessions = SessionList(uow)
    seen: list[int] = []
    after: int | None = None
    sizes = []
    while True:
        page = await sessions.page(TransactionFilter(), 4, after)
        sizes.append(len(page.rows))
        seen.extend(row.transaction.id for row in page.rows)
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [tx for _, tx, _ in sorted(made, reverse=True)]
    assert sizes == [4, 4, 4, 4, 4, 3]

    cp2 = TransactionFilter(station_id="CP2", started_before=T0 + timedelta(hours=3))
    first = await sessions.page(cp2, 5)
    rest = await sessions.page(cp2, 5, first.next_after)
    expected = [
        tx
        for at, tx, station in sorted(made, reverse=True)
        if station == "CP2" and at < T0.replace(hour=3)
    ]
    assert [r.transaction.id for r in first.rows + rest.rows] == expected
    assert rest.next_after is None

    # a cursor from outside the window: nothing below it is inside
    late = TransactionFilter(started_from=T0 + timedelta(hours=3))
    oldest = sorted(made)[0][1]
    assert (await sessions.page(late, 5, oldest)).rows == []
    early = TransactionFilter(started_before=T0 + timedelta(minutes=5))
    newest = sorted(made)[-1][1]
    shown = [r.transaction.id for r in (await sessions.page(early, 10, newest)).rows]
    assert shown == [
        tx for at, tx, _ in sorted(made, reverse=True) if at < T0 + timedelta(minutes=5)
    ]


async def test_rows_tell_energy_power_and_state(uow: SqlUnitOfWork) -> None:
    async def add(r: Repositories) -> tuple[int, int]:
        await r.stations.add(Station("CP1", None, T0))
        charging = await r.transactions.create(
            TransactionStart("CP1", 1, "A", 1000, T0), TagStatus.ACCEPTED
        )
        done = await r.transactions.create(
            TransactionStart("CP1", 2, "B", 0, T0), TagStatus.ACCEPTED
        )
        await r.transactions.finish(
            TransactionStop("CP1", done.id, 4000, T0 + timedelta(hours=1)), 4000, False
        )
        values = [
            MeterValue(
                T0 + timedelta(minutes=m),
                (
                    SampledValue(str(1000 + 500 * m), unit="Wh"),
                    SampledValue(str(3.5 * m), "Power.Active.Import", unit="kW"),
                ),
            )
            for m in (5, 10)
        ]
        await r.meter_values.add("CP1", 1, charging.id, values, T0 + timedelta(minutes=10))
        await r.connectors.record("CP1", StatusReport(1, "Charging", "NoError"), T0)
        return charging.id, done.id

    charging, done = await uow.run(add)
    rows = {
        row.transaction.id: row
        for row in (await SessionList(uow).page(TransactionFilter(), 10)).rows
    }
    assert (rows[charging].energy_wh, rows[charging].power_w) == (5000.0, 35000.0)
    assert rows[charging].state is ChargingState.CHARGING
    assert (rows[done].energy_wh, rows[done].power_w) == (4000.0, 0.0)
    assert rows[done].state is ChargingState.FINISHED
