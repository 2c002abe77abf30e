"""``opencsms demo`` end to end: a real server, a real fleet over TLS, the wall clock.

One bounded wait (a shared deadline, polled) for everything the demo
promises a newcomer in the first minute: every station connected, two sites
(one capped), signals covering the next 20 hours, cars charging and cars
planned, and a login that works. A second start on the same directory
must work too (re-keyed stations, a new password).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opencsms.app import Services
from opencsms.demo import Demo, DemoOptions, demo_settings, start_demo
from opencsms.domain.fleet_view import TransactionFilter
from opencsms.simulator.demo_fleet import DEPOT, OFFICE

BUDGET_S = 60.0


class Deadline:
    """One real-time budget shared by every wait of a test."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    async def until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        while not await check():
            if time.monotonic() > self.at:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)


@pytest.fixture
def options(tmp_path: Path) -> DemoOptions:
    return DemoOptions(
        data_dir=tmp_path / "demo",
        api_port=0,
        ocpp_port=0,
        meter_interval=3,
        first_arrival=1.0,
    )


async def _login_works(demo: Demo) -> bool:
    name, password = demo.login
    return await demo.central.services.operators.login(name, password, "127.0.0.1") is not None


async def _all_connected(demo: Demo) -> bool:
    return len(demo.central.registry) == len(demo.stations)


async def test_the_demo_shows_charging_plans_and_a_working_login(options: DemoOptions) -> None:
    deadline = Deadline(BUDGET_S)
    demo = await start_demo(options)
    try:
        central = demo.central
        smart = central.services.smart_charging
        assert demo.dashboard_url == f"{central.api_url}/dashboard/"
        assert demo.dashboard_url.startswith("https://127.0.0.1:")
        assert demo.ca_file is not None and demo.ca_file.exists()
        assert len(demo.stations) == 25

        # the sites: the depot capped below what its stations could draw together
        sites = {site.site_id: site for site in await smart.list_sites()}
        assert set(sites) == {DEPOT, OFFICE}
        depot, office = sites[DEPOT], sites[OFFICE]
        assert office.limit is None
        assert depot.limit is not None
        depot_ids = sorted(s.spec.identity for s in demo.stations if s.site_id == DEPOT)
        office_ids = sorted(s.spec.identity for s in demo.stations if s.site_id == OFFICE)
        assert (len(depot_ids), len(office_ids)) == (15, 10)
        assert sorted(await smart.site_members(DEPOT)) == depot_ids
        assert sorted(await smart.site_members(OFFICE)) == office_ids
        assert depot.limit.limit_kw == 40.0 < len(depot_ids) * 7.4

        # the signals: now .. +20 h without a gap
        now = datetime.now(UTC)
        for series, unit in (("price", "p/kWh"), ("co2", "gCO2/kWh")):
            rates = await smart.signal_window(series, now, now + timedelta(hours=20))
            assert rates[0].start <= now and rates[-1].end >= now + timedelta(hours=20)
            assert all(a.end == b.start for a, b in itertools.pairwise(rates))
            assert {r.unit for r in rates} == {unit}

        await deadline.until(lambda: _all_connected(demo), "all 25 stations connected")

        async def planned_and_charging() -> bool:
            active = await central.services.fleet.transactions(
                TransactionFilter(active_only=True), limit=100
            )
            planned = charging = 0
            for transaction in active:
                view = await smart.session(transaction.id)
                planned += view.plan is not None
                detail = await central.services.fleet.transaction(transaction.id)
                assert detail is not None
                charging += (detail.power_w or 0.0) > 0
            return planned >= 1 and charging >= 1

        await deadline.until(planned_and_charging, "a planned session and a charging station")

        # the driver app told some needs
        async def a_need_told() -> bool:
            active = await central.services.fleet.transactions(
                TransactionFilter(active_only=True), limit=100
            )
            views = [await smart.session(t.id) for t in active]
            return any(v.need is not None and v.need.set_by == "demo driver app" for v in views)

        await deadline.until(a_need_told, "a need set by the demo's driver app")
        assert await _login_works(demo)
    finally:
        await demo.stop()


async def _sessions_started(demo: Demo) -> int:
    """Sessions started in this run (a killed run's may still be open in the database)."""
    active = await demo.central.services.fleet.transactions(
        TransactionFilter(active_only=True), limit=100
    )
    ours = {m.station.transaction_id() for m in demo.fleet.members}
    return sum(1 for t in active if t.id in ours)


async def test_a_second_start_on_the_same_directory_works(options: DemoOptions) -> None:
    """The first run is killed with a car charging (no StopTransaction); the
    second re-keys the stations, closes the open session (its id tag would be
    refused as ConcurrentTx otherwise), the same car gets a session again, the
    password is new and works though the operator was disabled in between; a
    clean stop leaves no session open."""
    deadline = Deadline(BUDGET_S)
    options.stations = 6
    first = await start_demo(options)
    try:
        await deadline.until(lambda: _all_connected(first), "the first run's stations")
        await deadline.until(
            lambda: _count_at_least(_sessions_started(first), 1), "a session in the first run"
        )
    finally:  # killed: the cars never unplug
        await first.fleet.stop()
        await first.central.stop()
    services = await Services.open(demo_settings(options))
    try:
        await services.operators.disable(first.login[0])
    finally:
        await services.close()

    second = await start_demo(options)
    try:
        assert second.login[0] == first.login[0] and second.login[1] != first.login[1]
        operators = second.central.services.operators
        assert await operators.login(*first.login) is None
        assert await _login_works(second)
        assert len(await second.central.services.smart_charging.list_sites()) == 2
        await deadline.until(lambda: _all_connected(second), "the second run's stations")
        await deadline.until(
            lambda: _count_at_least(_sessions_started(second), 1), "a session in the second run"
        )
    finally:
        await second.stop()

    services = await Services.open(demo_settings(options))
    try:
        left = await services.fleet.transactions(TransactionFilter(active_only=True), limit=100)
    finally:
        await services.close()
    assert left == []


async def _count_at_least(count: Awaitable[int], least: int) -> bool:
    return await count >= least
