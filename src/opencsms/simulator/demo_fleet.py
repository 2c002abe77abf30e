"""The demo's fleet: chargers of real makes on two sites, and the cars of its first hour.

``opencsms demo`` must show a newcomer live charging, plans and savings
within a minute, so the scenario is not a random public day alone: a third
of the stations get a car in the first ~40 seconds, alternating a short stop
(it leaves within about an hour, needing more than that hour can give: it
charges at once) and a long stay (it leaves in 11-14 hours: it is planned
into the cheap hours, so it sits plugged in, not charging). After that, cars
arrive at random as in any scenario.

The makes carry the smart-charging quirks real chargers have (stack level 0
only, W only, few periods, Relative only, a TxProfile that needs its
transactionId), so the dashboard shows the central system learning each
model's dialect; most stations are the plain kind.

When the demo stops, every car is unplugged first (:func:`end_sessions`),
so the stations report their StopTransactions and the next run starts with
no session left open (its id tags would be refused as ConcurrentTx).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

from opencsms.simulator.fleet import Fleet, StationSpec
from opencsms.simulator.quirks import Quirks
from opencsms.simulator.scenario import Arrivals, EvMix, Scenario, StationModel, Visit


def _model(
    vendor: str,
    model: str,
    *,
    max_current: float = 16.0,
    phases: int = 3,
    quirks: Quirks | None = None,
    config: dict[str, str] | None = None,
) -> StationModel:
    return StationModel(
        name=model,
        vendor=vendor,
        model=model,
        max_current=max_current,
        phases=phases,
        quirks=quirks or Quirks(),
        config=config or {},
    )


MAKES: tuple[StationModel, ...] = (
    # 11 kW (16 A x 3) and 7.4 kW (32 A x 1) AC chargers, the common depot kinds
    _model("Alfen", "Eve Single Pro-line"),
    _model("ABB", "Terra AC W11-T", quirks=Quirks(only_stack_level_0=True)),
    _model("Alfen", "Eve Single Pro-line"),
    _model("Wallbox", "Commander 2", quirks=Quirks(rejected_units=frozenset({"A"}))),
    _model("Zaptec", "Go", max_current=32.0, phases=1),
    _model(
        "KEBA",
        "KeContact P30 x",
        quirks=Quirks(max_periods=4),
        config={"ChargingScheduleMaxPeriods": "4"},
    ),
    _model("Alfen", "Eve Single Pro-line"),
    _model("Delta", "AC MAX", quirks=Quirks(required_kind="Relative")),
    _model(
        "Schneider Electric", "EVlink Pro AC", quirks=Quirks(tx_profile_needs_transaction_id=True)
    ),
)
"""Assigned round-robin; Alfen three times: most of a real fleet is one plain make."""

DEPOT = "depot"
OFFICE = "office"
DEPOT_SHARE = 0.6
"""Of 25 stations, 15 at the depot (capped) and 10 at the office."""
DEPOT_KW_PER_STATION = 8.0 / 3.0
"""The depot's cap per station: 40 kW for 15 stations of 7.4-11 kW, so it binds."""


@dataclass(frozen=True, slots=True)
class DemoStation:
    spec: StationSpec
    site_id: str


def demo_stations(count: int) -> list[DemoStation]:
    """``DEPOT-01``..., ``OFFICE-01``...: 60 % at the depot, makes round-robin.

    Each station's ``first_tag`` is its index, so every connector has its own
    id tag (``SIM-TAG-00001``...) and no tag is ever in two sessions at once.
    """
    depot = round(count * DEPOT_SHARE) if count > 1 else count
    out: list[DemoStation] = []
    for index in range(count):
        site = DEPOT if index < depot else OFFICE
        number = index + 1 if site == DEPOT else index - depot + 1
        identity = f"{site.upper()}-{number:02d}"
        spec = StationSpec(identity, None, MAKES[index % len(MAKES)], first_tag=index)
        out.append(DemoStation(spec, site))
    return out


def depot_cap_kw(stations: list[DemoStation]) -> float:
    depot = sum(1 for s in stations if s.site_id == DEPOT)
    return round(max(11.0, depot * DEPOT_KW_PER_STATION), 1)


def first_visits(stations: list[DemoStation], seed: int, first_at: float = 3.0) -> list[Visit]:
    """Cars for a third of the stations (at least two) in the first ~40 s,
    taken alternately from both sites: even ones stop short and charge now,
    odd ones stay all day and wait for cheaper hours."""
    rng = random.Random(seed)
    depot = [s for s in stations if s.site_id == DEPOT]
    office = [s for s in stations if s.site_id == OFFICE]
    mixed = [s for pair in zip(depot, office, strict=False) for s in pair]
    mixed += depot[len(office) :] + office[len(depot) :]
    count = min(len(stations), max(2, len(stations) // 3))
    spacing = 40.0 / max(1, count - 1)
    visits: list[Visit] = []
    for i, station in enumerate(mixed[:count]):
        arrive = first_at + i * spacing
        if i % 2 == 0:  # a short stop: 45-75 min, a fairly empty 60-77 kWh battery
            stay = rng.uniform(45, 75) * 60
            battery, soc = rng.choice((60.0, 77.0)), rng.uniform(10, 25)
        else:  # a long stay, 11-14 h (a van parked overnight): into the cheap hours
            stay = rng.uniform(11, 14) * 3600
            battery, soc = rng.choice((50.0, 60.0, 77.0)), rng.uniform(25, 50)
        visits.append(
            Visit(
                station=station.spec.identity,
                arrive=arrive,
                leave=arrive + stay,
                battery_kwh=battery,
                soc=round(soc, 1),
                max_power_kw=11.0,
            )
        )
    return visits


def demo_scenario(
    stations: list[DemoStation], seed: int, meter_interval: int, first_at: float = 3.0
) -> Scenario:
    """The first visits, then random arrivals (first car at each connector within
    30 minutes, stays of about three hours) for the rest of the run."""
    return Scenario(
        meter_interval=meter_interval,
        arrivals=Arrivals(
            first_within=1800.0,
            mean_gap=2400.0,
            stay_mean=3 * 3600.0,
            stay_sd=5400.0,
            stay_min=1800.0,
        ),
        ev=EvMix(
            battery_kwh=(50.0, 60.0, 77.0, 82.0),
            soc=(15.0, 60.0),
            max_power_kw=(7.4, 11.0, 11.0),
        ),
        sessions=tuple(first_visits(stations, seed, first_at)),
    )


async def end_sessions(fleet: Fleet, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """No more arrivals; every car unplugs; wait (at most ``timeout`` real
    seconds) until the connected stations have delivered their StopTransactions."""
    await fleet.agenda.stop()
    for member in fleet.members:
        for number, outlet in enumerate(member.station.outlets, start=1):
            if outlet.ev is not None:
                await member.station.unplug(number)

    def delivered() -> bool:
        return all(not m.station.cp.online or not len(m.station.cp.queue) for m in fleet.members)

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not delivered():  # noqa: ASYNC110 - no event covers the whole fleet
                await asyncio.sleep(0.02)
