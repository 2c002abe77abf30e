"""Deferred appends: a batch's hot uplink rows, written once per table at the end.

Almost every message a station sends ends in an append-only row: a meter
value, a status-history row (plus the current-status upsert), a station event,
a heartbeat's ``last_seen_at``. Written one statement per message they were
what a batch cost (each statement a round trip to the database, or several
thread hops with aiosqlite). :class:`PendingRows` instead collects them while
the batch's items run and sends one executemany per table just before the
commit, so a batch of 200 MeterValues costs two statements, not 400.

What stays exactly as with immediate writes:

* read-your-writes: a repository flushes a table's pending rows before any
  statement that reads or writes that same table (``for_station`` sees the
  meter values an earlier item of the batch added; ``record_boot`` is ordered
  after an earlier ``record_seen``);
* a failing item leaves nothing behind: on any failure the unit of work rolls
  the batch back and *drops* these rows, then re-runs the other items in
  savepoints with immediate writes (``deferred=False``: each append is flushed
  at once, so a bad row fails its own item);
* return values: ``MeterValueRepository.add`` returns the number of rows it
  queued, which is the number that will be stored.

What is collapsed: repeated ``record_seen`` of one station within a batch
become one UPDATE with the last time; repeated status reports of one connector
become one current-status upsert with the last report (the history keeps every
report). Both are what running them in order leaves in the table.

Meter values are linked to our transaction here, for the whole batch at once:
one ``SELECT id, station_id FROM transactions WHERE id IN (...)`` for the
reported ids, rather than one lookup per message. A reported id is linked when
a transaction with that id exists and belongs to the reporting station at the
time the rows are written (at the latest the batch's commit).

Meter values are also written at most once: a station whose reply was lost
sends the same MeterValues again after reconnecting (a new message id, so the
session's duplicate check cannot see it). A sampled value identical in every
reported field (station, connector, reported transaction, timestamp, value,
measurand, unit, phase, context, location, format) to one already stored, or
to an earlier one in the batch, is skipped. One indexed ``SELECT`` per batch
finds the stored ones (index on station, timestamp, measurand, value). A value
that differs in anything, a corrected reading for instance, is stored.

If a flush fails, :attr:`PendingRows.flush_error` is set so the unit of work
does not blame whichever item's read happened to trigger it: it re-runs every
item with immediate writes instead, and the guilty one fails on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Insert, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from opencsms.storage.tables import (
    connector_status,
    meter_values,
    station_events,
    stations,
    status_history,
    transactions,
)

INT32 = range(-(2**31), 2**31)
"""transactions.id is a 32-bit INTEGER; a reported id outside it cannot be ours
(and PostgreSQL would refuse to compare it as int4)."""


class Executor(Protocol):
    """What the repositories need of a connection (an ``AsyncConnection`` or the
    SQLite writer's synchronous one behind an async shim)."""

    @property
    def dialect(self) -> Any: ...
    async def execute(self, statement: Any, parameters: Any = None) -> Any: ...
    def begin_nested(self) -> Any: ...


def upsert(dialect_name: str, table: Table, keys: list[str], columns: Iterable[str]) -> Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE for SQLite and PostgreSQL alike;
    values come from the parameters (so it also serves an executemany)."""
    stmt: Any = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    result: Insert = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={name: stmt.excluded[name] for name in columns if name not in keys},
    )
    return result


# Statements built once: building one (and its cache key) per flush showed in
# the profile.
_INSERT_METER_VALUES = insert(meter_values)
_INSERT_STATUS_HISTORY = insert(status_history)
_INSERT_EVENTS = insert(station_events)
_METER_IDENTITY = (
    "station_id",
    "connector_id",
    "reported_transaction_id",
    "timestamp",
    "value",
    "measurand",
    "unit",
    "phase",
    "context",
    "location",
    "format",
)
_STORED_METER_VALUES = select(*(meter_values.c[name] for name in _METER_IDENTITY)).where(
    meter_values.c.station_id.in_(bindparam("stations", expanding=True)),
    meter_values.c.timestamp.in_(bindparam("timestamps", expanding=True)),
    meter_values.c.measurand.in_(bindparam("measurands", expanding=True)),
    meter_values.c.value.in_(bindparam("values", expanding=True)),
)
_TRANSACTION_OWNERS = select(transactions.c.id, transactions.c.station_id).where(
    transactions.c.id.in_(bindparam("ids", expanding=True))
)
_SEEN = (
    update(stations)
    .where(stations.c.id == bindparam("b_station_id"))
    .values(last_seen_at=bindparam("b_last_seen_at"))
)
_CURRENT_STATUS_COLUMNS = (
    "station_id",
    "connector_id",
    "status",
    "error_code",
    "updated_at",
    "timestamp",
    "info",
    "vendor_id",
    "vendor_error_code",
)


class PendingRows:
    """Rows appended by one batch's repositories and not yet sent."""

    def __init__(self, conn: Executor, *, deferred: bool) -> None:
        self._conn = conn
        self.deferred = deferred
        self.flush_error: BaseException | None = None
        self.meter_values: list[dict[str, Any]] = []
        self.status_history: list[dict[str, Any]] = []
        self.current_status: dict[tuple[str, int], dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.seen: dict[str, datetime] = {}
        self._upsert_status: Insert | None = None

    # -- what the repositories queue -----------------------------------------

    async def add_meter_values(self, rows: list[dict[str, Any]]) -> None:
        self.meter_values.extend(rows)
        if not self.deferred:
            await self.flush_meter_values()

    async def add_status(self, row: dict[str, Any]) -> None:
        self.current_status[(row["station_id"], row["connector_id"])] = row
        self.status_history.append(row)
        if not self.deferred:
            await self.flush_current_status()
            await self.flush_status_history()

    async def add_event(self, row: dict[str, Any]) -> None:
        self.events.append(row)
        if not self.deferred:
            await self.flush_events()

    async def record_seen(self, station_id: str, at: datetime) -> None:
        self.seen.pop(station_id, None)  # keep the order of the last calls
        self.seen[station_id] = at
        if not self.deferred:
            await self.flush_seen()

    # -- flushing, per table ---------------------------------------------------

    async def flush(self) -> None:
        """Everything, before the commit."""
        await self.flush_seen()
        await self.flush_current_status()
        await self.flush_status_history()
        await self.flush_events()
        await self.flush_meter_values()

    async def flush_seen(self) -> None:
        if self.seen:
            rows = [{"b_station_id": s, "b_last_seen_at": at} for s, at in self.seen.items()]
            self.seen = {}
            await self._execute(_SEEN, rows)

    async def flush_current_status(self) -> None:
        if self.current_status:
            rows = list(self.current_status.values())
            self.current_status = {}
            if self._upsert_status is None:
                self._upsert_status = upsert(
                    self._conn.dialect.name,
                    connector_status,
                    ["station_id", "connector_id"],
                    _CURRENT_STATUS_COLUMNS,
                )
            await self._execute(self._upsert_status, rows)

    async def flush_status_history(self) -> None:
        if self.status_history:
            rows, self.status_history = self.status_history, []
            await self._execute(_INSERT_STATUS_HISTORY, rows)

    async def flush_events(self) -> None:
        if self.events:
            rows, self.events = self.events, []
            await self._execute(_INSERT_EVENTS, rows)

    async def flush_meter_values(self) -> None:
        if not self.meter_values:
            return
        rows, self.meter_values = self.meter_values, []
        rows = await self._not_yet_stored(rows)
        if not rows:
            return
        reported = {
            row["reported_transaction_id"]
            for row in rows
            if row["reported_transaction_id"] is not None
            and row["reported_transaction_id"] in INT32
        }
        owner: dict[int, str] = {}
        if reported:
            result = await self._execute(_TRANSACTION_OWNERS, {"ids": sorted(reported)})
            owner = {row[0]: row[1] for row in result}
        for row in rows:
            reported_id = row["reported_transaction_id"]
            linked = reported_id is not None and owner.get(reported_id) == row["station_id"]
            row["transaction_id"] = reported_id if linked else None
        await self._execute(_INSERT_METER_VALUES, rows)

    async def _not_yet_stored(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop rows identical to a stored meter value or to an earlier row."""
        result = await self._execute(
            _STORED_METER_VALUES,
            {
                # sets, not sorted lists: a bad row (a None the database
                # will refuse) must fail at the INSERT, for its own item
                "stations": list({row["station_id"] for row in rows}),
                "timestamps": list({row["timestamp"] for row in rows}),
                "measurands": list({row["measurand"] for row in rows}),
                "values": list({row["value"] for row in rows}),
            },
        )
        seen = {tuple(stored) for stored in result}
        fresh = []
        for row in rows:
            identity = tuple(row[name] for name in _METER_IDENTITY)
            if identity not in seen:
                seen.add(identity)
                fresh.append(row)
        return fresh

    async def _execute(self, statement: Any, rows: Any = None) -> Any:
        try:
            return await self._conn.execute(statement, rows)
        except BaseException as exc:
            self.flush_error = exc
            raise
