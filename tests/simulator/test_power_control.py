"""The car draws what the station's profiles say, and the meter tells the truth about it.

Over WSS against the mini central system with a fake clock: for each kind of
profile (TxProfile, TxDefaultProfile, ChargePointMaxProfile; A and W; Absolute
and Relative; a 0 A pause) the power drawn is ``min(EV max power, composite
limit of the connector)`` as soon as the reply is in, and the MeterValues the
station sends carry that power and an energy register that grows by
``power * time``. Also the "Accepted but not applied" vendor quirk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from opencsms.chargepoint.clock import ocpp_time
from opencsms.simulator import EV, ConnectionSettings, FakeClock, Quirks, SimulatedStation

from .conftest import KEY, MiniCsms, eventually

Csms = tuple[MiniCsms, ConnectionSettings]
SAMPLED = "Energy.Active.Import.Register,Power.Active.Import"
V3 = 230.0 * 3  # W per A on a three-phase station


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    connector: int = 1,
    stack: int = 0,
    unit: str = "A",
    kind: str = "Relative",
    start: str | None = None,
    tx: int | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
    }
    if start is not None:
        schedule["startSchedule"] = start
    body: dict[str, Any] = {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if tx is not None:
        body["transactionId"] = tx
    return {"connectorId": connector, "csChargingProfiles": body}


class Rig:
    def __init__(self, server: MiniCsms, station: SimulatedStation, clock: FakeClock) -> None:
        self.server, self.st, self.clock = server, station, clock

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.server.call(self.st.identity, action, payload)

    async def set(self, payload: dict[str, Any]) -> str:
        reply = await self.call("SetChargingProfile", payload)
        return str(reply["status"])

    async def composite(self, connector: int = 1, unit: str = "A") -> list[dict[str, Any]]:
        reply = await self.call(
            "GetCompositeSchedule",
            {"connectorId": connector, "duration": 3600, "chargingRateUnit": unit},
        )
        periods: list[dict[str, Any]] = reply["chargingSchedule"]["chargingSchedulePeriod"]
        return periods

    async def charging(self, ev: EV) -> int:
        await self.st.plug_in(1, ev)
        await self.st.present_tag("TAG")
        await eventually(lambda: self.st.transaction_id() is not None)
        tx = self.st.transaction_id()
        assert tx is not None
        return tx


@pytest.fixture
async def rig(csms: Csms, clock: FakeClock) -> AsyncIterator[Rig]:
    made = await start(csms, clock)
    try:
        yield made
    finally:
        await made.st.close()


async def start(csms: Csms, clock: FakeClock, quirks: Quirks | None = None) -> Rig:
    server, settings = csms
    st = SimulatedStation(
        "CP-P",
        clock=clock,
        authorization_key=KEY,
        quirks=quirks,
        config={"MeterValueSampleInterval": "60", "MeterValuesSampledData": SAMPLED},
    )
    await st.connect(settings)
    await server.wait_for("StatusNotification", 2)
    return Rig(server, st, clock)


async def test_each_purpose_limits_the_draw_at_once(rig: Rig) -> None:
    tx = await rig.charging(EV(soc=20, max_power_w=22_000))
    assert rig.st.power_w() == 22_000  # 32 A station, no profile: the car's own limit

    assert await rig.set(profile(1, "TxDefaultProfile", [(0, 20)])) == "Accepted"
    await eventually(lambda: rig.st.power_w() == 20 * V3)

    assert await rig.set(profile(2, "TxProfile", [(0, 16)], stack=1, tx=tx)) == "Accepted"
    await eventually(lambda: rig.st.power_w() == 16 * V3)  # TxProfile beats TxDefaultProfile

    cap = profile(3, "ChargePointMaxProfile", [(0, 9200)], connector=0, unit="W")
    assert await rig.set(cap) == "Accepted"
    await eventually(lambda: rig.st.power_w() == pytest.approx(9200, abs=V3 * 0.1))
    assert rig.st.power_w() <= 9200  # rounded down to 0.1 A, never above the cap
    assert await rig.composite(unit="W") == [{"startPeriod": 0, "limit": 9200.0}]

    assert (await rig.call("ClearChargingProfile", {"id": 3}))["status"] == "Accepted"
    await eventually(lambda: rig.st.power_w() == 16 * V3)
    assert (await rig.call("ClearChargingProfile", {"id": 2}))["status"] == "Accepted"
    await eventually(lambda: rig.st.power_w() == 20 * V3)


async def test_the_car_limit_wins_when_it_is_lower(rig: Rig) -> None:
    await rig.charging(EV(soc=20, max_power_w=7_400))
    assert rig.st.power_w() == 7_400
    assert await rig.set(profile(1, "TxDefaultProfile", [(0, 16)])) == "Accepted"
    await rig.clock.advance(1)
    assert rig.st.power_w() == 7_400  # 16 A is 11 kW: the car still takes 7.4
    assert await rig.set(profile(1, "TxDefaultProfile", [(0, 8)])) == "Accepted"
    await eventually(lambda: rig.st.power_w() == 8 * V3)


async def test_below_6_amps_pauses_and_a_later_period_resumes(rig: Rig) -> None:
    tx = await rig.charging(EV(soc=20, max_power_w=11_000))
    now = rig.clock.now().replace(microsecond=0)
    periods = [(0, 5.9), (600, 0), (1200, 10)]
    absolute = profile(1, "TxProfile", periods, kind="Absolute", start=ocpp_time(now), tx=tx)
    assert await rig.set(absolute) == "Accepted"
    await eventually(lambda: rig.st.status() == "SuspendedEVSE")
    assert rig.st.power_w() == 0
    await rig.clock.advance(1199)
    assert rig.st.power_w() == 0
    await rig.clock.advance(2)
    assert rig.st.power_w() == 10 * V3 and rig.st.status() == "Charging"
    statuses = [p["status"] for p in rig.server.got("StatusNotification")]
    await eventually(lambda: rig.server.got("StatusNotification")[-1]["status"] == "Charging")
    assert "SuspendedEVSE" in statuses


async def test_meter_values_match_the_drawn_power(rig: Rig) -> None:
    tx = await rig.charging(EV(battery_kwh=80, soc=20, max_power_w=11_000))
    # a schedule that changes between samples: 16 A for 90 s, then 8 A
    sched = profile(1, "TxProfile", [(0, 16), (90, 8)], tx=tx)
    # Relative: counted from the transaction start, which is now
    assert await rig.set(sched) == "Accepted"
    await eventually(lambda: rig.st.power_w() == 11_000)  # 16 A = 11,040 W > the car's 11 kW
    for _ in range(5):
        await rig.clock.advance(60)
    await rig.server.wait_for("MeterValues", 5)
    samples = [
        (
            {v["measurand"]: float(v["value"]) for v in p["meterValue"][0]["sampledValue"]},
            p["meterValue"][0]["timestamp"],
        )
        for p in rig.server.got("MeterValues")
        if p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
    ]
    powers = [s["Power.Active.Import"] for s, _ in samples]
    assert powers[:5] == [11_000.0, 8 * V3, 8 * V3, 8 * V3, 8 * V3]
    registers = [s["Energy.Active.Import.Register"] for s, _ in samples]
    # 60 s at 11 kW, then 30 s at 11 kW + 30 s at 5.52 kW, then 60 s at 5.52 kW each
    start = float(rig.server.got("StartTransaction")[0]["meterStart"])
    expected = [11_000 / 60, (11_000 + 8 * V3) / 120, 8 * V3 / 60, 8 * V3 / 60]
    deltas = [b - a for a, b in zip([start, *registers], registers, strict=False)][:4]
    assert deltas == pytest.approx(expected, abs=1.0)  # the register is whole Wh
    assert registers[-1] == round(rig.st.energy_wh())


async def test_quirk_accepts_but_ignores_profiles_above_stack_level_0(
    csms: Csms, clock: FakeClock
) -> None:
    rig = await start(csms, clock, Quirks(ignore_profiles_above_stack_level_0=True))
    try:
        tx = await rig.charging(EV(soc=20, max_power_w=22_000))
        assert await rig.set(profile(7, "TxProfile", [(0, 10)], stack=1, tx=tx)) == "Accepted"
        await rig.clock.advance(1)
        assert rig.st.power_w() == 22_000  # Accepted, but not applied
        assert await rig.composite() == [{"startPeriod": 0, "limit": 32.0}]
        assert [p.id for p in rig.st.cp.profiles.ignored] == [7]
        assert await rig.set(profile(7, "TxProfile", [(0, 10)], stack=0, tx=tx)) == "Accepted"
        await eventually(lambda: rig.st.power_w() == 10 * V3)
        assert await rig.composite() == [{"startPeriod": 0, "limit": 10.0}]
    finally:
        await rig.st.close()


async def test_a_departing_car_stops_drawing(rig: Rig) -> None:
    car = EV(soc=20, max_power_w=11_000, departure=rig.clock.now() + timedelta(minutes=5))
    await rig.charging(car)
    for _ in range(6):
        await rig.clock.advance(60)
    assert rig.st.power_w() == 0
    assert rig.st.outlets[0].ev is None
