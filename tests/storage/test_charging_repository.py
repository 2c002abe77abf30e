"""Needs, switches, plans, profiles and learned options of live smart
charging, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ChargingNeed,
    LearnedProfileOptions,
    ProfileRecord,
    ProfileState,
    StoredPlan,
)
from opencsms.storage import SqlUnitOfWork

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_need_round_trip_and_replace(uow: SqlUnitOfWork) -> None:
    need = ChargingNeed(
        transaction_id=7,
        energy_kwh=22.5,
        departure=at(600).astimezone(CET),
        set_by="api:fleet",
        updated_at=at(0),
        max_power_kw=7.4,
        precondition_minutes=15,
        continuous=True,
    )
    await uow.run(lambda r: r.charging.put_need(need))
    got = await uow.read(lambda r: r.charging.get_need(7))
    assert got == need and got is not None and got.departure.tzinfo is UTC
    assert await uow.read(lambda r: r.charging.get_need(8)) is None

    changed = ChargingNeed(7, 10.0, at(300), "cli:local", at(5))
    await uow.run(lambda r: r.charging.put_need(changed))
    assert await uow.read(lambda r: r.charging.get_need(7)) == changed


async def test_mode_is_smart_unless_switched(uow: SqlUnitOfWork) -> None:
    assert await uow.read(lambda r: r.charging.mode("CP-1")) is ChargingMode.SMART

    async def switch(r: Repositories) -> None:
        await r.charging.set_mode("CP-1", ChargingMode.OFF, at(0))
        await r.charging.set_mode("CP-2", ChargingMode.ON, at(0))
        await r.charging.set_mode("CP-1", ChargingMode.ON, at(1))
        await r.charging.set_mode("CP-2", ChargingMode.SMART, at(2))

    await uow.run(switch)
    assert await uow.read(lambda r: r.charging.mode("CP-1")) is ChargingMode.ON
    assert await uow.read(lambda r: r.charging.mode("CP-2")) is ChargingMode.SMART


def plan(transaction_id: int, created: float, reason: str, **changes: object) -> StoredPlan:
    base = StoredPlan(
        id=0,
        transaction_id=transaction_id,
        station_id="CP-1",
        connector_id=1,
        created_at=at(created),
        reason=reason,
        method="single",
        segments=(
            Segment(at(60).astimezone(CET), at(90).astimezone(CET), 7.4),
            Segment(at(120), at(150), 3.25),
        ),
        need_kwh=5.3375,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_plans_keep_every_version_oldest_first(uow: SqlUnitOfWork) -> None:
    full = plan(
        1,
        0,
        "need set",
        method="lp",
        shortfall_kwh=1.5,
        unplanned_kwh=0.25,
        charge_now=True,
        cost=123.456,
        co2_g=789.0,
        baseline_cost=200.0,
        baseline_co2_g=900.5,
        notes=("site cap 40 kW binds 13:00-14:00", "price series ends at 18:00"),
    )

    async def add(r: Repositories) -> list[StoredPlan]:
        # the same created_at: the order is the order they were stored in
        return [
            await r.charging.add_plan(full),
            await r.charging.add_plan(plan(2, 0, "other session")),
            await r.charging.add_plan(plan(1, 5, "prices changed", segments=())),
            await r.charging.add_plan(plan(1, 5, "switched on", method="on")),
        ]

    first, other, second, third = await uow.run(add)
    assert first == replace(full, id=first.id)
    assert first.segments[0].start.tzinfo is UTC
    assert first.segments == (Segment(at(60), at(90), 7.4), Segment(at(120), at(150), 3.25))
    assert len({first.id, other.id, second.id, third.id}) == 4
    assert second.segments == () and second.notes == ()

    assert await uow.read(lambda r: r.charging.plans(1)) == [first, second, third]
    assert await uow.read(lambda r: r.charging.latest_plan(1)) == third
    assert await uow.read(lambda r: r.charging.latest_plan(2)) == other
    assert await uow.read(lambda r: r.charging.latest_plan(3)) is None
    assert await uow.read(lambda r: r.charging.plans(3)) == []


def profile(
    connector_id: int = 1,
    purpose: str = "TxProfile",
    station_id: str = "CP-1",
    resend: float | None = None,
    **changes: object,
) -> ProfileRecord:
    base = ProfileRecord(
        station_id=station_id,
        connector_id=connector_id,
        purpose="TxProfile",
        profile_id=100 + connector_id,
        payload={
            "connectorId": connector_id,
            "csChargingProfiles": {
                "chargingProfileId": 100 + connector_id,
                "stackLevel": 1,
                "chargingProfilePurpose": purpose,
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
                },
            },
        },
        state=ProfileState.SENT,
        step="plain",
        attempts=1,
        updated_at=at(0),
        resend_at=None if resend is None else at(resend),
    )
    return replace(base, purpose=purpose, **changes)  # type: ignore[arg-type]


async def test_profiles_upsert_by_connector_and_purpose(uow: SqlUnitOfWork) -> None:
    async def put(r: Repositories) -> None:
        await r.charging.put_profile(profile(1, "TxProfile", transaction_id=7))
        await r.charging.put_profile(profile(0, "ChargePointMaxProfile"))
        await r.charging.put_profile(profile(1, "TxDefaultProfile"))
        await r.charging.put_profile(profile(1, station_id="CP-2"))

    await uow.run(put)
    assert await uow.read(lambda r: r.charging.profiles("CP-1")) == [
        profile(0, "ChargePointMaxProfile"),
        profile(1, "TxDefaultProfile"),
        profile(1, "TxProfile", transaction_id=7),
    ]

    verified = profile(
        1,
        "TxProfile",
        transaction_id=7,
        state=ProfileState.VERIFIED,
        step="stack_level_0",
        attempts=3,
        updated_at=at(2).astimezone(CET),
        detail="composite schedule shows 7.4 kW",
        payload={"connectorId": 1, "note": "replaced"},
    )
    await uow.run(lambda r: r.charging.put_profile(verified))
    got = await uow.read(lambda r: r.charging.profiles("CP-1"))
    assert got[2] == verified and got[2].state is ProfileState.VERIFIED
    assert got[2].updated_at.tzinfo is UTC
    assert len(got) == 3
    assert await uow.read(lambda r: r.charging.profiles("CP-3")) == []


async def test_profiles_due_for_resend(uow: SqlUnitOfWork) -> None:
    async def put(r: Repositories) -> None:
        await r.charging.put_profile(profile(1, station_id="CP-2", resend=10))
        await r.charging.put_profile(profile(2, station_id="CP-1", resend=5))
        await r.charging.put_profile(profile(1, station_id="CP-1", resend=10))
        await r.charging.put_profile(profile(3, station_id="CP-1", resend=11))
        await r.charging.put_profile(profile(4, station_id="CP-1"))  # nothing to resend

    await uow.run(put)
    assert await uow.read(lambda r: r.charging.profiles_due(at(4))) == []
    assert await uow.read(lambda r: r.charging.profiles_due(at(10))) == [
        profile(2, station_id="CP-1", resend=5),
        profile(1, station_id="CP-1", resend=10),
        profile(1, station_id="CP-2", resend=10),
    ]


async def test_learned_options_per_model(uow: SqlUnitOfWork) -> None:
    assert await uow.read(lambda r: r.charging.get_learned("ACME", "W1")) is None
    learned = LearnedProfileOptions(
        "ACME",
        "W1",
        stack_level_0=True,
        kind="Relative",
        unit="A",
        max_periods=6,
        learned_at=at(0).astimezone(CET),
        detail="ignored stack level 1",
    )

    async def put(r: Repositories) -> None:
        await r.charging.put_learned(LearnedProfileOptions("ACME", "W1"))
        await r.charging.put_learned(LearnedProfileOptions("ACME", "W2"))
        await r.charging.put_learned(learned)

    await uow.run(put)
    got = await uow.read(lambda r: r.charging.get_learned("ACME", "W1"))
    assert got == learned and got is not None and got.learned_at is not None
    assert got.learned_at.tzinfo is UTC
    assert await uow.read(lambda r: r.charging.get_learned("ACME", "W2")) == (
        LearnedProfileOptions("ACME", "W2")
    )
