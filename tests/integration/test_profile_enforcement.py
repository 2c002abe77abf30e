"""From plan to charger end to end: ProfileEnforcer -> CommandService -> WSS -> SimulatedStation.

A real central system (SQLite, dev TLS) and simulated stations with the
quirks real fleets have. Each test checks what the station ended up holding
(its own composite schedule and the current its pilot offers), the stored
ProfileRecords, and what was learned about the station's model.

The enforcer runs on the station's fake clock, as a central system would
run on a clock in step with its stations' (the profiles are Absolute). The
node's own smart-charging service is switched off so that only the test's
targets reach the stations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from structlog.testing import capture_logs

from opencsms.app import CentralSystem
from opencsms.chargepoint import control
from opencsms.chargepoint.smart_charging import ChargingProfile
from opencsms.domain.model import IdTag
from opencsms.domain.smart_charging.enforcement import EVENT, ProfileEnforcer
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ConnectorTarget,
    LearnedProfileOptions,
    ProfileRecord,
    ProfileState,
    StationTarget,
)
from opencsms.simulator import EV, FakeClock, Quirks, SimulatedStation

from .conftest import CentralFactory
from .test_commands import eventually, received, register, settings_for

MODEL = ("OpenCSMS", "SimAC22")


@dataclass
class Rig:
    central: CentralSystem
    clock: FakeClock
    enforcer: ProfileEnforcer
    stations: list[SimulatedStation]

    def now(self) -> datetime:
        return self.clock.now()

    async def station(
        self, station_id: str, quirks: Quirks | None = None, config: dict[str, str] | None = None
    ) -> SimulatedStation:
        """Online, provisioned (configuration snapshot stored), a session on connector 1."""
        key = await register(self.central, station_id)
        await self.central.services.tags.put(IdTag(f"TAG-{station_id}"))
        station = SimulatedStation(
            station_id, clock=self.clock, authorization_key=key, quirks=quirks,
            connectors=2, config=config,
        )  # fmt: skip
        self.stations.append(station)
        await station.connect(settings_for(self.central))
        await eventually(lambda: station.cp.online)
        await self.provisioned(station_id)
        await station.plug_in(1, EV(battery_kwh=60, soc=20, max_power_w=22_000))
        await station.present_tag(f"TAG-{station_id}", 1)
        await eventually(lambda: station.transaction_id(1) is not None)
        return station

    async def provisioned(self, station_id: str, within: float = 10.0) -> None:
        """Until provisioning has stored the station's configuration snapshot."""
        uow = self.central.services.uow
        async with asyncio.timeout(within):
            while not await uow.read(lambda r: r.configuration.snapshot(station_id)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    async def learned(self) -> LearnedProfileOptions | None:
        return await self.central.services.uow.read(lambda r: r.charging.get_learned(*MODEL))

    async def stored(self, station_id: str) -> list[ProfileRecord]:
        return await self.central.services.uow.read(lambda r: r.charging.profiles(station_id))

    def session(
        self, station: SimulatedStation, *segments: tuple[float, float, float]
    ) -> ConnectorTarget:
        transaction_id = station.transaction_id(1)
        assert transaction_id is not None
        tx = station.cp.connectors[1].transaction
        assert tx is not None
        return ConnectorTarget(
            connector_id=1,
            transaction_id=transaction_id,
            transaction_started_at=tx.start,
            segments=tuple(Segment(self.at(a), self.at(b), kw) for a, b, kw in segments),
        )

    def at(self, minutes: float) -> datetime:
        return self.now() + timedelta(minutes=minutes)


@pytest.fixture
async def rig(start_central: CentralFactory) -> AsyncIterator[Rig]:
    async with rig_of(start_central) as rig:
        yield rig


@pytest.fixture
async def impatient_rig(start_central: CentralFactory) -> AsyncIterator[Rig]:
    """A central that waits half a second for a station's reply."""
    async with rig_of(start_central, response_timeout=0.5) as rig:
        yield rig


@contextlib.asynccontextmanager
async def rig_of(start_central: CentralFactory, **overrides: object) -> AsyncIterator[Rig]:
    # the node's own planning is off: this test alone decides what is sent
    central = await start_central(smart_charging=False, **overrides)
    clock = FakeClock()
    enforcer = ProfileEnforcer(
        central.services.uow, central.services.commands, clock=clock.now,
        events=central.services.events, verify_timeout=10.0,
    )  # fmt: skip
    rig = Rig(central, clock, enforcer, [])
    yield rig
    for station in rig.stations:
        await station.close()


def sets(station: SimulatedStation) -> list[dict[str, object]]:
    return received(station, "SetChargingProfile")


def limits(station: SimulatedStation, connector_id: int = 1) -> list[tuple[int, float]]:
    """The station's own composite (A) for the next two hours."""
    return [(p.start, p.limit) for p in control.composite_for(station.cp, connector_id, 7200, "A")]


async def test_accepted_and_verified_then_off_then_on(rig: Rig) -> None:
    station = await rig.station("CP-OK")
    target = StationTarget(
        station_id="CP-OK",
        mode=ChargingMode.SMART,
        connectors=(rig.session(station, (0, 30, 11.04), (60, 90, 7.0)),),
        station_cap_kw=(Rate(rig.at(0), rig.at(600), 16.56, "kW"),),
        default_limit_kw=4.14,
    )
    records = await rig.enforcer.apply(target)
    assert [(r.purpose, r.state, r.step, r.attempts) for r in records] == [
        ("TxDefaultProfile", ProfileState.VERIFIED, "plain", 1),
        ("ChargePointMaxProfile", ProfileState.VERIFIED, "plain", 1),
        ("TxProfile", ProfileState.VERIFIED, "plain", 1),
    ]
    assert len(sets(station)) == 3
    assert len(received(station, "GetCompositeSchedule")) == 3
    assert limits(station) == [(0, 16.0), (1800, 0.0), (3600, 10.1), (5400, 0.0)]
    assert limits(station, 2) == [(0, 6.0)]  # the safe default on the idle connector
    await eventually(lambda: abs(station.power_w(1) - 11040) < 1)
    assert await rig.enforcer.expected_limit_kw("CP-OK", 1, rig.at(10)) == pytest.approx(11.04)
    assert await rig.enforcer.expected_limit_kw("CP-OK", 1, rig.at(40)) == 0.0
    assert await rig.enforcer.expected_limit_kw("CP-OK", 2, rig.at(40)) == pytest.approx(4.14)
    assert {(r.purpose, r.state) for r in await rig.stored("CP-OK")} == {
        (r.purpose, r.state) for r in records
    }
    assert await rig.learned() is None

    # the same target again: nothing to send
    await rig.enforcer.apply(target)
    assert len(sets(station)) == 3

    off = await rig.enforcer.apply(StationTarget("CP-OK", ChargingMode.OFF, target.connectors))
    by_purpose = {r.purpose: r for r in off}
    assert by_purpose["ChargePointMaxProfile"].state is ProfileState.VERIFIED
    assert by_purpose["TxDefaultProfile"].state is ProfileState.CLEARED
    assert limits(station)[0] == (0, 0.0)
    await eventually(lambda: station.power_w(1) == 0)

    on = StationTarget("CP-OK", ChargingMode.ON, (rig.session(station, (0, 600, 22.08)),))
    by_purpose = {r.purpose: r for r in await rig.enforcer.apply(on)}
    assert by_purpose["ChargePointMaxProfile"].state is ProfileState.CLEARED
    assert by_purpose["TxProfile"].state is ProfileState.VERIFIED
    assert limits(station)[0] == (0, 32.0)
    assert received(station, "ClearChargingProfile")[-1] == {"id": 9200}


QUIRKS = [
    pytest.param(Quirks(only_stack_level_0=True), "stack_level_0",
                 LearnedProfileOptions(*MODEL, stack_level_0=True), True, id="only_stack_level_0"),
    pytest.param(Quirks(ignore_profiles_above_stack_level_0=True), "stack_level_0",
                 LearnedProfileOptions(*MODEL, stack_level_0=True), False,
                 id="accepts_but_ignores"),
    pytest.param(Quirks(rejected_units=frozenset({"A"})), "flip_unit",
                 LearnedProfileOptions(*MODEL, unit="W"), True, id="rejects_amps"),
    pytest.param(Quirks(required_kind="Relative"), "flip_kind",
                 LearnedProfileOptions(*MODEL, kind="Relative"), True, id="relative_only"),
    pytest.param(Quirks(tx_profile_needs_transaction_id=True), "plain", None, True,
                 id="needs_transaction_id"),
]  # fmt: skip
"""(quirks, the step that works, what the model learns, whether the station refuses)"""


async def enforce_a_session(
    rig: Rig, station_id: str, quirks: Quirks | None = None
) -> tuple[SimulatedStation, ProfileRecord]:
    """A new station of the model, its TxProfile applied; the station holds the plan."""
    station = await rig.station(station_id, quirks)
    target = StationTarget(station_id, ChargingMode.SMART, (rig.session(station, (0, 30, 11.04)),))
    [record] = await rig.enforcer.apply(target)
    assert limits(station)[:2] == [(0, 16.0), (1800, 0.0)]
    return station, record


@pytest.mark.parametrize(("quirks", "step", "learned", "refuses"), QUIRKS)
async def test_each_quirk_ends_verified_and_is_learned_for_the_model(
    rig: Rig, quirks: Quirks, step: str, learned: LearnedProfileOptions | None, refuses: bool
) -> None:
    """A refusal is the station's own word: learned from one station. A
    profile accepted and not in effect may be our fault: a candidate, learned
    when a second station of the model needs the same step."""
    with capture_logs() as logs:
        _, record = await enforce_a_session(rig, "CP-Q1", quirks)
        assert (record.state, record.step) == (ProfileState.VERIFIED, step), record.detail
        if not refuses:
            assert await rig.learned() is None
            _, record = await enforce_a_session(rig, "CP-Q2", quirks)
            assert (record.state, record.step) == (ProfileState.VERIFIED, step), record.detail
    known = await rig.learned()
    if learned is None:
        assert known is None
    else:
        assert known is not None
        assert (known.stack_level_0, known.kind, known.unit) == (
            learned.stack_level_0, learned.kind, learned.unit,
        )  # fmt: skip
        suffix = "" if refuses else " on two stations"
        assert known.detail == f"{step} made a TxProfile take effect{suffix}"
    candidates = [
        (e["event"], e["vendor"], e["model"], e["step"])
        for e in logs
        if e["event"].startswith("profile option candidate")
    ]
    assert candidates == (
        [] if refuses else [
            ("profile option candidate noted", *MODEL, step),
            ("profile option candidate confirmed", *MODEL, step),
        ]
    )  # fmt: skip

    last, record = await enforce_a_session(rig, "CP-Q3", quirks)
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "plain", 1)
    assert len(sets(last)) == 1


async def test_a_check_failed_on_one_station_teaches_its_model_nothing(rig: Rig) -> None:
    """Bug (e2e, ALFEN): a profile of ours failed every composite check on one
    station and the step that passed was learned for the whole model. Here
    one station of the model (not the model: its sibling is fine) accepts
    and drops profiles above stack level 0, as our own fault could make it
    look: it ends verified through stack level 0, the model learns nothing,
    and the next station of the model is sent the plain profile."""
    odd = await rig.station("CP-ODD")
    odd.cp.profiles.ignores.append(lambda _c, p: "glitch" if p.stack_level > 0 else None)
    target = StationTarget("CP-ODD", ChargingMode.SMART, (rig.session(odd, (0, 30, 11.04)),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step) == (ProfileState.VERIFIED, "stack_level_0"), record.detail
    assert await rig.learned() is None

    sibling, record = await enforce_a_session(rig, "CP-SIB")
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "plain", 1)
    [sent] = sets(sibling)
    assert sent["csChargingProfiles"]["stackLevel"] == 1  # type: ignore[index]
    assert await rig.learned() is None


async def test_max_periods_is_not_learned_from_a_failed_check(rig: Rig) -> None:
    """Two stations of the model accept and drop a schedule of more than 4
    periods: each ends verified with fewer periods, but a failed check says
    nothing of how many periods a station takes, so the model learns nothing
    and a third station is sent the whole schedule."""
    plan = [(15 * i, 15 * (i + 1), 11.04 if i % 2 else 7.0) for i in range(8)]
    for station_id in ("CP-DP1", "CP-DP2"):
        station = await rig.station(station_id)
        station.cp.profiles.ignores.append(
            lambda _c, p: "too many periods" if len(p.schedule.periods) > 4 else None
        )
        target = StationTarget(station_id, ChargingMode.SMART, (rig.session(station, *plan),))
        [record] = await rig.enforcer.apply(target)
        assert (record.state, record.step) == (ProfileState.VERIFIED, "fewer_periods")
        assert [periods(s) for s in sets(station)] == [9, 9, 9, 4]
    assert await rig.learned() is None

    third = await rig.station("CP-DP3")
    target = StationTarget("CP-DP3", ChargingMode.SMART, (rig.session(third, *plan),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "plain", 1)
    assert [periods(s) for s in sets(third)] == [9]


async def test_max_periods_truncates_and_resends_the_rest(rig: Rig) -> None:
    station = await rig.station(
        "CP-MP", Quirks(max_periods=3), config={"ChargingScheduleMaxPeriods": "3"}
    )
    plan = [(0, 15, 11.04), (15, 30, 7.0), (30, 45, 11.04), (45, 60, 8.28)]
    target = StationTarget("CP-MP", ChargingMode.SMART, (rig.session(station, *plan),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step) == (ProfileState.VERIFIED, "plain")
    assert record.resend_at == rig.at(25)
    assert limits(station) == [(0, 16.0), (900, 10.1), (1800, 0.0)]

    assert await rig.enforcer.resend_due() == 0
    await station.advance(26 * 60)
    assert await rig.enforcer.resend_due() == 1
    [record] = await rig.stored("CP-MP")
    # 26' in: 7 kW for 4 more minutes, 11.04 kW to 45', then what is cut again
    assert (record.state, record.resend_at) == (ProfileState.VERIFIED, rig.at(14))
    assert limits(station) == [(0, 10.1), (240, 16.0), (1140, 0.0)]
    await station.advance(15 * 60)
    assert await rig.enforcer.resend_due() == 1
    [record] = await rig.stored("CP-MP")
    assert (record.state, record.resend_at) == (ProfileState.VERIFIED, None)
    assert limits(station) == [(0, 16.0), (240, 12.0), (1140, 0.0)]
    assert len(sets(station)) == 3


def periods(request: dict[str, object]) -> int:
    schedule = request["csChargingProfiles"]["chargingSchedule"]  # type: ignore[index]
    return len(schedule["chargingSchedulePeriod"])


async def test_a_station_refusing_the_periods_it_advertises_gets_fewer_and_it_is_learned(
    rig: Rig,
) -> None:
    """It advertises 24 ChargingScheduleMaxPeriods but rejects more than 4:
    the ladder halves the schedule (cut, re-sent before the cut) and the
    next station of the model is sent at most that many periods at once."""
    quirks = Quirks(max_periods=4)
    config = {"ChargingScheduleMaxPeriods": "24"}
    plan = [(15 * i, 15 * (i + 1), 11.04 if i % 2 else 7.0) for i in range(8)]
    first = await rig.station("CP-FP1", quirks, config=config)
    target = StationTarget("CP-FP1", ChargingMode.SMART, (rig.session(first, *plan),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step) == (ProfileState.VERIFIED, "fewer_periods"), record.detail
    assert [periods(s) for s in sets(first)] == [9, 9, 9, 4]
    # three periods of the plan, then the least of what was cut (the plan's 0 after 2 h)
    assert record.resend_at == rig.at(40)
    assert limits(first) == [(0, 10.1), (900, 16.0), (1800, 10.1), (2700, 0.0)]
    known = await rig.learned()
    assert known is not None and known.max_periods == 4
    assert known.detail == "fewer_periods made a TxProfile take effect"

    second = await rig.station("CP-FP2", quirks, config=config)
    target = StationTarget("CP-FP2", ChargingMode.SMART, (rig.session(second, *plan),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "plain", 1)
    assert [periods(s) for s in sets(second)] == [4]
    await second.advance(41 * 60)
    assert await rig.enforcer.resend_due() == 2  # both cuts are due (one clock)
    assert [periods(s) for s in sets(first)] == [9, 9, 9, 4, 4]
    assert [periods(s) for s in sets(second)] == [4, 4]
    for station_id in ("CP-FP1", "CP-FP2"):
        [record] = await rig.stored(station_id)
        assert (record.state, record.step) == (ProfileState.VERIFIED, "plain")


async def test_a_cut_schedule_is_re_sent_before_a_poll_that_could_come_too_late(
    rig: Rig,
) -> None:
    """The poller says how far ahead its next poll may be: what falls due
    before then goes now, before the cut's 0 could run (e2e: KEBA at 0)."""
    station = await rig.station(
        "CP-MP", Quirks(max_periods=3), config={"ChargingScheduleMaxPeriods": "3"}
    )
    plan = [(0, 15, 11.04), (15, 30, 7.0), (30, 45, 11.04), (45, 60, 8.28)]
    target = StationTarget("CP-MP", ChargingMode.SMART, (rig.session(station, *plan),))
    [record] = await rig.enforcer.apply(target)
    assert record.resend_at == rig.at(25)
    await station.advance(10 * 60)
    assert await rig.enforcer.resend_due(within=timedelta(minutes=10)) == 0
    assert await rig.enforcer.resend_due(within=timedelta(minutes=16)) == 1
    # 10' in: 11.04 kW to 15', 7 kW to 30', then the rest cut again (no 0 at 30')
    assert limits(station) == [(0, 16.0), (300, 10.1), (1200, 0.0)]
    [record] = await rig.stored("CP-MP")
    assert record.resend_at == rig.at(15)


async def test_offline_then_reconnect_reasserts(rig: Rig) -> None:
    station = await rig.station("CP-OFF")
    target = StationTarget(
        "CP-OFF", ChargingMode.SMART, (rig.session(station, (0, 30, 11.04)),),
        default_limit_kw=4.14,
    )  # fmt: skip
    await station.drop_connection()
    await eventually(lambda: rig.central.registry.get("CP-OFF") is None)
    records = await rig.enforcer.apply(target)
    assert [(r.state, r.detail) for r in records] == [(ProfileState.SENT, "offline")] * 2
    assert sets(station) == []

    await station.connect(settings_for(rig.central))
    await eventually(lambda: rig.central.registry.get("CP-OFF") is not None)
    records = await rig.enforcer.reassert("CP-OFF")
    assert [(r.purpose, r.state) for r in records] == [
        ("TxDefaultProfile", ProfileState.VERIFIED),
        ("TxProfile", ProfileState.VERIFIED),
    ]
    assert limits(station)[:2] == [(0, 16.0), (1800, 0.0)]


async def test_a_car_drawing_over_the_limit_escalates(rig: Rig) -> None:
    station = await rig.station("CP-DRAW")
    target = StationTarget("CP-DRAW", ChargingMode.SMART, (rig.session(station, (0, 30, 7.0)),))
    await rig.enforcer.apply(target)
    await station.advance(120)
    assert await rig.enforcer.check_draw("CP-DRAW", 1, 7.1, rig.now()) is None
    record = await rig.enforcer.check_draw("CP-DRAW", 1, 11.0, rig.now())
    assert record is not None
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "resend", 2)
    await station.advance(120)
    record = await rig.enforcer.check_draw("CP-DRAW", 1, 11.0, rig.now())
    assert record is not None and record.step == "clear_and_set"
    assert received(station, "ClearChargingProfile")[-1] == {"id": 9301}


async def test_a_reading_before_the_profile_took_hold_is_no_evidence(rig: Rig) -> None:
    """Bug (e2e logs: "draws 10.97 kW over 0.00 kW asked" right after re-plans):
    a reading taken before the profile was sent, or within a sample interval
    after it (MeterValueSampleInterval 60 s here) or after a step down, says
    nothing about it."""
    station = await rig.station("CP-GRACE")
    sent_at = rig.now()
    target = StationTarget(
        "CP-GRACE", ChargingMode.SMART, (rig.session(station, (0, 10, 11.04), (10, 60, 0.0)),)
    )
    await rig.enforcer.apply(target)
    count = len(sets(station))
    for at in (sent_at - timedelta(minutes=5), sent_at, sent_at + timedelta(seconds=59)):
        assert await rig.enforcer.check_draw("CP-GRACE", 1, 11.0, at) is None
    assert await rig.enforcer.check_draw("CP-GRACE", 1, 11.0, rig.at(5)) is None  # 11.04 asked
    assert await rig.enforcer.check_draw("CP-GRACE", 1, 11.0, rig.at(10.5)) is None  # step down
    assert len(sets(station)) == count
    await station.advance(12 * 60)
    record = await rig.enforcer.check_draw("CP-GRACE", 1, 11.0, rig.now())
    assert record is not None and record.step == "resend"
    assert len(sets(station)) == count + 1
    # the re-sent profile is new: the same reading time is no evidence against it
    assert await rig.enforcer.check_draw("CP-GRACE", 1, 11.0, rig.now()) is None


async def test_nothing_works_fails_and_tells_the_operator(rig: Rig) -> None:
    station = await rig.station("CP-NO", Quirks(rejected_units=frozenset({"A", "W"})))
    with rig.central.services.events.subscribe(types=[EVENT]) as events:
        target = StationTarget("CP-NO", ChargingMode.SMART, (rig.session(station, (0, 30, 7.0)),))
        [record] = await rig.enforcer.apply(target)
        assert record.state is ProfileState.FAILED
        assert record.step == "flip_unit"
        assert record.detail == "every escalation step failed; last: SetChargingProfile Rejected"
        levels = [s["csChargingProfiles"]["stackLevel"] for s in sets(station)]  # type: ignore[index]
        assert levels == [1, 1, 1, 1, 0, 1, 1]  # plain resend clear fewer level0 kind unit
        event = await events.get()
    assert event.station_id == "CP-NO"
    assert event.data["state"] == "failed"
    assert await rig.learned() is None
    # no storm: the same target is not escalated again until the station reconnects
    [record] = await rig.enforcer.apply(target)
    assert record.state is ProfileState.FAILED and len(sets(station)) == 7
    [record] = await rig.enforcer.reassert("CP-NO")
    assert record.state is ProfileState.FAILED and len(sets(station)) == 14


async def test_relative_cap_replanned_earlier_rise_is_resent_at_the_rise(rig: Rig) -> None:
    """Bug (e2e, DELTA-02): a Relative-only station's 0 kW cap was kept past the
    rise of a newer plan: the single-period payload looked "unchanged", so the
    record kept the older plan's resend_at."""
    learned = LearnedProfileOptions(*MODEL, kind="Relative")
    await rig.central.services.uow.run(lambda r: r.charging.put_learned(learned))
    station = await rig.station("CP-REL", Quirks(required_kind="Relative"))
    session = rig.session(station, (0, 120, 11.04))

    def cap(rise: float) -> tuple[Rate, ...]:
        return (
            Rate(rig.at(0), rig.at(rise), 0.0, "kW"),
            Rate(rig.at(rise), rig.at(600), 11.04, "kW"),
        )

    await rig.enforcer.apply(StationTarget("CP-REL", ChargingMode.SMART, (session,), cap(60)))
    [record] = [r for r in await rig.stored("CP-REL") if r.purpose == "ChargePointMaxProfile"]
    assert (record.state, record.resend_at) == (ProfileState.VERIFIED, rig.at(60))
    await rig.enforcer.apply(StationTarget("CP-REL", ChargingMode.SMART, (session,), cap(20)))
    [record] = [r for r in await rig.stored("CP-REL") if r.purpose == "ChargePointMaxProfile"]
    assert record.resend_at == rig.at(20)
    assert limits(station)[0] == (0, 0.0)
    await station.advance(20 * 60)
    assert await rig.enforcer.resend_due() == 1
    assert limits(station)[0] == (0, 16.0)


def ours(station: SimulatedStation, purpose: str) -> list[tuple[int, int]]:
    """(profile id, stack level) of each of our profiles of ``purpose`` the station holds."""
    return [
        (i.profile.id, i.profile.stack_level)
        for i in station.cp.profiles.installed
        if i.profile.purpose.value == purpose and i.profile.id >= 9100
    ]


async def test_a_refused_update_does_not_leave_the_older_plan_installed(rig: Rig) -> None:
    """Bug (e2e, WALLB-02): after an update the station must not keep an
    older TxProfile of ours. Every step refused: the older one is gone (the
    ladder cleared it), the record says FAILED, and the same plan again is
    not escalated again."""
    station = await rig.station("CP-STALE")
    first = StationTarget("CP-STALE", ChargingMode.SMART, (rig.session(station, (0, 60, 11.04)),))
    [record] = await rig.enforcer.apply(first)
    assert record.state is ProfileState.VERIFIED
    assert ours(station, "TxProfile") == [(9301, 1)]
    station.cp.profiles.checks.append(lambda _c, _p: "refuses everything now")
    update = StationTarget("CP-STALE", ChargingMode.SMART, (rig.session(station, (0, 60, 0.0)),))
    [record] = await rig.enforcer.apply(update)
    assert record.state is ProfileState.FAILED
    assert ours(station, "TxProfile") == []
    count = len(sets(station))
    [again] = await rig.enforcer.apply(update)
    assert again.state is ProfileState.FAILED and len(sets(station)) == count


async def escalate_to_clear_and_set(rig: Rig, station: SimulatedStation) -> None:
    """Two draws over the limit: the TxProfile is re-sent, then cleared and set."""
    for step in ("resend", "clear_and_set"):
        await station.advance(120)
        record = await rig.enforcer.check_draw(station.identity, 1, 11.0, rig.now())
        assert record is not None and (record.state, record.step) == (ProfileState.VERIFIED, step)


async def test_a_failed_escalation_keeps_a_profile_that_asks_the_plan(rig: Rig) -> None:
    """A car drawing over a profile that asks the plan, every later step
    refused: the profile stays (it is right), the record says FAILED with its
    payload, and neither the draw nor the same plan escalates again."""
    station = await rig.station("CP-KEEP")
    target = StationTarget("CP-KEEP", ChargingMode.SMART, (rig.session(station, (0, 60, 7.0)),))
    await rig.enforcer.apply(target)
    await station.advance(600)
    await escalate_to_clear_and_set(rig, station)
    [held] = [r for r in await rig.stored("CP-KEEP") if r.purpose == "TxProfile"]
    station.cp.profiles.checks.append(lambda _c, _p: "refuses everything now")
    await station.advance(120)
    record = await rig.enforcer.check_draw("CP-KEEP", 1, 11.0, rig.now())
    assert record is not None and record.state is ProfileState.FAILED
    assert record.payload == held.payload and ours(station, "TxProfile") == [(9301, 1)]
    count = len(sets(station))
    await station.advance(120)
    assert await rig.enforcer.check_draw("CP-KEEP", 1, 11.0, rig.now()) is None
    await rig.enforcer.apply(target)
    assert len(sets(station)) == count


async def test_a_new_stack_level_clears_the_old_level(rig: Rig) -> None:
    """After any apply the station holds one profile of ours per (connector,
    purpose): a step that moves it to stack level 0 clears level 1 by criteria
    (a station keying profiles by level would otherwise keep both)."""
    station = await rig.station("CP-LEVEL")
    target = StationTarget("CP-LEVEL", ChargingMode.SMART, (rig.session(station, (0, 60, 7.0)),))
    await rig.enforcer.apply(target)
    await station.advance(600)
    await escalate_to_clear_and_set(rig, station)
    station.cp.profiles.checks.append(
        lambda _c, p: None if p.stack_level == 0 else "stack level must be 0"
    )
    await station.advance(120)
    record = await rig.enforcer.check_draw("CP-LEVEL", 1, 11.0, rig.now())
    assert record is not None
    assert (record.state, record.step) == (ProfileState.VERIFIED, "stack_level_0")
    assert ours(station, "TxProfile") == [(9301, 0)]
    assert received(station, "ClearChargingProfile")[-1] == {
        "connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 1,
    }  # fmt: skip


async def test_an_update_dropped_while_the_older_one_holds_is_caught(rig: Rig) -> None:
    """Bug (e2e, HAGER-01): an update answered Accepted but dropped, the older
    TxProfile holding the car at 0 where the new plan says 11 kW, passed as
    verified ("at or under what was asked"). Under-delivery is caught now."""
    station = await rig.station("CP-DROP")
    older = StationTarget("CP-DROP", ChargingMode.SMART, (rig.session(station, (30, 60, 11.04)),))
    assert (await rig.enforcer.apply(older))[0].state is ProfileState.VERIFIED
    station.cp.profiles.ignores.append(lambda _c, p: "above 0" if p.stack_level > 0 else None)
    update = StationTarget("CP-DROP", ChargingMode.SMART, (rig.session(station, (0, 60, 11.04)),))
    [record] = await rig.enforcer.apply(update)
    assert (record.state, record.step) == (ProfileState.VERIFIED, "stack_level_0")
    assert limits(station)[:2] == [(0, 16.0), (3600, 0.0)]


async def test_a_station_that_never_answers_is_sent_again_at_the_next_apply(
    impatient_rig: Rig,
) -> None:
    """No reply to SetChargingProfile: the ladder stops at the first timeout
    (another shape would not be answered either), the record stays sent with
    the timeout as its detail, nothing raises, and the next apply retries."""
    rig = impatient_rig
    station = await rig.station("CP-MUTE")
    station.quirks = Quirks(drop_replies=True)  # from its next connection on
    await station.drop_connection()
    await eventually(lambda: rig.central.registry.get("CP-MUTE") is None)
    await station.connect(settings_for(rig.central))
    await eventually(lambda: rig.central.registry.get("CP-MUTE") is not None)
    target = StationTarget("CP-MUTE", ChargingMode.SMART, (rig.session(station, (0, 30, 11.04)),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step, record.attempts) == (ProfileState.SENT, "plain", 1)
    assert record.detail == (
        "SetChargingProfile: no reply within the response timeout; sent again at the next apply"
    )
    assert [(r.state, r.detail) for r in await rig.stored("CP-MUTE")] == [
        (ProfileState.SENT, record.detail)
    ]
    assert len(sets(station)) == 1

    # still mute: the next apply sends it again (one attempt, no ladder)
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.attempts) == (ProfileState.SENT, 1)
    assert len(sets(station)) == 2

    station.quirks = Quirks()
    await station.drop_connection()
    await eventually(lambda: rig.central.registry.get("CP-MUTE") is None)
    await station.connect(settings_for(rig.central))
    await eventually(lambda: rig.central.registry.get("CP-MUTE") is not None)
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step, record.attempts) == (ProfileState.VERIFIED, "plain", 1)
    assert limits(station)[:2] == [(0, 16.0), (1800, 0.0)]


def crash(_connector: int, _profile: ChargingProfile) -> str | None:
    raise RuntimeError("firmware bug")


async def test_a_callerror_walks_the_ladder_and_reassert_retries(rig: Rig) -> None:
    """SetChargingProfile answered with a CALLERROR (the station's handler
    fails: InternalError): a refusal, every step tried, FAILED saying so;
    nothing raises; the same plan is not sent again until reassert."""
    station = await rig.station("CP-ERR")
    station.cp.profiles.checks.append(crash)
    target = StationTarget("CP-ERR", ChargingMode.SMART, (rig.session(station, (0, 30, 11.04)),))
    [record] = await rig.enforcer.apply(target)
    assert (record.state, record.step) == (ProfileState.FAILED, "flip_unit")
    assert record.detail is not None
    assert record.detail.startswith(
        "every escalation step failed; last: SetChargingProfile CALLERROR InternalError"
    ), record.detail
    assert len(sets(station)) == 7
    [again] = await rig.enforcer.apply(target)
    assert again.state is ProfileState.FAILED and len(sets(station)) == 7

    station.cp.profiles.checks.remove(crash)
    [record] = await rig.enforcer.reassert("CP-ERR")
    assert (record.state, record.step) == (ProfileState.VERIFIED, "plain")
    assert limits(station)[:2] == [(0, 16.0), (1800, 0.0)]
