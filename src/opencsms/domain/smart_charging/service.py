"""Live smart charging: signals, sites and needs in; plans and station targets out.

The service decides *what* every station should draw; the
:class:`ProfileApplier` (the enforcer, ``enforcement.py``) turns each
:class:`~.records.StationTarget` into OCPP profiles, sends and verifies them.
See ``docs/adr/0004-live-smart-charging.md``.

How work is triggered, and why this way:

- **Re-plans are per group** (a site, or a station outside any site) and are
  *coalesced*: a trigger marks the group dirty and one runner per group
  re-plans after a short debounce, again if it was marked while planning. So
  20 plug-ins in a second cost one or two plans, and two plans of one site
  never run at once (a lock per group also covers the direct calls).
- **Triggers**: ``transaction.started`` (plug-in) and ``transaction.stopped``
  (capacity freed) from the event bus; the operator's signals, needs, sites,
  events and switch; a station that comes back (:meth:`station_ready`); and a
  periodic :meth:`sweep` that re-plans a session whose metered energy drifted
  from its plan, reports each connector's measured power to the enforcer,
  and lets the enforcer re-send schedules that were cut short.
- **A station that comes back** waits (bounded) for the configuration pass
  that provisioning runs on the same connection, watched through the
  ``command.finished`` event of its GetConfiguration: the enforcer builds
  profiles from the capabilities in that snapshot. Then its profiles are
  re-asserted and, if it has sessions, its group re-planned.

Operator calls that change the plan inputs (a need, a site, events, signals)
return once the change is stored; the re-plan follows in the background.
:meth:`switch` and :meth:`replan` plan and apply before they return.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import UnknownStation
from opencsms.domain.events import Event, EventBus, Subscription
from opencsms.domain.model import StoredMeterValue, Transaction
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.smart_charging.accounting import (
    AccountingError,
    SavingsReport,
    SessionAccount,
    account_session,
    metered_intervals,
    savings_report,
)
from opencsms.domain.smart_charging.estimates import power_now_w
from opencsms.domain.smart_charging.grid import (
    FlexEvent,
    GridError,
    apply_events,
    effective_cap,
)
from opencsms.domain.smart_charging.live_inputs import (
    ACTIVE_LIMIT,
    GroupKey,
    LiveDefaults,
    assumed_need,
    gather,
    group_of,
    latest_power_reading,
    max_power_kw,
)
from opencsms.domain.smart_charging.live_plan import plan_group, station_targets
from opencsms.domain.smart_charging.planner import OBJECTIVE_MODES
from opencsms.domain.smart_charging.rates import Rate, RateError, normalise
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    ChargingMode,
    ChargingNeed,
    ProfileRecord,
    SeriesSummary,
    Site,
    StationTarget,
    StoredPlan,
)
from opencsms.domain.smart_charging.session_view import (
    SessionPlanView,
    SiteLoad,
    energy_between,
    metered_between,
    planned_load,
    series_of,
    session_view,
)

__all__ = [
    "InvalidRequest",
    "ProfileApplier",
    "SessionPlanView",
    "SiteLoad",
    "SmartChargingOptions",
    "SmartChargingService",
    "UnknownSite",
    "UnknownTransaction",
]

log = structlog.get_logger("opencsms.smart_charging")

PAGE = 1000
READY_TASK = "smart-charging-ready:"


class UnknownSite(LookupError):
    """No site with this id."""


class UnknownTransaction(LookupError):
    """No transaction with this id."""


class InvalidRequest(ValueError):
    """A need, site, event or signal that cannot be used; the message says why."""


class ProfileApplier(Protocol):
    """What the service asks of the enforcer (``enforcement.ProfileEnforcer``)."""

    async def apply(self, target: StationTarget) -> list[ProfileRecord]: ...
    async def reassert(self, station_id: str) -> object: ...
    async def check_draw(
        self, station_id: str, connector_id: int, measured_kw: float, at: datetime
    ) -> object: ...
    async def resend_due(self) -> int: ...
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


SweepRow = tuple[GroupKey, ChargingMode, Transaction, StoredPlan | None, list[StoredMeterValue]]


async def _sweep_rows(repos: Repositories) -> list[SweepRow]:
    rows: list[SweepRow] = []
    for t in await repos.transactions.list(active_only=True, limit=ACTIVE_LIMIT):
        rows.append(
            (
                await group_of(repos, t.station_id),
                await repos.charging.mode(t.station_id),
                t,
                await repos.charging.latest_plan(t.id),
                await repos.meter_values.for_transaction(t.id),
            )
        )
    return rows


def _aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None:
        raise InvalidRequest(f"{what} must have a time zone")


class SmartChargingService:
    def __init__(
        self,
        uow: UnitOfWork,
        enforcer: ProfileApplier,
        *,
        options: SmartChargingOptions | None = None,
        clock: Clock = utc_now,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._enforcer = enforcer
        self.options = options or SmartChargingOptions()
        self._clock = clock
        self._events = events
        self._locks: dict[GroupKey, asyncio.Lock] = {}
        self._pending: dict[GroupKey, str] = {}
        self._runners: dict[GroupKey, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._apply_slots = asyncio.Semaphore(self.options.apply_concurrency)
        self._subscription: Subscription | None = None
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
        tasks = [*self._tasks, *self._runners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._runners.clear()
        self._pending.clear()

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

    def _schedule(self, key: GroupKey, reason: str) -> None:
        self._pending.setdefault(key, reason)
        runner = self._runners.get(key)
        if runner is None or runner.done():
            self._runners[key] = asyncio.create_task(self._drain(key), name=f"smart-charging:{key}")

    async def _schedule_station(self, station_id: str, reason: str) -> None:
        self._schedule(await self._uow.read(lambda r: group_of(r, station_id)), reason)

    async def _drain(self, key: GroupKey) -> None:
        try:
            while key in self._pending:
                await asyncio.sleep(self.options.debounce)
                await self._caught_up.wait()
                reason = self._pending.pop(key, None)
                if reason is None:  # planned meanwhile by a direct call
                    continue
                try:
                    await self._run_group(key, reason)
                except Exception:
                    log.exception("smart charging: re-plan failed", group=str(key))
        finally:
            # no await between the last check of ``_pending`` and here
            if self._runners.get(key) is asyncio.current_task():
                del self._runners[key]

    async def _run_group(
        self, key: GroupKey, reason: str, *, replan: bool = True, only: str | None = None
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
                fresh = plan_group(inputs, reason)

                async def store(repos: Repositories) -> list[StoredPlan]:
                    return [await repos.charging.add_plan(plan) for plan in fresh]

                stored = await self._uow.run(store) if fresh else []
                plans = {plan.transaction_id: plan for plan in stored}
            else:
                plans = {
                    s.transaction.id: s.latest_plan
                    for _, s in inputs.sessions
                    if s.latest_plan is not None
                }
            targets = station_targets(inputs, plans, self.options.offline_limit_kw)
            if only is not None:
                targets = [t for t in targets if t.station_id == only]
            return stored, await self._apply(targets)

    async def _apply(self, targets: Sequence[StationTarget]) -> dict[str, list[ProfileRecord]]:
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
            else:
                applied[target.station_id] = result
        return applied

    # -- stations coming back, the sweep --------------------------------------

    def station_ready(self, station_id: str) -> None:
        """The station answered its first message on a connection: in the
        background, wait for its configuration pass, re-assert its profiles,
        install its offline default and re-plan if it has sessions."""
        watch = None
        if self._events is not None:
            watch = self._events.subscribe(
                lambda e: e.station_id == station_id and e.data.get("action") == "GetConfiguration",
                maxsize=4,
                types=("command.finished",),
            )
        self._spawn(self._ready(station_id, watch), f"{READY_TASK}{station_id}")

    async def _ready(self, station_id: str, watch: Subscription | None) -> None:
        try:
            if watch is not None:
                try:
                    async with asyncio.timeout(self.options.ready_timeout):
                        await watch.get()
                    # the snapshot is written right after the command's commit
                    await self._uow.read(lambda r: r.configuration.snapshot(station_id))
                except TimeoutError:
                    log.info("smart charging: no configuration pass seen", station=station_id)
                finally:
                    watch.close()
            await self.reconnected(station_id)
        except Exception:
            log.exception("smart charging: station ready failed", station=station_id)

    async def reconnected(self, station_id: str) -> None:
        """Re-assert the station's profiles; re-plan its group if it has
        sessions, else apply its target from the plans in force."""
        await self._enforcer.reassert(station_id)

        async def read(repos: Repositories) -> tuple[GroupKey, bool]:
            key = await group_of(repos, station_id)
            active = await repos.transactions.list(station_id=station_id, active_only=True, limit=1)
            return key, bool(active)

        key, active = await self._uow.read(read)
        if active:
            self._schedule(key, "reconnect")
        else:
            await self._run_group(key, "reconnect", replan=False, only=station_id)

    async def sweep(self) -> None:
        """Drift checks, draw checks, due re-sends (see the module docstring)."""
        rows = await self._uow.read(_sweep_rows)
        drifted: dict[GroupKey, None] = {}
        for key, mode, transaction, plan, samples in rows:
            at = latest_power_reading(samples)
            power = power_now_w(transaction, samples)
            if power is not None and at is not None:
                try:
                    await self._enforcer.check_draw(
                        transaction.station_id, transaction.connector_id, power / 1000.0, at
                    )
                except Exception:
                    log.exception("draw check failed", station=transaction.station_id)
            if mode is ChargingMode.SMART and plan is not None:
                if self._drifted(transaction, plan, samples):
                    drifted[key] = None
        for key in drifted:
            self._schedule(key, "drift")
        await self._enforcer.resend_due()

    def _drifted(
        self, transaction: Transaction, plan: StoredPlan, samples: Sequence[StoredMeterValue]
    ) -> bool:
        """Metered energy since the plan was made vs the plan's, up to the
        latest reading (meter values lag; the plan up to now would not)."""
        metering = metered_intervals(transaction, samples)
        if not metering.intervals:
            return False
        last = metering.intervals[-1].end
        if last <= plan.created_at:
            return False
        metered = metered_between(metering.intervals, plan.created_at, last)
        planned = energy_between(plan.segments, plan.created_at, last)
        gap = abs(metered - planned)
        return gap > self.options.drift_floor_kwh and gap > self.options.drift * planned

    # -- signals ---------------------------------------------------------------

    async def import_signal(self, series: str, rates: Sequence[Rate], *, requested_by: str) -> int:
        """Store ``rates`` in ``series`` (replacing what they overlap) and
        re-plan every group planned against it, in the background."""
        if not series.strip():
            raise InvalidRequest("a series needs a name")
        if not rates:
            raise InvalidRequest(f"no rates to import into {series!r}")
        try:
            rates = normalise(rates)
        except RateError as error:
            raise InvalidRequest(f"{series}: {error}") from error

        async def work(repos: Repositories) -> tuple[int, list[GroupKey]]:
            for summary in await repos.signals.summaries():
                if summary.series == series and summary.unit != rates[0].unit:
                    raise InvalidRequest(
                        f"{series} is stored in {summary.unit!r}, not {rates[0].unit!r}"
                    )
            count = await repos.signals.replace(series, rates)
            return count, await self._groups_using(repos, series)

        count, groups = await self._uow.run(work)
        log.info("signal imported", series=series, rates=count, by=requested_by)
        for key in groups:
            self._schedule(key, "signals")
        return count

    async def _groups_using(self, repos: Repositories, series: str) -> list[GroupKey]:
        keys = [
            GroupKey("site", site.site_id)
            for site in await repos.sites.list()
            if series in (site.price_series, site.co2_series)
        ]
        if series in (DEFAULT_PRICE_SERIES, DEFAULT_CO2_SERIES):
            active = await repos.transactions.list(active_only=True, limit=ACTIVE_LIMIT)
            for station_id in dict.fromkeys(t.station_id for t in active):
                if await repos.sites.site_of(station_id) is None:
                    keys.append(GroupKey("station", station_id))
        return keys

    async def signal_window(self, series: str, start: datetime, end: datetime) -> list[Rate]:
        _aware(start, "start")
        _aware(end, "end")
        return await self._uow.read(lambda r: r.signals.window(series, start, end))

    async def signal_summaries(self) -> list[SeriesSummary]:
        return await self._uow.read(lambda r: r.signals.summaries())

    # -- sites, membership, events -------------------------------------------

    async def put_site(self, site: Site) -> Site:
        if not site.site_id.strip():
            raise InvalidRequest("a site needs an id")
        if site.limit is not None and site.limit.site_id != site.site_id:
            raise InvalidRequest(
                f"site {site.site_id}: its limit names site {site.limit.site_id!r}"
            )
        if site.objective.mode not in OBJECTIVE_MODES:
            raise InvalidRequest(f"site {site.site_id}: unknown objective {site.objective.mode!r}")
        if not math.isfinite(site.objective.lam) or site.objective.lam < 0:
            raise InvalidRequest(f"site {site.site_id}: lambda must be a number >= 0")
        if not site.price_series.strip() or not site.co2_series.strip():
            raise InvalidRequest(f"site {site.site_id}: series names must not be empty")
        await self._uow.run(lambda r: r.sites.put(site))
        self._schedule(GroupKey("site", site.site_id), "site")
        return site

    async def get_site(self, site_id: str) -> Site | None:
        return await self._uow.read(lambda r: r.sites.get(site_id))

    async def list_sites(self) -> list[Site]:
        return await self._uow.read(lambda r: r.sites.list())

    async def remove_site(self, site_id: str) -> bool:
        """Its stations are planned alone from now on (their cap shares cleared)."""

        async def work(repos: Repositories) -> list[str] | None:
            members = await repos.sites.members(site_id)
            return members if await repos.sites.remove(site_id) else None

        members = await self._uow.run(work)
        if members is None:
            return False
        for station_id in members:
            self._schedule(GroupKey("station", station_id), "site")
        return True

    async def assign_station(self, station_id: str, site_id: str | None) -> None:
        async def work(repos: Repositories) -> GroupKey:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            if site_id is not None and await repos.sites.get(site_id) is None:
                raise UnknownSite(f"site {site_id!r} does not exist")
            before = await group_of(repos, station_id)
            await repos.sites.set_site_of(station_id, site_id)
            return before

        before = await self._uow.run(work)
        after = GroupKey("station", station_id) if site_id is None else GroupKey("site", site_id)
        for key in dict.fromkeys((before, after)):
            self._schedule(key, "site")

    async def _site(self, repos: Repositories, site_id: str) -> Site:
        site = await repos.sites.get(site_id)
        if site is None:
            raise UnknownSite(f"site {site_id!r} does not exist")
        return site

    async def site_members(self, site_id: str) -> list[str]:
        async def work(repos: Repositories) -> list[str]:
            await self._site(repos, site_id)
            return await repos.sites.members(site_id)

        return await self._uow.read(work)

    async def put_events(self, events: Sequence[FlexEvent]) -> list[FlexEvent]:
        """Apply ``events`` the OpenADR way against the stored book (see
        :func:`~.grid.apply_events`); return the events now stored for their keys."""
        now = self._clock()

        async def work(repos: Repositories) -> list[FlexEvent]:
            book: dict[tuple[str, str], FlexEvent] = {}
            for site_id in dict.fromkeys(e.site_id for e in events):
                await self._site(repos, site_id)
                for stored in await repos.sites.events(site_id, include_cancelled=True):
                    book[stored.key] = stored
            after = apply_events(book, events)
            keys = list(dict.fromkeys(e.key for e in events))
            for key in keys:
                if after[key] != book.get(key):
                    await repos.sites.put_event(after[key], now)
            return [after[key] for key in keys]

        stored = await self._uow.run(work)
        for site_id in dict.fromkeys(e.site_id for e in events):
            self._schedule(GroupKey("site", site_id), "events")
        return stored

    async def events(self, site_id: str, *, include_cancelled: bool = False) -> list[FlexEvent]:
        async def work(repos: Repositories) -> list[FlexEvent]:
            await self._site(repos, site_id)
            return await repos.sites.events(site_id, include_cancelled=include_cancelled)

        return await self._uow.read(work)

    async def site_load(self, site_id: str, start: datetime, end: datetime) -> SiteLoad:
        """The members' newest plans summed, against the site's effective cap."""
        _aware(start, "start")
        _aware(end, "end")
        if end <= start:
            raise InvalidRequest("the load window must end after it starts")

        async def work(repos: Repositories) -> SiteLoad:
            site = await self._site(repos, site_id)
            cap: list[Rate] = []
            if site.limit is not None:
                try:
                    cap = effective_cap(site.limit, await repos.sites.events(site_id), start, end)
                except GridError as error:
                    raise InvalidRequest(str(error)) from error
            plans: list[StoredPlan] = []
            for station_id in await repos.sites.members(site_id):
                for t in await repos.transactions.list(
                    station_id=station_id, active_only=True, limit=ACTIVE_LIMIT
                ):
                    plan = await repos.charging.latest_plan(t.id)
                    if plan is not None:
                        plans.append(plan)
            return SiteLoad(site_id, cap, planned_load(plans, start, end))

        return await self._uow.read(work)

    # -- sessions --------------------------------------------------------------

    async def _transaction(self, repos: Repositories, transaction_id: int) -> Transaction:
        transaction = await repos.transactions.get(transaction_id)
        if transaction is None:
            raise UnknownTransaction(f"transaction {transaction_id} does not exist")
        return transaction

    async def set_need(
        self,
        transaction_id: int,
        *,
        energy_kwh: float,
        departure: datetime,
        max_power_kw: float | None = None,
        precondition_minutes: int = 0,
        continuous: bool = False,
        set_by: str,
    ) -> ChargingNeed:
        """Store what the session needs (its total energy, by ``departure``)
        and re-plan its group in the background."""
        _aware(departure, "departure")
        now = self._clock()
        if not math.isfinite(energy_kwh) or energy_kwh <= 0:
            raise InvalidRequest("energy_kwh must be a number > 0")
        if departure <= now:
            raise InvalidRequest(f"departure {departure.isoformat()} is not after now")
        if max_power_kw is not None and (not math.isfinite(max_power_kw) or max_power_kw <= 0):
            raise InvalidRequest("max_power_kw must be a number > 0")
        if precondition_minutes < 0:
            raise InvalidRequest("precondition_minutes must be >= 0")
        need = ChargingNeed(
            transaction_id=transaction_id,
            energy_kwh=energy_kwh,
            departure=departure,
            set_by=set_by,
            updated_at=now,
            max_power_kw=max_power_kw,
            precondition_minutes=precondition_minutes,
            continuous=continuous,
        )

        async def work(repos: Repositories) -> GroupKey:
            transaction = await self._transaction(repos, transaction_id)
            if not transaction.active:
                raise InvalidRequest(f"transaction {transaction_id} has ended")
            await repos.charging.put_need(need)
            return await group_of(repos, transaction.station_id)

        self._schedule(await self._uow.run(work), "need")
        return need

    async def session(self, transaction_id: int) -> SessionPlanView:
        now = self._clock()
        defaults = self.options.defaults

        async def work(repos: Repositories) -> SessionPlanView:
            transaction = await self._transaction(repos, transaction_id)
            return await session_view(repos, transaction, now, defaults)

        return await self._uow.read(work)

    async def replan(self, station_id: str, reason: str) -> list[StoredPlan]:
        """Re-plan the station's group now and apply; the new plans."""

        async def work(repos: Repositories) -> GroupKey:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await group_of(repos, station_id)

        key = await self._uow.read(work)
        self._pending.pop(key, None)  # this plan covers what was pending
        plans, _ = await self._run_group(key, reason)
        return plans

    # -- switch ------------------------------------------------------------------

    async def switch(
        self, station_id: str, mode: ChargingMode, *, requested_by: str
    ) -> list[ProfileRecord]:
        """Store the switch and re-plan the station's group (off: 0 on
        connector 0; on: full power now within the site's cap; smart: planned);
        the station's profiles as applied."""
        mode = ChargingMode(mode)
        now = self._clock()

        async def work(repos: Repositories) -> GroupKey:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            await repos.charging.set_mode(station_id, mode, now)
            return await group_of(repos, station_id)

        key = await self._uow.run(work)
        log.info("charging switched", station=station_id, mode=mode.value, by=requested_by)
        self._pending.pop(key, None)
        _, applied = await self._run_group(key, "switch")
        return applied.get(station_id, [])

    async def mode(self, station_id: str) -> ChargingMode:
        async def work(repos: Repositories) -> ChargingMode:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await repos.charging.mode(station_id)

        return await self._uow.read(work)

    async def station_profiles(self, station_id: str) -> list[ProfileRecord]:
        async def work(repos: Repositories) -> list[ProfileRecord]:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            return await repos.charging.profiles(station_id)

        return await self._uow.read(work)

    # -- reports -----------------------------------------------------------------

    async def savings(
        self,
        start: datetime,
        end: datetime,
        *,
        site_id: str | None = None,
        station_id: str | None = None,
    ) -> SavingsReport:
        """Sessions started in ``[start, end)`` (of a site's current members,
        or of one station), metered, priced with their site's series."""
        _aware(start, "start")
        _aware(end, "end")
        if end <= start:
            raise InvalidRequest("the period must end after it starts")
        defaults = self.options.defaults

        async def work(repos: Repositories) -> SavingsReport:
            stations: set[str] | None = None
            if site_id is not None:
                await self._site(repos, site_id)
                stations = set(await repos.sites.members(site_id))
            accounts: list[SessionAccount] = []
            offset = 0
            while True:
                page = await repos.transactions.list(
                    station_id=station_id,
                    limit=PAGE,
                    started_from=start,
                    started_before=end,
                    offset=offset,
                )
                offset += len(page)
                for t in page:
                    if stations is None or t.station_id in stations:
                        account = await _account(repos, t, defaults, self._clock())
                        if account is not None:
                            accounts.append(account)
                if len(page) < PAGE:
                    break
            try:
                return savings_report(accounts, start, end)
            except AccountingError as error:
                raise InvalidRequest(str(error)) from error

        return await self._uow.read(work)


async def _account(
    repos: Repositories, transaction: Transaction, defaults: LiveDefaults, now: datetime
) -> SessionAccount | None:
    """The session's account with its station's series and its measured power
    as the baseline's (None: a signal unit accounting cannot use)."""
    samples = await repos.meter_values.for_transaction(transaction.id)
    need = await repos.charging.get_need(transaction.id)
    plans = await repos.charging.plans(transaction.id)
    power, _ = max_power_kw(transaction, samples, need, plans, defaults)
    until = transaction.stopped_at or now
    end = max(until, assumed_need(transaction, need, defaults).departure)
    price_series, co2_series = await series_of(repos, transaction.station_id)
    price = await repos.signals.window(price_series, transaction.started_at, end)
    co2 = await repos.signals.window(co2_series, transaction.started_at, end)
    try:
        return account_session(transaction, samples, price, co2, power)
    except AccountingError:
        return None
