"""Smart charging end to end: a night of twenty quirky stations on one capped site.

The real central system and the simulated stations share one accelerated
clock (:class:`~opencsms.simulator.timebase.ScaledClock`), so the server's
planning "now" and the stations' time agree and a night passes in well under
a minute. Everything the operator does goes through the REST API: the price
and CO2 series (CSV), the site and its cap, the stations' membership, each
session's need. The checks are made against what the *stations* did (their
simulated meters and the MeterValues they sent), never against what the
server says it did, and the savings report is compared with figures computed
here by hand from the stations' own register samples (``smart_fleet.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag
from opencsms.simulator.timebase import ScaledClock

from .conftest import CentralFactory
from .smart_fleet import (
    CO2,
    PRICES,
    SERIES_START,
    V3,
    PowerLog,
    Reading,
    hand_account,
    make_fleet,
    night_cars,
    series,
    sleep_until,
    station_models,
    wait_until,
)


def test_hand_arithmetic_gives_golden_case_f1() -> None:
    """The hand arithmetic itself, on issue 5's golden case F1: 20 kWh at 7.4 kW.
    Charging at once from 16:00 costs 682.57 p; the cheapest 20 kWh (the
    planner's plan) cost 244.24 p."""
    f1_prices, f1_co2 = series(PRICES[:30]), series(CO2[:30])
    start = SERIES_START
    at_once = hand_account(
        [Reading(start, 0.0), Reading(start + timedelta(hours=20 / 7.4), 20_000.0)],
        f1_prices,
        f1_co2,
        baseline_kw=7.4,
    )
    assert at_once.cost == pytest.approx(682.57, abs=0.01)
    assert at_once.baseline_cost == pytest.approx(682.57, abs=0.01)
    assert at_once.co2_g == pytest.approx(5044, abs=1)
    # the F1 price plan: the five cheapest half hours in full, then the partial slot
    # next to them (0.5 h at 7.4 kW = 3.7 kWh; 20 kWh = 5 full slots + 1.5 kWh)
    slots = sorted(range(30), key=lambda i: (PRICES[i], -i))[:6]
    readings = [Reading(start, 0.0)]
    wh = 0.0
    for i in sorted(slots):
        slot_start = start + timedelta(minutes=30 * i)
        kwh = 3.7 if i != slots[5] else 20.0 - 5 * 3.7
        readings.append(Reading(slot_start, wh))
        wh += kwh * 1000
        readings.append(Reading(slot_start + timedelta(minutes=30 * kwh / 3.7), wh))
    planned = hand_account(readings, f1_prices, f1_co2, baseline_kw=7.4)
    assert planned.energy_kwh == pytest.approx(20.0)
    assert planned.cost == pytest.approx(244.24, abs=0.01)
    assert planned.baseline_cost == pytest.approx(682.57, abs=0.01)


async def test_twenty_quirky_stations_charge_at_full_power_without_profiles(
    start_central: CentralFactory,
) -> None:
    """The harness: twenty stations of seven makes on one fast clock, no smart
    charging: every car draws its own maximum, and the meters agree."""
    central: CentralSystem = await start_central(smart_charging=False)
    clock = ScaledClock(600, start=datetime(2027, 1, 11, 16, 50, tzinfo=UTC))
    ids = [sid for sid, _ in station_models()]
    keys = {sid: await central.services.stations.register(sid) for sid in ids}
    assert central.ca_file is not None
    fleet, ids = make_fleet(keys, central.ocpp_url, str(central.ca_file), clock)
    cars = night_cars(ids, clock.now())
    for car in cars:
        await central.services.tags.put(IdTag(car.tag))
    await fleet.start()
    log = PowerLog()
    try:
        await wait_until(
            lambda: all(m.station.cp.registration == "Accepted" for m in fleet.members),
            20,
            "every station booted",
        )
        for car in cars:
            st = fleet.by_id[car.station_id].station
            await st.plug_in(1, car.ev())
            assert await st.present_tag(car.tag, 1) == "Accepted"
        await wait_until(
            lambda: all(m.station.transaction_id() is not None for m in fleet.members),
            20,
            "every transaction id",
        )
        await sleep_until(clock, clock.now() + timedelta(minutes=20))
        _, powers = log.take(fleet)
        for car in cars:
            assert powers[car.station_id] == pytest.approx(min(car.max_kw * 1000, 32 * V3))
    finally:
        await fleet.stop()
