"""Live smart charging end to end: plug-in -> plan -> profiles on the station.

A real central system (SQLite, dev TLS, its real ProfileEnforcer) and three
simulated stations behind one capped site, all on one fake clock. What is
checked is what the *stations* hold: each one's composite limit on its
connector equals its plan, their ChargePointMaxProfile shares add up to no
more than the site's cap, and the switch turns a station off (0 on connector
0) and on again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from opencsms.app import CentralSystem
from opencsms.chargepoint import control
from opencsms.domain.model import IdTag
from opencsms.domain.smart_charging.grid import SiteLimit
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import ChargingMode, Site, StoredPlan
from opencsms.simulator import EV, FakeClock, SimulatedStation

from .conftest import test_settings as central_settings
from .test_commands import eventually, settings_for

CAP_KW = 22.0
STATIONS = ("SC1", "SC2", "SC3")
TOLERANCE_W = 100.0
"""Profiles carry one decimal, rounded down (0.1 A is 69 W on three phases)."""


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[CentralSystem, FakeClock]]:
    clock = FakeClock()
    central = CentralSystem(
        central_settings(
            tmp_path / "data",
            smart_charging_default_need_kwh=10.0,
            smart_charging_default_power_kw=11.0,
            smart_charging_interval=3600.0,
            smart_charging_verify_timeout=10.0,
        ),
        clock=clock.now,
    )
    await central.start()
    try:
        yield central, clock
    finally:
        await central.stop()


def power_at(plan: StoredPlan, at: datetime) -> float:
    return sum(s.power_kw for s in plan.segments if s.start <= at < s.end)


def station_max_w(station: SimulatedStation) -> float:
    """The ChargePointMaxProfile limit the station holds now, in W."""
    [installed] = [
        p.profile
        for p in station.cp.profiles.installed
        if p.connector_id == 0 and p.profile.purpose == "ChargePointMaxProfile"
    ]
    schedule = installed.schedule
    start = schedule.start or installed.valid_from or station.cp.now()
    elapsed = (station.cp.now() - start).total_seconds()
    period = [p for p in schedule.periods if p.start <= elapsed][-1]
    if schedule.unit == "W":
        return period.limit
    info = station.cp.info
    return period.limit * info.voltage * (period.number_phases or info.phases)


def connector_limit_w(station: SimulatedStation) -> float:
    return control.composite_for(station.cp, 1, 3600, "W")[0].limit


async def test_plans_reach_three_stations_of_a_capped_site_and_the_switch_works(
    rig: tuple[CentralSystem, FakeClock],
) -> None:
    central, clock = rig
    smart = central.services.smart_charging
    now = clock.now()
    # cheap, then dearer, then dear: 30 kWh of need fill the cap from now on
    half = timedelta(minutes=30)
    values = [10.0, 20.0] + [40.0] * 46
    prices = [Rate(now + i * half, now + (i + 1) * half, v, "p/kWh") for i, v in enumerate(values)]
    await smart.import_signal("price", prices, requested_by="test")
    await smart.put_site(Site("DEPOT", "depot", SiteLimit("DEPOT", CAP_KW)))
    stations: list[SimulatedStation] = []
    try:
        for station_id in STATIONS:
            key = await central.services.stations.register(station_id)
            await smart.assign_station(station_id, "DEPOT")
            await central.services.tags.put(IdTag(f"TAG-{station_id}"))
            station = SimulatedStation(station_id, clock=clock, authorization_key=key, connectors=1)
            stations.append(station)
            await station.connect(settings_for(central))
            await eventually(lambda s=station: s.cp.online)  # type: ignore[misc]
        for station in stations:
            await station.plug_in(1, EV(battery_kwh=60, soc=20, max_power_w=11_000))
            await station.present_tag(f"TAG-{station.identity}", 1)
        for station in stations:
            await eventually(lambda s=station: s.transaction_id(1) is not None)  # type: ignore[misc]
        await smart.settle()

        plans = {}
        for station in stations:
            transaction_id = station.transaction_id(1)
            assert transaction_id is not None
            view = await smart.session(transaction_id)
            assert view.plan is not None and view.plan.method in ("lp", "greedy")
            plans[station.identity] = view.plan
        planned_now = {s: power_at(p, clock.now()) for s, p in plans.items()}
        # the cheap slot is full but for a sliver under 6 A the station could not be told
        # (two cars at 10.971 kW, the third's 0.058 kW dropped)
        assert CAP_KW - 6 * 230 * 3 / 1000 < sum(planned_now.values()) <= CAP_KW + 1e-9
        floor_kw = 6 * 230 * 3 / 1000
        for station in stations:
            wanted_w = planned_now[station.identity] * 1000
            if 0 < wanted_w < floor_kw * 1000:
                # The joint LP may leave a car a sliver under 6 A where the cap is
                # otherwise full (equal-cost optima differ from run to run); a
                # profile tells it 0 (the IEC 61851 minimum), and only then.
                others = sum(planned_now.values()) - planned_now[station.identity]
                assert others >= CAP_KW - floor_kw, station.identity
                wanted_w = 0.0
            assert abs(connector_limit_w(station) - wanted_w) <= TOLERANCE_W, station.identity
        shares = [station_max_w(station) for station in stations]
        assert sum(shares) <= CAP_KW * 1000
        # A share under 6 A (a sliver car's) can only be told as 0: the others
        # still use the cap but for that sliver and the one-decimal rounding.
        slivers = sum(
            planned_now[s.identity] * 1000
            for s in stations
            if 0 < planned_now[s.identity] < floor_kw
        )
        assert sum(shares) >= CAP_KW * 1000 - slivers - 3 * 2 * TOLERANCE_W

        first = stations[0]
        await smart.switch("SC1", ChargingMode.OFF, requested_by="test")
        assert station_max_w(first) == 0
        assert connector_limit_w(first) == 0
        await smart.switch("SC1", ChargingMode.ON, requested_by="test")
        assert connector_limit_w(first) >= 6 * 230 * 3 - TOLERANCE_W  # charging again
        assert sum(station_max_w(station) for station in stations) <= CAP_KW * 1000
    finally:
        for station in stations:
            await station.close()
