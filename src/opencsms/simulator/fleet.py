"""A fleet of simulated stations in one asyncio process.

Ten thousand stations must fit on a 2-core machine, so per-station cost is
what the station library already has (a link task, a sender task, one timer
task) and nothing more: arrivals, departures and faults of the whole fleet
live in one :class:`Agenda` (a heap and one task) on the fleet's clock; EV
departures are the station's own timer. Statistics go into one shared
:class:`~opencsms.simulator.stats.FleetStats` through each station's
:class:`~opencsms.simulator.stats.StatsJournal`.

Time: the system clock, a :class:`ScaledClock` (``speed`` simulated seconds
per real second: heartbeats, meter intervals, stays and reconnect backoff
all shrink; in :mod:`.timebase`), or a :class:`~opencsms.chargepoint.clock.FakeClock` that a test
moves with :meth:`Fleet.advance`, which waits for the network to go quiet
between steps.

Load mode (``load=True``) measures a server instead of simulating a day:
stations count as registered already (a reconnect without a reboot, so no
BootNotification - a raw echo server would answer it with ``{}``) and each
keeps one CALL outstanding (MeterValues, with a Heartbeat and a
StatusNotification every tenth), or sends ``load_rate`` per second.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from opencsms.chargepoint.clock import Clock, FakeClock, SystemClock, ocpp_time
from opencsms.chargepoint.connection import ConnectionSettings
from opencsms.chargepoint.metering import meter_value
from opencsms.simulator.ev import EV
from opencsms.simulator.scenario import DEFAULT, Fault, Scenario, StationModel, Visit
from opencsms.simulator.station import SimulatedStation
from opencsms.simulator.stats import FleetStats, StatsJournal
from opencsms.simulator.timebase import Agenda, raise_fd_limit

UNREACHABLE = "wss://127.0.0.1:1/ocpp"
"""Where a station in a scripted outage tries to connect (refused at once)."""


@dataclass(frozen=True, slots=True)
class StationSpec:
    identity: str
    key: str | None
    model: StationModel = field(default_factory=StationModel)
    first_tag: int | None = None
    """Index of the id tag of its connector 1 in the whole fleet (set by
    :func:`specs_for`), so fleets split over processes never share a tag."""


@dataclass(slots=True)
class FleetOptions:
    url: str
    ca_file: str | None = None
    scenario: Scenario = DEFAULT
    ramp: float = 200.0
    """Connection attempts started per real second (0: all at once)."""
    load: bool = False
    load_rate: float = 0.0
    """Load mode: CALLs per second per station; 0 keeps one outstanding all the time."""
    seed: int = 1
    response_timeout: float = 30.0
    open_timeout: float = 60.0
    keep_journal: bool = False
    key_encoding: str = "hex"
    hold_load: bool = False
    """Load mode: wait for :attr:`Fleet.load_gate` before sending."""


@dataclass(slots=True)
class _Member:
    """One station of the fleet and what the fleet needs to know about it."""

    index: int
    station: SimulatedStation
    settings: ConnectionSettings
    first_tag: int
    offline_until: datetime | None = None


class Fleet:
    def __init__(
        self, specs: list[StationSpec], options: FleetOptions, clock: Clock | None = None
    ) -> None:
        self.options = options
        self.scenario = options.scenario
        self.clock: Clock = clock or SystemClock()
        self.rng = random.Random(options.seed)
        self.stats = FleetStats(stations=len(specs))
        self.agenda = Agenda(self.clock)
        self._context = _client_context(options)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started_at = 0.0
        self._monitor: asyncio.Task[None] | None = None
        self._initial_wh = 0.0
        self._final = False
        self.load_gate = asyncio.Event()
        """Load mode: stations send only once this is set (a benchmark sets it when
        all are connected, so connecting and sustained load are measured apart)."""
        if not options.hold_load:
            self.load_gate.set()
        self.members: list[_Member] = []
        connectors = max((_first_tag(s, 0) + s.model.connectors for s in specs), default=0)
        connectors = max(connectors, sum(s.model.connectors for s in specs))
        self.tags = self.scenario.tag_ids(connectors)
        config = {
            "MeterValueSampleInterval": str(self.scenario.meter_interval),
            "MeterValuesSampledData": ",".join(self.scenario.measurands),
        }
        first_tag = 0
        for index, spec in enumerate(specs):
            model = spec.model
            station = SimulatedStation(
                spec.identity,
                connectors=model.connectors,
                max_current=model.max_current,
                phases=model.phases,
                voltage=model.voltage,
                vendor=model.vendor,
                model=model.model,
                clock=self.clock,
                config={**config, **model.config},
                authorization_key=spec.key,
                quirks=model.quirks,
                keep_journal=False,
                rng=self.rng,
            )
            station.journal = StatsJournal(self.stats, keep=options.keep_journal)
            settings = ConnectionSettings(
                url=options.url,
                ssl_context=self._context,
                key_encoding=options.key_encoding,  # type: ignore[arg-type]
                response_timeout=options.response_timeout,
                open_timeout=options.open_timeout,
                validate=not options.load,
            )
            self.members.append(_Member(index, station, settings, _first_tag(spec, first_tag)))
            first_tag += model.connectors
        self.by_id = {m.station.identity: m for m in self.members}

    @property
    def stations(self) -> list[SimulatedStation]:
        return [m.station for m in self.members]

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Schedule the scenario and start connecting (returns while the ramp runs)."""
        raise_fd_limit(len(self.members) * 2 + 256)
        self._started_at = time.perf_counter()
        self._initial_wh = sum(o.energy_wh for m in self.members for o in m.station.outlets)
        if not self.options.load:
            self._schedule_scenario()
        self.agenda.start()
        self._spawn(self._connect_all())
        self._monitor = asyncio.create_task(self._watch_connected())

    async def stop(self) -> None:
        await self.agenda.stop()
        for task in list(self._tasks) + ([self._monitor] if self._monitor else []):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._monitor is not None:
            await asyncio.gather(self._monitor, return_exceptions=True)
        self.snapshot()  # final energy and counts while the stations still exist
        self._final = True  # later snapshots (a display) must not count closing sockets
        for start in range(0, len(self.members), 500):
            batch = self.members[start : start + 500]
            await asyncio.gather(*(m.station.close() for m in batch), return_exceptions=True)

    async def run(self, duration: float | None) -> FleetStats:
        """Start, run for ``duration`` simulated seconds (None: until cancelled), stop."""
        await self.start()
        try:
            if duration is None:
                await asyncio.Event().wait()
            await self.clock.sleep(duration)  # type: ignore[arg-type]
        finally:
            await self.stop()
        return self.stats

    def snapshot(self) -> FleetStats:
        """Refresh the gauges (connected, energy, connects) and return the live stats."""
        stats = self.stats
        if self._final:
            return stats
        connected = connects = failures = 0
        energy = 0.0
        for member in self.members:
            link = member.station.connection
            if link is not None:
                connects += link.connects
                failures += link.failures
                connected += link.connected.is_set()
            for outlet in member.station.outlets:
                outlet.advance()
                energy += outlet.energy_wh
        stats.connected, stats.connects, stats.connect_failures = connected, connects, failures
        stats.energy_wh = energy - self._initial_wh
        stats.elapsed = time.perf_counter() - self._started_at
        return stats

    # -- connecting ----------------------------------------------------------------

    async def _connect_all(self) -> None:
        ramp = self.options.ramp
        batch = max(1, int(ramp / 100)) if ramp > 0 else len(self.members)
        for start in range(0, len(self.members), batch):
            for member in self.members[start : start + batch]:
                if self.options.load:
                    member.station.cp.registration = "Accepted"
                await member.station.connect(member.settings)
                if self.options.load:
                    self._spawn(self._load_loop(member))
            if ramp > 0:
                await asyncio.sleep(batch / ramp)

    async def _watch_connected(self) -> None:
        total = len(self.members)
        while True:
            await asyncio.sleep(0.02)
            links = (m.station.connection for m in self.members)
            up = sum(1 for link in links if link is not None and link.connected.is_set())
            if up >= total:
                self.stats.all_connected_after = time.perf_counter() - self._started_at
                return

    # -- sessions ------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.errors += 1

    def member(self, selector: int | str) -> _Member | None:
        if isinstance(selector, int):
            return self.members[selector - 1] if 0 < selector <= len(self.members) else None
        return self.by_id.get(selector)

    def _schedule_scenario(self) -> None:
        scenario, rng = self.scenario, self.rng
        if scenario.random_sessions:
            for member in self.members:
                for connector in range(1, len(member.station.outlets) + 1):
                    first = rng.uniform(0, scenario.arrivals.first_within)
                    self._plan_arrival(member, connector, first)
        for visit in scenario.sessions:
            target = self.member(visit.station)
            if target is not None:
                self.agenda.after(visit.arrive, self._visit(target, visit))
        for fault in scenario.faults:
            target = self.member(fault.station)
            if target is not None:
                self.agenda.after(fault.at, self._fault(target, fault))

    def _plan_arrival(self, member: _Member, connector: int, delay: float) -> None:
        def arrive() -> None:
            self._spawn(self._random_session(member, connector))

        self.agenda.after(delay, arrive)

    async def _random_session(self, member: _Member, connector: int) -> None:
        arrivals, mix, rng = self.scenario.arrivals, self.scenario.ev, self.rng
        stay = max(arrivals.stay_min, rng.gauss(arrivals.stay_mean, arrivals.stay_sd))
        ev = EV(
            battery_kwh=rng.choice(mix.battery_kwh),
            soc=rng.uniform(*mix.soc),
            max_power_w=rng.choice(mix.max_power_kw) * 1000.0,
            reports_soc=rng.random() < mix.reports_soc,
            departure=self.clock.now() + timedelta(seconds=stay),
        )
        self._plan_arrival(member, connector, stay + rng.expovariate(1 / arrivals.mean_gap))
        await self._session(member, connector, ev, None)

    def _visit(self, member: _Member, visit: Visit) -> Callable[[], None]:
        def arrive() -> None:
            ev = EV(
                battery_kwh=visit.battery_kwh,
                soc=visit.soc,
                max_power_w=visit.max_power_kw * 1000.0,
                departure=self.clock.now() + timedelta(seconds=visit.leave - visit.arrive),
            )
            self._spawn(self._session(member, visit.connector, ev, visit.tag))

        return arrive

    async def _session(self, member: _Member, connector: int, ev: EV, tag: str | None) -> None:
        station = member.station
        if connector > len(station.outlets) or station.outlets[connector - 1].ev is not None:
            return  # the previous car is still there (an explicit visit overlapping)
        link = station.connection
        if ev.departure is not None and (link is None or link.connects == 0):
            # the station has not come up yet (ramp): the driver waits a minute
            ev.departure += timedelta(seconds=60)
            self.agenda.after(60, lambda: self._spawn(self._session(member, connector, ev, tag)))
            return
        await station.plug_in(connector, ev)
        id_tag = tag or self.tags[(member.first_tag + connector - 1) % len(self.tags)]
        status = await station.present_tag(id_tag, connector)
        if status == "Accepted":
            self.stats.sessions += 1
        else:
            self.stats.rejected += 1

    # -- faults --------------------------------------------------------------------

    def _fault(self, member: _Member, fault: Fault) -> Callable[[], None]:
        def happen() -> None:
            if fault.kind == "faulted":
                self.stats.faults += 1
                self._spawn(member.station.fault(fault.connector, fault.error_code))
                if fault.clear_after is not None:
                    self.agenda.after(
                        fault.clear_after,
                        lambda: self._spawn(member.station.clear_fault(fault.connector)),
                    )
            else:
                self.stats.drops += 1
                self._spawn(self.drop(member, fault.close_frame, fault.offline_for))

        return happen

    async def drop(
        self, member: _Member, close_frame: bool = True, offline_for: float = 0.0
    ) -> None:
        """Cut a station's link; with ``offline_for`` it cannot reconnect for that long."""
        if offline_for > 0:
            member.settings.url = UNREACHABLE
            member.offline_until = self.clock.now() + timedelta(seconds=offline_for)
            self.agenda.after(offline_for, lambda: self._back_online(member))
        await member.station.drop_connection(close_frame)
        journal = member.station.journal
        if isinstance(journal, StatsJournal):
            journal.forget_outstanding()

    def _back_online(self, member: _Member) -> None:
        member.settings.url = self.options.url
        member.offline_until = None

    # -- load mode -----------------------------------------------------------------

    async def _load_loop(self, member: _Member) -> None:
        station, cp = member.station, member.station.cp
        link = station.connection
        assert link is not None
        rate = self.options.load_rate
        measurands = list(self.scenario.measurands)
        await self.load_gate.wait()
        for n in itertools.count():
            await link.connected.wait()
            if n % 10 == 0:
                action, payload = "Heartbeat", {}
            elif n % 10 == 5:
                action, payload = (
                    "StatusNotification",
                    {
                        "connectorId": 1,
                        "errorCode": "NoError",
                        "status": "Available",
                        "timestamp": ocpp_time(self.clock.now()),
                    },
                )
            else:
                reading = await station.outlets[0].read()
                value = meter_value(
                    self.clock.now(),
                    reading,
                    measurands,
                    phases=cp.info.phases,
                    voltage=cp.info.voltage,
                )
                action, payload = "MeterValues", {"connectorId": 1, "meterValue": [value]}
            began = time.perf_counter()
            if await cp.request(action, payload) is None:
                self.stats.errors += 1
                await asyncio.sleep(0.1)
            if rate > 0:
                await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - began)))

    # -- stepping a FakeClock --------------------------------------------------------

    def quiet(self) -> bool:
        """Nothing running, and every connected station registered with an empty queue.

        A station that never connected yet counts as busy; one that lost its link
        is waiting out a backoff on the clock, so it cannot settle before time moves.
        """
        if self._tasks:
            return False
        for member in self.members:
            cp, link = member.station.cp, member.station.connection
            if link is None:
                return False
            if not link.connected.is_set():
                if link.connects == 0 and member.offline_until is None:
                    return False
                continue
            if not cp.online or len(cp.queue):
                return False
        return True

    async def settle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait (real time) until :meth:`quiet`: the network caught up with the clock."""
        async with asyncio.timeout(timeout):
            while not self.quiet():  # noqa: ASYNC110 - no event covers the whole fleet
                await asyncio.sleep(0.005)

    async def advance(self, seconds: float, step: float = 10.0) -> None:
        """Move a FakeClock on in ``step`` s increments, settling after each."""
        assert isinstance(self.clock, FakeClock), "advance() drives a FakeClock"
        remaining = seconds
        while remaining > 1e-9:
            chunk = min(step, remaining)
            await self.clock.advance(chunk)
            remaining -= chunk
            await self.settle()


def _client_context(options: FleetOptions) -> ssl.SSLContext | None:
    """One TLS context for the whole fleet (building one per station costs ~1 ms and memory)."""
    if not options.url.startswith("wss://"):
        return None
    return ssl.create_default_context(cafile=options.ca_file)


def specs_for(
    count: int,
    keys: dict[str, str],
    scenario: Scenario,
    prefix: str = "SIM",
    default_key: str | None = None,
) -> list[StationSpec]:
    """Station ids, keys and models: ids from the keys file when it has enough,
    else ``<prefix>00001``...; models from the scenario."""
    models = scenario.fleet_models(count)
    ids = (
        list(keys)[:count]
        if len(keys) >= count
        else [f"{prefix}{i:05d}" for i in range(1, count + 1)]
    )
    specs, first_tag = [], 0
    for identity, model in zip(ids, models, strict=True):
        specs.append(
            StationSpec(identity, keys.get(identity, default_key), replace(model), first_tag)
        )
        first_tag += model.connectors
    return specs


def _first_tag(spec: StationSpec, default: int) -> int:
    return default if spec.first_tag is None else spec.first_tag


def with_station_ids(scenario: Scenario, specs: list[StationSpec]) -> Scenario:
    """Turn 1-based index selectors of visits and faults into station ids, so a
    fleet split over processes still means the same stations."""

    def resolve(selector: int | str) -> int | str:
        if isinstance(selector, int) and 0 < selector <= len(specs):
            return specs[selector - 1].identity
        return selector

    return replace(
        scenario,
        sessions=tuple(replace(v, station=resolve(v.station)) for v in scenario.sessions),
        faults=tuple(replace(f, station=resolve(f.station)) for f in scenario.faults),
    )
