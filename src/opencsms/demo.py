"""``opencsms demo``: the whole product in one process, for a newcomer's first minute.

:func:`start_demo` starts a :class:`~opencsms.app.CentralSystem` on a data
directory of its own, registers a simulated fleet of several makes on two
sites (``depot`` under a cap that binds, ``office`` without one), imports a
day of price and CO2 signals starting at the current half hour, creates a
dashboard operator with a fresh password, and runs the fleet against the
central system over real sockets (TLS with the development CA), in real
time: the server plans with the wall clock. A "driver app" tells the
central system most cars' departure and energy need as they start charging,
so plans and savings mean something; the rest are planned on the defaults.

Everything goes through the operator's own calls (the services the API
uses, the CSV signal parser the upload uses), so the demo shows the product
as it is and breaks when it does. Re-running on the same directory reuses
it: stations are re-keyed, sites and signals replaced, the operator's
password reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from opencsms.app import CentralSystem
from opencsms.config import Settings
from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.events import Event, Subscription
from opencsms.domain.fleet_view import TransactionFilter
from opencsms.domain.model import ApiRole, IdTag, TransactionStop
from opencsms.domain.operators import OperatorExists
from opencsms.domain.ports import StationExists
from opencsms.domain.smart_charging.grid import SiteLimit
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    Site,
)
from opencsms.domain.smart_charging.service import InvalidRequest, UnknownTransaction
from opencsms.security.keys import generate_key
from opencsms.signals import parse_csv_rates
from opencsms.simulator.demo_fleet import (
    DEPOT,
    OFFICE,
    DemoStation,
    demo_scenario,
    demo_stations,
    depot_cap_kw,
    end_sessions,
)
from opencsms.simulator.fleet import Fleet, FleetOptions

log = structlog.get_logger("opencsms.demo")

REQUESTED_BY = "opencsms demo"
SLOT = timedelta(minutes=30)
PRICE_BY_HOUR = (
    # p/kWh at each hour (UTC): a cheap night, a morning and a higher evening peak
    14.2, 13.1, 12.4, 11.8, 11.5, 12.0, 15.5, 21.0, 24.8, 22.5, 19.0, 16.8,
    15.2, 14.6, 15.0, 17.2, 24.0, 33.5, 36.8, 31.0, 24.5, 20.1, 17.4, 15.6,
)  # fmt: skip
CO2_BY_HOUR = (
    # gCO2/kWh: the grid's mix follows demand, gas at the peaks
    165, 152, 141, 134, 130, 138, 172, 215, 238, 222, 196, 171,
    152, 146, 150, 175, 218, 262, 275, 251, 222, 201, 186, 174,
)  # fmt: skip
STOP_SETTLE_S = 5.0
"""Real seconds a stop waits for the re-plans that the cars' leaving caused."""
TARGET_SOC = 80.0
"""Drivers ask for 80 %: above it AC cars taper, and nobody plans for that."""


@dataclass(slots=True)
class DemoOptions:
    data_dir: Path = Path("opencsms-demo")
    stations: int = 25
    api_port: int = 8080
    ocpp_port: int = 9000
    seed: int = 1
    operator: str = "demo"
    """The dashboard login's name; its password is new on every start."""
    meter_interval: int = 15
    """Seconds between a station's meter values (the dashboard's power is this fresh)."""
    need_share: float = 0.8
    """Share of sessions whose driver tells their departure and energy (the rest
    are planned on the defaults, as a car without an app is)."""
    first_arrival: float = 3.0
    """Seconds after the fleet starts that the first car plugs in."""
    hours_of_signals: float = 26.0


@dataclass(slots=True)
class Demo:
    """A running demo; ``await stop()`` ends the fleet, then the server."""

    central: CentralSystem
    fleet: Fleet
    login: tuple[str, str]
    stations: list[DemoStation]
    _driver: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def dashboard_url(self) -> str:
        return f"{self.central.api_url}/dashboard/"

    @property
    def docs_url(self) -> str:
        return f"{self.central.api_url}/docs"

    @property
    def ocpp_url(self) -> str:
        return self.central.ocpp_url

    @property
    def ca_file(self) -> Path | None:
        return self.central.ca_file

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
            self._driver = None
        await end_sessions(self.fleet)
        with contextlib.suppress(TimeoutError):  # the stops' re-plans sent before sockets close
            async with asyncio.timeout(STOP_SETTLE_S):
                await self.central.services.smart_charging.settle()
        await self.fleet.stop()
        await self.central.stop()


def demo_settings(options: DemoOptions) -> Settings:
    """The demo's settings; ``OPENCSMS_*`` variables still set the rest."""
    values: dict[str, Any] = {
        "data_dir": options.data_dir,
        "ocpp_host": "127.0.0.1",  # a demo listens on this machine only
        "ocpp_port": options.ocpp_port,
        "api_host": "127.0.0.1",
        "api_port": options.api_port,
        "smart_charging": True,
        # a demo, not production: scrypt at cost 8 (~0.2 ms, not ~45 ms at 14)
        # registers and logs in 25 stations at once without a visible pause
        "key_hash_cost": 8,
        "provisioning_configuration": {
            "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
            "MeterValueSampleInterval": str(options.meter_interval),
        },
    }
    return Settings(**values)


async def start_demo(options: DemoOptions | None = None, clock: Clock = utc_now) -> Demo:
    """Start the server, set it up, start the fleet; return the running demo."""
    options = options or DemoOptions()
    central = CentralSystem(demo_settings(options), clock)
    await central.start()
    try:
        stations = demo_stations(options.stations)
        scenario = demo_scenario(
            stations, options.seed, options.meter_interval, options.first_arrival
        )
        stations = await register_stations(central, stations, scenario.tag_ids(len(stations)))
        await close_leftover_sessions(central, stations, clock())
        await put_sites(central, stations)
        await import_signals(central, clock(), options.hours_of_signals)
        login = await dashboard_login(central, options.operator)
        ca_file = central.ca_file
        fleet = Fleet(
            [s.spec for s in stations],
            FleetOptions(
                url=central.ocpp_url,
                ca_file=None if ca_file is None else str(ca_file),
                scenario=scenario,
                seed=options.seed,
            ),
        )
    except BaseException:
        await central.stop()
        raise
    subscription = central.events.subscribe(types={"transaction.started"})
    demo = Demo(central, fleet, login, stations)
    demo._driver = asyncio.create_task(
        _driver_app(central, fleet, subscription, random.Random(options.seed), options.need_share),
        name="demo-driver-app",
    )
    try:
        await fleet.start()
    except BaseException:
        await demo.stop()
        raise
    log.info("demo running", dashboard=demo.dashboard_url, stations=len(stations))
    return demo


async def register_stations(
    central: CentralSystem, stations: list[DemoStation], tags: list[str]
) -> list[DemoStation]:
    """Register (or re-key: a re-run) every station, add the id tags; the stations with keys.

    As ``opencsms simulate --register`` does, but through the running
    server's services rather than a second connection to its database.
    """
    services = central.services

    async def one(station: DemoStation) -> DemoStation:
        key = generate_key()
        try:
            await services.stations.register(station.spec.identity, key)
        except StationExists:
            await services.stations.set_key(station.spec.identity, key)
        return replace(station, spec=replace(station.spec, key=key))

    keyed = list(await asyncio.gather(*(one(s) for s in stations)))
    await asyncio.gather(*(services.tags.put(IdTag(tag)) for tag in tags))
    return keyed


async def close_leftover_sessions(
    central: CentralSystem, stations: list[DemoStation], now: datetime
) -> None:
    """End the sessions a previous run left open (it was killed before its cars
    unplugged), as the stations would report them after a power loss: the
    simulated stations start empty, and the open sessions would hold their id
    tags (a new session with one is refused as ConcurrentTx)."""
    services = central.services
    for station in stations:
        open_sessions = await services.fleet.transactions(
            TransactionFilter(station_id=station.spec.identity, active_only=True), limit=100
        )
        for transaction in open_sessions:
            detail = await services.fleet.transaction(transaction.id)
            energy = detail.energy_wh if detail is not None and detail.energy_wh else 0.0
            await services.transactions.stop(
                TransactionStop(
                    station_id=transaction.station_id,
                    transaction_id=transaction.id,
                    meter_stop=transaction.meter_start + round(energy),
                    stopped_at=now,
                    reason="PowerLoss",
                )
            )


async def put_sites(central: CentralSystem, stations: list[DemoStation]) -> None:
    """``depot`` capped so the cap binds, ``office`` uncapped; stations assigned."""
    smart = central.services.smart_charging
    cap = depot_cap_kw(stations)
    await smart.put_site(Site(DEPOT, name="Depot", limit=SiteLimit(DEPOT, cap)))
    await smart.put_site(Site(OFFICE, name="Office"))
    for station in stations:
        await smart.assign_station(station.spec.identity, station.site_id)


def day_curve_csv(by_hour: tuple[float, ...], start: datetime, hours: float, unit: str) -> str:
    """Half-hour rates from ``start`` for ``hours``, linear between the hourly
    values, in the CSV format ``POST /signals/{series}?format=csv`` reads."""
    lines = ["start,end,value,unit"]
    for n in range(math.ceil(hours * 2)):
        begin = start + SLOT * n
        hour = begin.hour + begin.minute / 60.0
        low = by_hour[int(hour) % 24]
        high = by_hour[(int(hour) + 1) % 24]
        value = low + (high - low) * (hour - int(hour))
        lines.append(
            f"{begin:%Y-%m-%dT%H:%M:%SZ},{begin + SLOT:%Y-%m-%dT%H:%M:%SZ},{value:.2f},{unit}"
        )
    return "\n".join(lines) + "\n"


async def import_signals(central: CentralSystem, now: datetime, hours: float) -> None:
    """Price and CO2 from two hours ago (the half hour) for ``hours`` after now,
    parsed and stored as an upload is (the CSV parser checks units and times)."""
    start = now.replace(minute=0 if now.minute < 30 else 30, second=0, microsecond=0)
    start -= timedelta(hours=2)
    span = hours + 2.0
    smart = central.services.smart_charging
    for series, by_hour, unit in (
        (DEFAULT_PRICE_SERIES, PRICE_BY_HOUR, "p/kWh"),
        (DEFAULT_CO2_SERIES, CO2_BY_HOUR, "gCO2/kWh"),
    ):
        text = day_curve_csv(tuple(float(v) for v in by_hour), start, span, unit)
        rates = parse_csv_rates(text, source=f"demo {series}")
        await smart.import_signal(series, rates, requested_by=REQUESTED_BY)


async def dashboard_login(central: CentralSystem, name: str) -> tuple[str, str]:
    """An admin operator with a fresh password (reset, and enabled if it was
    disabled, when it exists: a re-run)."""
    password = secrets.token_urlsafe(12)
    operators = central.services.operators
    try:
        await operators.create(name, password, ApiRole.ADMIN)
    except OperatorExists:
        await operators.set_password(name, password)
        await operators.enable(name)
    return name, password


STAY_USE = 0.85
"""The share of a stay at full power a short stop's driver asks for."""


async def _driver_app(
    central: CentralSystem,
    fleet: Fleet,
    subscription: Subscription,
    rng: random.Random,
    share: float,
) -> None:
    """Tell the central system what each new session's car needs, for ``share``
    of them: its departure and the energy to 80 % (or what the stay allows),
    as a driver's app would."""
    with subscription:
        async for event in subscription:
            if rng.random() >= share:
                continue
            try:
                await _tell_need(central, fleet, event)
            except (InvalidRequest, UnknownTransaction) as error:  # it left, or it is full
                log.info("demo need not set", station=event.station_id, reason=str(error))


async def _tell_need(central: CentralSystem, fleet: Fleet, event: Event) -> None:
    member = fleet.by_id.get(event.station_id or "")
    transaction_id = event.data.get("transaction_id")
    connector_id = event.data.get("connector_id")
    if member is None or not isinstance(transaction_id, int) or not isinstance(connector_id, int):
        return
    outlets = member.station.outlets
    ev = outlets[connector_id - 1].ev if 0 < connector_id <= len(outlets) else None
    if ev is None or ev.departure is None or ev.soc >= TARGET_SOC - 1.0:
        return
    info = member.station.cp.info
    station_kw = info.max_current * info.voltage * min(info.phases, ev.phases) / 1000.0
    max_kw = min(ev.max_power_w / 1000.0, station_kw)
    # like a driver's app: to 80 %, or what the stay allows (a short stop asks
    # for what it can get, so its plan is "charge now", not "short by 30 kWh")
    hours = max(0.0, (ev.departure - central.clock()).total_seconds() / 3600.0)
    wanted = ev.battery_kwh * (TARGET_SOC - ev.soc) / 100.0
    energy = min(wanted, STAY_USE * max_kw * hours)
    if energy < 0.5:
        return
    await central.services.smart_charging.set_need(
        transaction_id,
        energy_kwh=round(energy, 1),
        departure=ev.departure,
        max_power_kw=round(max_kw, 1),
        set_by="demo driver app",
    )
