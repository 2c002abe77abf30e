"""Re-planning: when a group of stations is planned again, and how its plans reach the stations.

:class:`Replanner` is the working half of
:class:`~.service.SmartChargingService` (which is the operator's facade and
the only caller): it owns the coalesced re-plan runners, the listener for
plug-ins and stops, the periodic sweep and the handling of a station that
comes back. See ``docs/adr/0004-live-smart-charging.md``.

How work is triggered, and why this way:

- **Re-plans are per group** (a site, or a station outside any site) and are
  *coalesced*: a trigger marks the group dirty and one runner per group
  re-plans after a short debounce, again if it was marked while planning. So
  20 plug-ins in a second cost one or two plans, and two plans of one site
  never run at once (a lock per group also covers the direct calls).
- **Triggers**: ``transaction.started`` (plug-in) and ``transaction.stopped``
  (capacity freed) from the event bus; the operator's signals, needs, sites,
  events and switch (through the facade); a station that comes back
  (:meth:`Replanner.station_ready`); and a periodic :meth:`Replanner.sweep`
  that re-plans a session whose metered energy drifted from its plan,
  reports each connector's measured power to the enforcer, and lets the
  enforcer re-send schedules that were cut short.
- **A station that comes back** waits (bounded) for the configuration pass
  that provisioning runs on the same connection, watched through the
  ``command.finished`` event of its GetConfiguration (one subscription for
  every station waiting): the enforcer builds profiles from the
  capabilities in that snapshot. Then its profiles are
  re-asserted and, if it has sessions, its group re-planned.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import Event, EventBus, Subscription
from opencsms.domain.model import StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.smart_charging.accounting import metered_intervals
from opencsms.domain.smart_charging.apply_order import waves
from opencsms.domain.smart_charging.estimates import power_now_w
from opencsms.domain.smart_charging.live_inputs import (
    ACTIVE_LIMIT,
    GroupKey,
    LiveDefaults,
    gather,
    group_of,
    latest_power_reading,
)
from opencsms.domain.smart_charging.live_plan import BEHIND_KWH, INCREMENTAL, plan_group
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ProfileRecord,
    StationTarget,
    StoredPlan,
)
from opencsms.domain.smart_charging.session_view import behind_kwh
from opencsms.domain.smart_charging.station_targets import station_targets

__all__ = ["ProfileApplier", "Replanner", "SmartChargingOptions"]

log = structlog.get_logger("opencsms.smart_charging")

READY_TASK = "smart-charging-ready:"
SWEEPS_KEPT = 4
"""Sweep start times kept to tell how far apart sweeps come (see ``sweep_period``)."""
POWER_WINDOW = timedelta(minutes=10)
"""How far back the sweep reads a session's samples at least, for its power
now (or two sweep periods if longer: every reading is then seen by a sweep's
draw check, so one older than that was checked when it was new)."""
MIN_TRANSITION = timedelta(minutes=5)
"""The least transition window a re-plan's change is judged over (:meth:`Replanner._apply`)."""


class ProfileApplier(Protocol):
    """What the service asks of the enforcer (``enforcement.ProfileEnforcer``)."""

    async def apply(self, target: StationTarget) -> list[ProfileRecord]: ...
    async def reassert(self, station_id: str) -> object: ...
    async def check_draw(
        self, station_id: str, connector_id: int, measured_kw: float, at: datetime
    ) -> object: ...
    async def resend_due(self, within: timedelta = ...) -> int: ...
    def expected_limit_kw(self, station_id: str, connector_id: int, at: datetime) -> object: ...


@dataclass(frozen=True, slots=True)
class SmartChargingOptions:
    defaults: LiveDefaults = field(default_factory=LiveDefaults)
    offline_limit_kw: float | None = None
    interval: float = 60.0
    """Seconds between sweeps."""
    drift: float = 0.10
    """Re-plan when metered energy since the plan differs from the plan's by this share..."""
    drift_floor_kwh: float = 0.5
    """...and by more than this (a few Wh off a tiny plan is no drift)."""
    debounce: float = 0.2
    """Seconds a dirty group waits for more triggers before it is re-planned."""
    apply_concurrency: int = 8
    ready_timeout: float = 30.0
    """Seconds a station that came back waits for its configuration pass."""


@dataclass(slots=True)
class _Dirty:
    """What a group's runner has to do: re-plan (``reason``), or only apply
    the targets of ``stations`` from the plans in force."""

    reason: str | None = None
    stations: set[str] = field(default_factory=set)


SweepRow = tuple[GroupKey, ChargingMode, Transaction, StoredPlan | None, list[StoredMeterValue]]


async def _sweep_rows(repos: Repositories, now: datetime, window: timedelta) -> list[SweepRow]:
    """Each active session with the samples the sweep needs, in a few
    set-based queries for them all, whatever the sessions' and plans' ages:
    the register readings bracketing its plan's creation and the latest
    register and power readings (``MeterValueRepository.around``), which give
    the full read's drift figures, power now and latest power reading while
    the register does not go down (:func:`_tells_as_much_as_all`). When it
    did, the session's samples since its plan (at least ``window`` back),
    as before (bench/sweep.py)."""
    active = await repos.transactions.list(active_only=True, limit=ACTIVE_LIMIT)
    stations = {t.station_id for t in active}
    sites = await repos.sites.sites_of(stations)
    modes = await repos.charging.modes(stations)
    plans = await repos.charging.latest_plans([t.id for t in active])
    few = await repos.meter_values.around([t.id for t in active])
    rows: list[SweepRow] = []
    for t in active:
        plan = plans.get(t.id)
        samples = few[t.id]
        if not _tells_as_much_as_all(t, samples):
            since = now - window if plan is None else min(now - window, plan.created_at)
            samples = await repos.meter_values.for_transaction_since(t.id, since)
        site_id = sites.get(t.station_id)
        key = GroupKey("station", t.station_id) if site_id is None else GroupKey("site", site_id)
        rows.append((key, modes[t.station_id], t, plan, samples))
    return rows


def _tells_as_much_as_all(transaction: Transaction, samples: Sequence[StoredMeterValue]) -> bool:
    """Whether the few samples of ``around`` give what every sample of the
    session would: :func:`~.session_view.behind_kwh`, :func:`power_now_w`
    and :func:`latest_power_reading`.

    Energy: with the meter's start, the register readings bracketing the
    plan and the latest one in order, the energy since the plan is the
    latest reading less the one interpolated at the plan, when no reading
    between them counts differently. A register that only climbs does not;
    a glitch (a low reading the register comes back from) is skipped and
    does not either. What does is a drop that stays (a reset: counted from
    the new value) — seen here as the few readings not climbing, which
    :func:`~.accounting.metered_intervals` reports (any anomaly at all:
    read more). Not seen: a reset between the bracket after the plan and the
    latest reading from which the register climbed back to at least that
    bracket (a lifetime register cannot, within a session), and a bracket
    that is itself a glitch against an earlier reading (the since-read
    missed that one too). Tested through a glitch, per-phase registers, a
    reset and a current without a voltage (test_smart_charging_service).

    Power: the latest power or current reading is the one the full read
    takes when it tells a power; when it does not (a current without a
    voltage), the full read looks further back: read more."""
    if metered_intervals(transaction, samples).anomalies:
        return False
    at = latest_power_reading(samples)
    if at is None:
        return True
    return power_now_w(transaction, [s for s in samples if s.timestamp == at]) is not None


class Replanner:
    """Coalesced group re-plans, the event listener, the sweep, stations that
    come back (see the module docstring)."""

    def __init__(
        self,
        uow: UnitOfWork,
        enforcer: ProfileApplier,
        options: SmartChargingOptions,
        *,
        clock: Clock = utc_now,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._enforcer = enforcer
        self.options = options
        self._clock = clock
        self._events = events
        self._locks: dict[GroupKey, asyncio.Lock] = {}
        self._pending: dict[GroupKey, _Dirty] = {}
        self._targets: dict[str, StationTarget] = {}
        """The target last applied per station (what it holds, for the order)."""
        self._pass_time = timedelta()
        self._drawn: dict[tuple[str, int], datetime] = {}
        """Per (station, connector) with a session, the time of the latest
        power reading its draw was checked at (a reading is checked once)."""
        self._sweeps: list[datetime] = []
        """When the last sweeps started (clock time): how far apart they come."""
        self._runners: dict[GroupKey, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._apply_slots = asyncio.Semaphore(self.options.apply_concurrency)
        self._subscription: Subscription | None = None
        self._configuration_watch: Subscription | None = None
        self._awaiting_configuration: dict[str, list[asyncio.Future[None]]] = {}
        """Per station that came back, the waits for its configuration pass."""
        self._received = 0
        self._handled = 0
        self._caught_up = asyncio.Event()
        """Set while every event received has been handled: a burst of
        plug-ins is all marked dirty before the runner plans."""
        self._caught_up.set()
        self.runs = 0
        """Group plans made (coalescing shows here)."""

    # -- lifecycle -----------------------------------------------------------

    def start(self, *, sweep: bool = True) -> None:
        """Listen for plug-ins and stops (and sweep every ``interval``)."""
        if self._subscription is not None or self._events is None:
            return
        self._subscription = self._events.subscribe(
            self._count, maxsize=10_000, types=("transaction.started", "transaction.stopped")
        )
        self._spawn(self._listen(self._subscription), "smart-charging:listen")
        if sweep:
            self._spawn(self._sweep_forever(), "smart-charging:sweep")

    async def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._configuration_watch is not None:
            self._configuration_watch.close()
            self._configuration_watch = None
        tasks = [*self._tasks, *self._runners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._runners.clear()
        self._pending.clear()
        self._awaiting_configuration.clear()  # of tasks cancelled before they ran

    async def settle(self) -> None:
        """Return once every event received is handled and no re-plan is due
        or running (tests, and a clean stop)."""
        while True:
            await self._caught_up.wait()
            busy = [t for t in self._runners.values() if not t.done()]
            busy += [t for t in self._tasks if t.get_name().startswith(READY_TASK)]
            if not busy:
                return
            await asyncio.gather(*busy, return_exceptions=True)

    @property
    def idle(self) -> bool:
        """Nothing to do now: every event received handled, no group marked
        for a re-plan, no runner or station-ready task running (a test on a
        stepped clock waits for this before it moves time on)."""
        return (
            self._caught_up.is_set()
            and not self._pending
            and all(t.done() for t in self._runners.values())
            and not any(t.get_name().startswith(READY_TASK) for t in self._tasks)
        )

    def _spawn(self, coroutine: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _count(self, event: Event) -> bool:
        self._received += 1
        self._caught_up.clear()
        return True

    def _check_caught_up(self) -> None:
        subscription = self._subscription
        dropped = subscription.dropped if subscription is not None else 0
        if self._handled + dropped >= self._received:
            self._caught_up.set()

    async def _listen(self, subscription: Subscription) -> None:
        async for event in subscription:
            try:
                if event.station_id is not None:
                    reason = "plug-in" if event.type == "transaction.started" else "stop"
                    await self._schedule_station(event.station_id, reason)
            except Exception:
                log.exception("smart charging: event not handled", type=event.type)
            finally:
                self._handled += 1
                self._check_caught_up()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("smart charging sweep failed")

    # -- scheduling ------------------------------------------------------------

    def schedule(self, key: GroupKey, reason: str) -> None:
        """Mark ``key`` for a re-plan (the first reason given is kept, unless
        it re-plans only some sessions and this one re-plans them all)."""
        dirty = self._pending.setdefault(key, _Dirty())
        if dirty.reason is None or (dirty.reason in INCREMENTAL and reason not in INCREMENTAL):
            dirty.reason = reason
        self._ensure_runner(key)

    def schedule_apply(self, key: GroupKey, station_id: str) -> None:
        """Mark ``station_id``'s target for applying from the plans in force
        (a re-plan of ``key``, pending or not, applies it anyway)."""
        self._pending.setdefault(key, _Dirty()).stations.add(station_id)
        self._ensure_runner(key)

    def _ensure_runner(self, key: GroupKey) -> None:
        runner = self._runners.get(key)
        if runner is None or runner.done():
            self._runners[key] = asyncio.create_task(self._drain(key), name=f"smart-charging:{key}")

    async def run_now(
        self, key: GroupKey, reason: str
    ) -> tuple[list[StoredPlan], dict[str, list[ProfileRecord]]]:
        """Re-plan ``key`` now and apply (it covers whatever was pending)."""
        self._pending.pop(key, None)
        return await self.run_group(key, reason)

    async def _schedule_station(self, station_id: str, reason: str) -> None:
        self.schedule(await self._uow.read(lambda r: group_of(r, station_id)), reason)

    async def _drain(self, key: GroupKey) -> None:
        try:
            while key in self._pending:
                await asyncio.sleep(self.options.debounce)
                await self._caught_up.wait()
                dirty = self._pending.pop(key, None)
                if dirty is None:  # planned meanwhile by a direct call
                    continue
                try:
                    if dirty.reason is not None:
                        await self.run_group(key, dirty.reason)
                    else:
                        await self.run_group(key, "reconnect", replan=False, only=dirty.stations)
                except Exception:
                    log.exception("smart charging: re-plan failed", group=str(key))
        finally:
            # no await between the last check of ``_pending`` and here
            if self._runners.get(key) is asyncio.current_task():
                del self._runners[key]

    async def run_group(
        self,
        key: GroupKey,
        reason: str,
        *,
        replan: bool = True,
        only: Collection[str] | None = None,
    ) -> tuple[list[StoredPlan], dict[str, list[ProfileRecord]]]:
        """Plan the group (or reuse its plans in force) and apply the targets
        of its members (or of ``only``)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            now = self._clock()
            defaults = self.options.defaults
            inputs = await self._uow.read(lambda r: gather(r, key, now, defaults))
            stored: list[StoredPlan] = []
            if replan:
                self.runs += 1
                # In a thread: a site's LP takes up to seconds, and every station
                # socket of the node waits on this loop (bench/planner_stall.py:
                # the longest stall falls from ~700 ms to ~20-60 ms for 200 cars).
                fresh = await asyncio.to_thread(plan_group, inputs, reason)

                async def store(repos: Repositories) -> list[StoredPlan]:
                    return [await repos.charging.add_plan(plan) for plan in fresh]

                stored = await self._uow.run(store) if fresh else []
                # sessions not re-planned (an incremental re-plan) keep theirs
                plans = {
                    s.transaction.id: s.latest_plan
                    for _, s in inputs.sessions
                    if s.latest_plan is not None
                }
                plans.update({plan.transaction_id: plan for plan in stored})
            else:
                plans = {
                    s.transaction.id: s.latest_plan
                    for _, s in inputs.sessions
                    if s.latest_plan is not None
                }
            targets = station_targets(inputs, plans, self.options.offline_limit_kw)
            if only is not None:
                targets = [t for t in targets if t.station_id in only]
            return stored, await self._apply(targets)

    async def _apply(self, targets: Sequence[StationTarget]) -> dict[str, list[ProfileRecord]]:
        """Apply in two waves, the stations whose limit goes down first, so
        the site's cap holds during the change (see :mod:`.apply_order`).
        The transition window is twice what the last pass took on the clock,
        at least :data:`MIN_TRANSITION`."""
        start = self._clock()
        window = max(MIN_TRANSITION, 2 * self._pass_time)
        down, up = waves(self._targets, targets, start, start + window)
        applied: dict[str, list[ProfileRecord]] = {}
        for wave in (down, up):
            if wave:
                applied |= await self._apply_wave(wave)
        self._pass_time = self._clock() - start
        return applied

    async def _apply_wave(self, targets: Sequence[StationTarget]) -> dict[str, list[ProfileRecord]]:
        async def one(target: StationTarget) -> list[ProfileRecord]:
            async with self._apply_slots:
                return await self._enforcer.apply(target)

        results = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
        applied: dict[str, list[ProfileRecord]] = {}
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.warning(
                    "smart charging: apply failed", station=target.station_id, error=repr(result)
                )
                applied[target.station_id] = []
                self._targets.pop(target.station_id, None)  # unknown now: down first next time
            else:
                applied[target.station_id] = result
                self._targets[target.station_id] = target
        return applied

    # -- stations coming back, the sweep --------------------------------------

    def station_ready(self, station_id: str) -> None:
        """The station answered its first message on a connection: in the
        background, wait for its configuration pass, re-assert its profiles,
        install its offline default and re-plan if it has sessions."""
        waiter: asyncio.Future[None] | None = None
        if self._events is not None:
            if self._configuration_watch is None:  # here, not in start(): works without it
                self._configuration_watch = self._events.subscribe(
                    self._configuration_done, maxsize=1, types=("command.finished",)
                )
            waiter = asyncio.get_running_loop().create_future()
            self._awaiting_configuration.setdefault(station_id, []).append(waiter)
        self._spawn(self._ready(station_id, waiter), f"{READY_TASK}{station_id}")

    def _configuration_done(self, event: Event) -> bool:
        """Release the stations waiting for this GetConfiguration. One
        subscription for them all, so a reconnect storm of N stations costs a
        dict lookup per event, not N filters (a subscription per station
        did). It runs in ``publish`` and queues nothing (returns False): a
        waiter sees only what finished after it started waiting, as a
        subscription made then would, and no task has to drain a queue."""
        if event.station_id is not None and event.data.get("action") == "GetConfiguration":
            for waiter in self._awaiting_configuration.pop(event.station_id, ()):
                if not waiter.done():
                    waiter.set_result(None)
        return False

    def _stop_waiting(self, station_id: str, waiter: asyncio.Future[None]) -> None:
        waiters = self._awaiting_configuration.get(station_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._awaiting_configuration[station_id]

    async def _ready(self, station_id: str, waiter: asyncio.Future[None] | None) -> None:
        try:
            if waiter is not None:
                try:
                    async with asyncio.timeout(self.options.ready_timeout):
                        await waiter
                    # the snapshot is written right after the command's commit
                    await self._uow.read(lambda r: r.configuration.snapshot(station_id))
                except TimeoutError:
                    log.info("smart charging: no configuration pass seen", station=station_id)
                finally:
                    self._stop_waiting(station_id, waiter)
            await self.reconnected(station_id)
        except Exception:
            log.exception("smart charging: station ready failed", station=station_id)

    async def reconnected(self, station_id: str) -> None:
        """Re-assert the station's profiles; re-plan its group if it has
        sessions, else apply its target from the plans in force. Both go
        through the group's runner: twenty stations booting together cost one
        pass over the site, not twenty in a row that a plug-in's re-plan would
        wait behind (the e2e test saw the first plan of the night come two
        simulated hours late that way)."""
        await self._enforcer.reassert(station_id)

        async def read(repos: Repositories) -> tuple[GroupKey, bool]:
            key = await group_of(repos, station_id)
            active = await repos.transactions.list(station_id=station_id, active_only=True, limit=1)
            return key, bool(active)

        key, active = await self._uow.read(read)
        if active:
            self.schedule(key, "reconnect")
        else:
            self.schedule_apply(key, station_id)

    async def sweep(self) -> None:
        """Drift checks, draw checks, due re-sends (see the module docstring)."""
        now = self._clock()
        self._sweeps = [*self._sweeps[-(SWEEPS_KEPT - 1) :], now]
        window = max(POWER_WINDOW, 2 * self.sweep_period())
        started = time.perf_counter()  # real time: what the sweep costs the node
        rows = await self._uow.read(lambda r: _sweep_rows(r, now, window))
        read_s = time.perf_counter() - started
        drifted: dict[GroupKey, None] = {}
        drawn: dict[tuple[str, int], datetime] = {}
        checks = 0
        for key, mode, transaction, plan, samples in rows:
            at = latest_power_reading(samples)
            power = power_now_w(transaction, samples)
            connector = (transaction.station_id, transaction.connector_id)
            checked = self._drawn.get(connector)
            if checked is not None:
                drawn[connector] = checked
            # A reading checked once is not checked again: its verdict stands
            # (no profile bounding it has changed since, or a change sent after
            # it makes it no evidence), and each check loads the station.
            if power is not None and at is not None and (checked is None or at > checked):
                checks += 1
                try:
                    await self._enforcer.check_draw(
                        transaction.station_id, transaction.connector_id, power / 1000.0, at
                    )
                    drawn[connector] = at
                except Exception:
                    log.exception("draw check failed", station=transaction.station_id)
            if mode is ChargingMode.SMART and plan is not None:
                if self._drifted(transaction, plan, samples):
                    drifted[key] = None
        self._drawn = drawn  # connectors without a session now are forgotten
        log.info(
            "smart charging sweep",
            sessions=len(rows),
            samples=sum(len(row[4]) for row in rows),
            draw_checks=checks,
            drifted=len(drifted),
            read_ms=round(read_s * 1000, 1),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        for key in drifted:
            self.schedule(key, "drift")
        await self._enforcer.resend_due(within=2 * self.sweep_period())

    def sweep_period(self) -> timedelta:
        """The longest time between recent sweeps on the clock (``interval``
        before there are two): a clock running faster than real time (tests)
        or a sweep slowed by its work makes it longer than ``interval``."""
        times = self._sweeps
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return max(gaps, default=timedelta(seconds=self.options.interval))

    def _drifted(
        self, transaction: Transaction, plan: StoredPlan, samples: Sequence[StoredMeterValue]
    ) -> bool:
        """Metered energy since the plan was made vs the plan's, up to the
        latest reading (meter values lag; the plan up to now would not)."""
        planned, metered = behind_kwh(transaction, plan, samples)
        if planned - metered > BEHIND_KWH:
            return True  # behind its plan: re-planned alone (see live_plan.plan_group)
        gap = abs(metered - planned)
        return gap > self.options.drift_floor_kwh and gap > self.options.drift * planned
