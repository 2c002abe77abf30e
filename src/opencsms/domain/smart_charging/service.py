"""Live smart charging, the operator's facade: signals, sites and needs in;
plans and station targets out.

The service decides *what* every station should draw; the
:class:`ProfileApplier` (the enforcer, ``enforcement.py``) turns each
:class:`~.records.StationTarget` into OCPP profiles, sends and verifies them.
*When* a group is re-planned, and how its targets are applied, is
:mod:`.replanning`'s (the coalesced runners, the plug-in/stop listener, the
sweep, stations that come back); this module validates and stores what the
operator changes and marks the groups it affects. See
``docs/adr/0004-live-smart-charging.md``.

Operator calls that change the plan inputs (a need, a site, events, signals)
return once the change is stored; the re-plan follows in the background.
:meth:`SmartChargingService.switch` and :meth:`SmartChargingService.replan`
plan and apply before they return.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import UnknownStation
from opencsms.domain.events import EventBus
from opencsms.domain.model import Transaction
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.smart_charging.accounting import (
    AccountingError,
    SavingsReport,
    SessionAccount,
    savings_report,
)
from opencsms.domain.smart_charging.grid import (
    FlexEvent,
    GridError,
    apply_events,
    effective_cap,
)
from opencsms.domain.smart_charging.live_inputs import ACTIVE_LIMIT, GroupKey, group_of
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
    StoredPlan,
)
from opencsms.domain.smart_charging.replanning import (
    ProfileApplier,
    Replanner,
    SmartChargingOptions,
)
from opencsms.domain.smart_charging.session_view import (
    SessionPlanView,
    SiteLoad,
    planned_load,
    series_of,
    session_account,
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


class UnknownSite(LookupError):
    """No site with this id."""


class UnknownTransaction(LookupError):
    """No transaction with this id."""


class InvalidRequest(ValueError):
    """A need, site, event or signal that cannot be used; the message says why."""


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
        self.options = options or SmartChargingOptions()
        self._clock = clock
        self._events = events
        self._replanner = Replanner(uow, enforcer, self.options, clock=clock, events=events)

    @property
    def runs(self) -> int:
        """Group plans made (coalescing shows here)."""
        return self._replanner.runs

    def _schedule(self, key: GroupKey, reason: str) -> None:
        self._replanner.schedule(key, reason)

    # -- lifecycle, stations coming back, the sweep (see :mod:`.replanning`) ---

    def start(self, *, sweep: bool = True) -> None:
        """Listen for plug-ins and stops (and sweep every ``interval``)."""
        self._replanner.start(sweep=sweep)

    async def close(self) -> None:
        await self._replanner.close()

    async def settle(self) -> None:
        """Return once every event received is handled and no re-plan is due
        or running (tests, and a clean stop)."""
        await self._replanner.settle()

    @property
    def idle(self) -> bool:
        """No event unhandled, no re-plan due or running (see ``Replanner.idle``)."""
        return self._replanner.idle

    def station_ready(self, station_id: str) -> None:
        """The station answered its first message on a connection: in the
        background, wait for its configuration pass, re-assert its profiles,
        install its offline default and re-plan if it has sessions."""
        self._replanner.station_ready(station_id)

    async def reconnected(self, station_id: str) -> None:
        """Re-assert the station's profiles; re-plan its group if it has
        sessions, else apply its target from the plans in force."""
        await self._replanner.reconnected(station_id)

    async def sweep(self) -> None:
        """Drift checks, draw checks, due re-sends."""
        await self._replanner.sweep()

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

    async def station_series(self, station_id: str) -> tuple[str, str]:
        """The (price, CO2) series a station's sessions are planned and priced
        with: its site's, else the defaults (what a session's chart shows)."""
        return await self._uow.read(lambda r: series_of(r, station_id))

    def now(self) -> datetime:
        """This service's clock: readers showing "now" agree with its plans."""
        return self._clock()

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
        plans, _ = await self._replanner.run_now(key, reason)
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
        _, applied = await self._replanner.run_now(key, "switch")
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
                        account = await session_account(repos, t, defaults, self._clock())
                        if account is not None:
                            accounts.append(account)
                if len(page) < PAGE:
                    break
            try:
                return savings_report(accounts, start, end)
            except AccountingError as error:
                raise InvalidRequest(str(error)) from error

        return await self._uow.read(work)
