"""A night of smart charging for the end-to-end test: the fleet, the signals, the arithmetic.

Twenty simulated stations on one site, grouped by maker: every group but one
has a smart-charging quirk of real chargers (stack level 0 only, W only, few
periods, Relative only, a TxProfile needs its transactionId, "Accepted" but
not applied above stack level 0), so the central system must learn each
model's dialect. The cars are 3-phase AC cars (7.4 or 11 kW) that stay
below 80 % state of charge, so they draw exactly what they are offered up to
their own limit (no taper) and the drawn power can be compared with a plan.

The price and CO2 series cover the night in half-hour slots; the hand
arithmetic here (:func:`hand_account`) prices a session's metered energy
slot by slot from the station's *own* register samples, the way issue 5
defines it, independently of ``domain/smart_charging/accounting.py``: linear
within each pair of consecutive readings, split over slots in proportion to
time, and a charge-now baseline of the same energy from the start at a
given power.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opencsms.app import CentralSystem
from opencsms.chargepoint.clock import Clock, FakeClock, parse_time
from opencsms.chargepoint.clock import settle as loop_settle
from opencsms.domain.model import CommandState
from opencsms.simulator.ev import EV
from opencsms.simulator.fleet import Fleet, FleetOptions, StationSpec
from opencsms.simulator.quirks import Quirks
from opencsms.simulator.scenario import Scenario, StationModel

SERIES_START = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
SLOT = timedelta(minutes=30)
PRICES = (
    # 16:00Z .. 10:00Z next day, p/kWh: an evening peak and a cheap small-hours valley
    28.1, 31.5, 35.2, 38.9, 37.4, 33.0, 27.6, 24.3, 22.8, 21.0, 19.7, 18.2,
    17.5, 16.9, 15.8, 14.2, 13.1, 12.6, 12.0, 11.4, 11.9, 12.8, 13.6, 14.9,
    15.5, 16.8, 18.3, 20.9, 23.4, 25.0, 26.2, 27.9, 28.4, 27.0, 25.8, 24.9,
)  # fmt: skip
CO2 = (
    # gCO2/kWh over the same slots
    231, 245, 262, 270, 258, 240, 221, 205, 190, 176, 165, 152,
    140, 131, 125, 118, 112, 108, 104, 101, 99, 103, 110, 121,
    134, 150, 168, 187, 204, 215, 222, 228, 230, 226, 219, 210,
)  # fmt: skip
SERIES_END = SERIES_START + SLOT * len(PRICES)
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")
METER_INTERVAL = 300
V3 = 230.0 * 3


@dataclass(frozen=True, slots=True)
class Rate:
    start: datetime
    end: datetime
    value: float


def series(values: Sequence[float]) -> list[Rate]:
    return [
        Rate(SERIES_START + SLOT * i, SERIES_START + SLOT * (i + 1), v)
        for i, v in enumerate(values)
    ]


def series_csv(values: Sequence[float], unit: str) -> str:
    """The series as the plain CSV format ``POST /signals/{series}?format=csv`` reads."""
    lines = ["start,end,value,unit"]
    for rate in series(values):
        lines.append(
            f"{rate.start:%Y-%m-%dT%H:%M:%SZ},{rate.end:%Y-%m-%dT%H:%M:%SZ},{rate.value},{unit}"
        )
    return "\n".join(lines) + "\n"


# -- the fleet -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    """Stations of one make and model, with that model's quirks."""

    vendor: str
    model: str
    count: int
    quirks: Quirks = field(default_factory=Quirks)
    config: tuple[tuple[str, str], ...] = ()


GROUPS = (
    Group("Alfen", "Eve Single Pro-line", 8),
    Group("ABB", "Terra AC W22-T", 2, Quirks(only_stack_level_0=True)),
    Group("Wallbox", "Commander 2", 2, Quirks(rejected_units=frozenset({"A"}))),
    # honest about its short schedule memory, and strict about it
    Group(
        "KEBA", "KeContact P30 x", 2, Quirks(max_periods=4), (("ChargingScheduleMaxPeriods", "4"),)
    ),
    Group("Delta", "AC MAX", 2, Quirks(required_kind="Relative")),
    Group("Schneider Electric", "EVlink Pro AC", 2, Quirks(tx_profile_needs_transaction_id=True)),
    Group("Hager", "witty start", 2, Quirks(ignore_profiles_above_stack_level_0=True)),
)


def station_models() -> list[tuple[str, StationModel]]:
    """(station id, model) for every station of :data:`GROUPS`, ids naming the group."""
    out: list[tuple[str, StationModel]] = []
    for group in GROUPS:
        model = StationModel(
            name=group.model,
            vendor=group.vendor,
            model=group.model,
            max_current=32.0,
            phases=3,
            quirks=group.quirks,
            config=dict(group.config),
        )
        prefix = group.vendor.split()[0].upper()[:5]
        for n in range(1, group.count + 1):
            out.append((f"{prefix}-{n:02d}", model))
    return out


@dataclass(frozen=True, slots=True)
class Car:
    """One car of the night: at which station, when, how big, what it needs."""

    station_id: str
    tag: str
    arrive: datetime
    departure: datetime
    max_kw: float
    need_kwh: float
    battery_kwh: float = 77.0
    soc: float = 15.0

    @property
    def feasible_alone(self) -> bool:
        """Could the car get its need at full power from arrival (no cap)?"""
        hours = (self.departure - self.arrive).total_seconds() / 3600.0
        return self.need_kwh <= self.max_kw * hours * 0.95

    def ev(self) -> EV:
        return EV(
            battery_kwh=self.battery_kwh,
            soc=self.soc,
            max_power_w=self.max_kw * 1000.0,
            phases=3,
            departure=self.departure,
        )


def night_cars(
    station_ids: Sequence[str],
    arrive: datetime,
    infeasible: int = 3,
    *,
    first_departure: datetime | None = None,
    need: tuple[float, int] = (12.0, 23),
) -> list[Car]:
    """One car per station, arriving within 40 minutes of ``arrive``. The first
    ``infeasible`` leave after two hours needing more than two hours at full power
    can give; the rest leave in the 90 minutes from ``first_departure`` (06:00
    the next day) needing ``base + (7 i mod spread)`` kWh (``need``; 12-34 kWh
    by default: all of which fit under a 45 kW cap in the cheap hours)."""
    cars: list[Car] = []
    morning = first_departure or (
        arrive.replace(hour=6, minute=0, second=0, microsecond=0) + timedelta(days=1)
    )
    base, spread = need
    for i, station_id in enumerate(station_ids):
        at = arrive + timedelta(minutes=2 * i)
        max_kw = 11.0 if i % 2 == 0 else 7.4
        if i < infeasible:
            cars.append(
                Car(station_id, f"NIGHT-{i:02d}", at, at + timedelta(hours=2), max_kw, 30.0)
            )
            continue
        departure = morning + timedelta(minutes=15 * (i % 7))
        kwh = base + (i * 7) % spread
        cars.append(Car(station_id, f"NIGHT-{i:02d}", at, departure, max_kw, float(kwh)))
    return cars


def make_fleet(
    keys: dict[str, str], url: str, ca_file: str, clock: Clock
) -> tuple[Fleet, list[str]]:
    models = station_models()
    specs = [StationSpec(sid, keys[sid], model) for sid, model in models]
    scenario = Scenario(meter_interval=METER_INTERVAL, measurands=MEASURANDS, random_sessions=False)
    fleet = Fleet(
        specs,
        FleetOptions(
            url=url,
            ca_file=ca_file,
            scenario=scenario,
            ramp=0,
            keep_journal=True,
            response_timeout=10,
        ),
        clock,
    )
    return fleet, [sid for sid, _ in models]


async def wait_until(check: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll (real time) for state the network and the clock will bring about."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def sleep_until(clock: Clock, when: datetime) -> None:
    seconds = (when - clock.now()).total_seconds()
    if seconds > 0:
        await clock.sleep(seconds)


# -- a stepped clock -----------------------------------------------------------------


@dataclass(slots=True)
class Stepper:
    """Moves one :class:`FakeClock`, shared by the central system and the
    stations, in small steps, and lets the whole system become idle after each
    before time moves on: the stations woke and sent their messages, the central
    answered them, the re-planner has nothing pending or running, no command is
    on the wire. Work that takes real seconds (a re-plan's apply pass: twenty
    SetChargingProfile + GetCompositeSchedule round trips) then takes no
    simulated time, as a pass of a few seconds is negligible against 15-30
    minute slots in reality. The re-planner's sweep (real-time ``interval`` in
    production) runs once per step, at the step's end."""

    clock: FakeClock
    fleet: Fleet
    central: CentralSystem
    step: float = 60.0
    """Simulated seconds per step; also the period of the sweep."""
    idle_timeout: float = 30.0
    """Real seconds one step may take to become idle before the test fails."""
    budget_s: float = float(os.environ.get("E2E_BUDGET", "600"))
    """Real seconds the whole run may take: a guard that ends a night that
    has stopped making progress, never a speed test (the night takes
    ~150 real s on a quiet 2-core VM; at 120 s it failed whenever the
    machine was busy). Speed is measured in ``bench/``; ``E2E_BUDGET``
    changes the guard."""
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    busiest: float = 0.0
    """The longest real time a step took to become idle (s)."""

    async def _fingerprint(self) -> tuple[object, ...] | str:
        """What the system has done so far, or why it is busy now."""
        smart = self.central.services.smart_charging
        if not smart.idle:
            return "re-planner busy"
        if not self.fleet.quiet():
            return "a station is sending or not registered"
        recent = await self.central.services.commands.list(limit=50)
        sent = [f"{c.station_id}:{c.action}" for c in recent if c.state is CommandState.SENT]
        if sent:
            return f"commands on the wire: {sent}"
        if not smart.idle:  # the read above yielded to the loop
            return "re-planner busy"
        latest = (recent[0].id, recent[0].state) if recent else None
        return (latest, smart.runs, self.fleet.stats.messages)

    async def idle(self, what: str = "") -> None:
        """Return once the system is idle: nothing busy, and the same
        fingerprint three checks in a row (two checks without a change)."""
        began = time.monotonic()
        deadline = began + self.idle_timeout
        last: tuple[object, ...] | str = "not checked"
        same = 0
        while True:
            await loop_settle()
            seen = await self._fingerprint()
            same = same + 1 if not isinstance(seen, str) and seen == last else 0
            last = seen
            if same >= 2:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not idle {self.idle_timeout} real s after {self.clock.now():%H:%M:%S}"
                    f" ({what}): {seen}"
                )
            await asyncio.sleep(0.003)
        self.busiest = max(self.busiest, time.monotonic() - began)

    async def advance_to(self, when: datetime) -> None:
        """Step the clock to ``when`` (the last step shorter), idle after each
        step, the sweep run at each step's end."""
        while (left := (when - self.clock.now()).total_seconds()) > 1e-9:
            if time.monotonic() - self.started > self.budget_s:
                smart = self.central.services.smart_charging
                raise AssertionError(
                    f"the stepped night is over its budget of {self.budget_s:.0f} real s at"
                    f" {self.clock.now():%H:%M} after {self.steps} steps: {smart.runs} group"
                    f" re-plans (slowest step to idle {self.busiest:.2f} real s)"
                )
            await self.clock.advance(min(self.step, left))
            self.steps += 1
            await self.idle("after the step")
            await self.central.services.smart_charging.sweep()
            await self.idle("after the sweep")

    async def advance(self, seconds: float) -> None:
        await self.advance_to(self.clock.now() + timedelta(seconds=seconds))


# -- power sampling -----------------------------------------------------------------


@dataclass(slots=True)
class PowerLog:
    """The fleet's drawn power at instants (all outlets read at one clock reading)."""

    samples: list[tuple[datetime, dict[str, float]]] = field(default_factory=list)

    def take(self, fleet: Fleet) -> tuple[datetime, dict[str, float]]:
        at = fleet.clock.now()
        powers = {m.station.identity: m.station.power_w() for m in fleet.members}
        self.samples.append((at, powers))
        return at, powers

    async def run(self, fleet: Fleet, every: float) -> None:
        while True:
            self.take(fleet)
            await asyncio.sleep(every)


def site_power_steps(
    logs: dict[str, list[tuple[datetime, float]]],
) -> list[tuple[datetime, datetime | None, float]]:
    """The site's total drawn power as steps ``(from, to, kW)`` (``to`` None:
    the last one), summed from each connector's exact power changes
    (``SimulatedConnector.power_log``): the total at each instant, not a sum
    of meter samples taken at different moments of a transition."""
    events = sorted((at, sid, w) for sid, log in logs.items() for at, w in log)
    current: dict[str, float] = {}
    steps: list[tuple[datetime, datetime | None, float]] = []
    for at, sid, w in events:
        current[sid] = w
        total = sum(current.values()) / 1000.0
        if steps and steps[-1][0] == at:
            steps[-1] = (at, None, total)
            continue
        if steps:
            steps[-1] = (steps[-1][0], at, steps[-1][2])
        steps.append((at, None, total))
    return steps


# -- the hand arithmetic --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    at: datetime
    wh: float


@dataclass(frozen=True, slots=True)
class HandAccount:
    energy_kwh: float
    cost: float
    co2_g: float
    baseline_cost: float
    baseline_co2_g: float
    unpriced_kwh: float


def readings_from_journal(sent: Iterable[tuple[str, dict[str, Any]]]) -> list[Reading]:
    """The register as the station reported it: StartTransaction's meterStart,
    every Energy.Active.Import.Register of its MeterValues, StopTransaction's
    meterStop (each at its own timestamp), in time order, duplicates merged."""
    found: dict[datetime, float] = {}
    for action, payload in sent:
        if action == "StartTransaction":
            found[parse_time(payload["timestamp"])] = float(payload["meterStart"])
        elif action == "StopTransaction":
            found[parse_time(payload["timestamp"])] = float(payload["meterStop"])
        elif action == "MeterValues":
            for mv in payload["meterValue"]:
                for sv in mv["sampledValue"]:
                    if sv.get("measurand") == "Energy.Active.Import.Register":
                        wh = float(sv["value"]) * (1000.0 if sv.get("unit") == "kWh" else 1.0)
                        found.setdefault(parse_time(mv["timestamp"]), wh)
    return [Reading(at, wh) for at, wh in sorted(found.items())]


def peak_kw_from_journal(sent: Iterable[tuple[str, dict[str, Any]]]) -> float | None:
    """The highest Power.Active.Import the station reported in its MeterValues
    (kW; None when it reported none above 0): the measured power the savings
    baseline charges at, by accounting's rule (else the nameplate)."""
    peak = 0.0
    for action, payload in sent:
        if action != "MeterValues":
            continue
        for mv in payload["meterValue"]:
            for sv in mv["sampledValue"]:
                if sv.get("measurand") == "Power.Active.Import" and sv.get("phase") is None:
                    w = float(sv["value"]) * (1000.0 if sv.get("unit") == "kW" else 1.0)
                    peak = max(peak, w / 1000.0)
    return peak if peak > 0 else None


def _spread(
    start: datetime, end: datetime, kwh: float, rates: Sequence[Rate]
) -> tuple[float, float]:
    """(value-weighted sum, kWh outside every rate) of ``kwh`` drawn evenly over [start, end)."""
    span = (end - start).total_seconds()
    total = covered = 0.0
    for rate in rates:
        lo, hi = max(start, rate.start), min(end, rate.end)
        if hi > lo:
            share = kwh * (hi - lo).total_seconds() / span
            total += share * rate.value
            covered += share
    return total, kwh - covered


def hand_account(
    readings: Sequence[Reading],
    prices: Sequence[Rate],
    co2: Sequence[Rate],
    baseline_kw: float,
) -> HandAccount:
    """Cost and CO2 of the metered energy, and of the charge-now baseline:
    the same energy from the first reading on at ``baseline_kw`` without a pause."""
    cost = grams = unpriced = energy = 0.0
    for a, b in itertools.pairwise(readings):
        kwh = max(0.0, b.wh - a.wh) / 1000.0
        if kwh == 0 or b.at <= a.at:
            continue
        energy += kwh
        c, u = _spread(a.at, b.at, kwh, prices)
        g, _ = _spread(a.at, b.at, kwh, co2)
        cost, grams, unpriced = cost + c, grams + g, unpriced + u
    base_cost = base_grams = 0.0
    if energy > 0:
        start = readings[0].at
        end = start + timedelta(hours=energy / baseline_kw)
        base_cost, _ = _spread(start, end, energy, prices)
        base_grams, _ = _spread(start, end, energy, co2)
    return HandAccount(energy, cost, grams, base_cost, base_grams, unpriced)


def plan_power_at(segments: Iterable[dict[str, Any]], at: datetime) -> tuple[float, float]:
    """(planned kW at ``at``, seconds to the nearest segment edge) from API segments."""
    power, nearest = 0.0, math.inf
    for segment in segments:
        start, end = parse_time(segment["start"]), parse_time(segment["end"])
        nearest = min(nearest, abs((at - start).total_seconds()), abs((end - at).total_seconds()))
        if start <= at < end:
            power = float(segment["power_kw"])
    return power, nearest
