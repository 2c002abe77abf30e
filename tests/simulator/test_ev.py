"""EV model and the statuses a real station sends as the battery fills (no network)."""

from __future__ import annotations

from opencsms.simulator import EV, FakeClock, SimulatedStation


def test_taper_above_80_percent() -> None:
    ev = EV(max_power_w=11_000, soc=70)
    assert ev.acceptance_w() == 11_000
    ev.soc = 90  # halfway through the taper: (100-90)/(100-80) = 0.5
    assert ev.acceptance_w() == 5_500
    ev.soc = 100
    assert ev.acceptance_w() == 0 and ev.full


def test_draw_is_min_of_car_and_pilot() -> None:
    ev = EV(max_power_w=7_400, phases=1)
    assert ev.draw_w(16, 230, 3) == 16 * 230  # one-phase car on a three-phase station
    assert ev.draw_w(32, 230, 3) == 7_360
    assert ev.draw_w(0, 230, 3) == 0


async def test_full_battery_suspends_offline_station() -> None:
    clock = FakeClock()
    st = SimulatedStation(
        "CP-EV",
        clock=clock,
        config={"AllowOfflineTxForUnknownId": "true", "MeterValueSampleInterval": "300"},
    )
    st.cp.start()
    try:
        # 10 kWh battery at 79 %: the first 1 % at 11 kW (32.7 s), then the taper.
        await st.plug_in(1, EV(battery_kwh=10, soc=79, max_power_w=11_000))
        assert st.status() == "Preparing"
        assert await st.present_tag("ANY") == "Accepted"  # offline, unknown ids allowed
        assert st.status() == "Charging"
        await st.advance(30)
        assert st.power_w() == 11_000
        for _ in range(60):
            await st.advance(60)
            if st.status() == "SuspendedEV":
                break
        assert st.status() == "SuspendedEV"
        assert st.power_w() == 0
        assert abs(st.energy_wh() - 2_100) < 1  # 21 % of 10 kWh
        await st.unplug(1)
        assert st.status() == "Available"
        actions = [m.action for m in st.cp.queue]
        assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction"
        stop = list(st.cp.queue)[-1].payload
        assert stop["meterStop"] == 2100 and stop["reason"] == "EVDisconnected"
    finally:
        await st.close()


async def test_the_car_still_leaves_after_the_station_reboots() -> None:
    """A Reset restarts the station's firmware, not the world: the car's own
    departure (a simulator timer) must survive it."""
    from datetime import timedelta

    from opencsms.chargepoint.charging import reboot

    clock = FakeClock()
    st = SimulatedStation("CP-EV", clock=clock)
    st.cp.start()
    try:
        car = EV(battery_kwh=60, soc=20, departure=clock.now() + timedelta(minutes=30))
        await st.plug_in(1, car)
        await reboot(st.cp, "Soft")
        for _ in range(40):
            await st.advance(60)
        assert st.outlets[0].ev is None  # the car left on time
        assert st.status() == "Available"
    finally:
        await st.close()
