"""The :class:`~opencsms.domain.ports.ChargingRepository` over SQLAlchemy Core.

What live smart charging keeps per session and per station: the need
(energy by departure), the station's switch (smart/on/off), every plan made
for a session (the newest is in force; the older ones show how the plan
changed), the charging profile each connector should hold for each purpose
as last sent, and what each station model was found to accept.

Choices the port leaves open:

* Plan segments are stored as JSON ``[{start, end, power_kw}]`` with ISO-8601
  UTC times, notes as a JSON list; "oldest first" is by id (insertion order:
  two plans in the same clock tick still keep their order).
* ``profiles`` lists a station's records by connector, then purpose;
  ``profiles_due`` by ``resend_at``, then station and connector. Neither
  filters on state: a cleared record with a ``resend_at`` left set is still
  due, so the enforcer should clear ``resend_at`` when it clears a profile.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select

from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ChargingNeed,
    LearnedProfileOptions,
    ProfileRecord,
    ProfileState,
    StoredPlan,
)
from opencsms.storage.pending import Executor, upsert
from opencsms.storage.smart_charging_repository import from_iso, in_batches, iso
from opencsms.storage.tables import (
    charging_modes,
    charging_needs,
    charging_plans,
    charging_profiles,
    learned_profile_options,
)


def need_from_row(row: Row[Any]) -> ChargingNeed:
    m = row._mapping
    return ChargingNeed(
        transaction_id=m["transaction_id"],
        energy_kwh=m["energy_kwh"],
        departure=m["departure"],
        set_by=m["set_by"],
        updated_at=m["updated_at"],
        max_power_kw=m["max_power_kw"],
        precondition_minutes=m["precondition_minutes"],
        continuous=m["continuous"],
    )


def plan_from_row(row: Row[Any]) -> StoredPlan:
    m = row._mapping
    return StoredPlan(
        id=m["id"],
        transaction_id=m["transaction_id"],
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        created_at=m["created_at"],
        reason=m["reason"],
        method=m["method"],
        segments=tuple(
            Segment(from_iso(s["start"]), from_iso(s["end"]), float(s["power_kw"]))
            for s in m["segments"]
        ),
        need_kwh=m["need_kwh"],
        shortfall_kwh=m["shortfall_kwh"],
        unplanned_kwh=m["unplanned_kwh"],
        charge_now=m["charge_now"],
        cost=m["cost"],
        co2_g=m["co2_g"],
        baseline_cost=m["baseline_cost"],
        baseline_co2_g=m["baseline_co2_g"],
        notes=tuple(m["notes"]),
    )


def profile_from_row(row: Row[Any]) -> ProfileRecord:
    m = row._mapping
    return ProfileRecord(
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        purpose=m["purpose"],
        profile_id=m["profile_id"],
        payload=m["payload"],
        state=ProfileState(m["state"]),
        step=m["step"],
        attempts=m["attempts"],
        updated_at=m["updated_at"],
        transaction_id=m["transaction_id"],
        resend_at=m["resend_at"],
        detail=m["detail"],
    )


def learned_from_row(row: Row[Any]) -> LearnedProfileOptions:
    m = row._mapping
    return LearnedProfileOptions(
        vendor=m["vendor"],
        model=m["model"],
        stack_level_0=m["stack_level_0"],
        kind=m["kind"],
        unit=m["unit"],
        max_periods=m["max_periods"],
        learned_at=m["learned_at"],
        detail=m["detail"],
    )


class SqlChargingRepository:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def _upsert(self, table: Any, keys: list[str], values: dict[str, Any]) -> None:
        await self._conn.execute(upsert(self._conn.dialect.name, table, keys, values), values)

    async def put_need(self, need: ChargingNeed) -> None:
        await self._upsert(
            charging_needs,
            ["transaction_id"],
            {
                "transaction_id": need.transaction_id,
                "energy_kwh": need.energy_kwh,
                "departure": need.departure,
                "set_by": need.set_by,
                "updated_at": need.updated_at,
                "max_power_kw": need.max_power_kw,
                "precondition_minutes": need.precondition_minutes,
                "continuous": need.continuous,
            },
        )

    async def get_need(self, transaction_id: int) -> ChargingNeed | None:
        row = (
            await self._conn.execute(
                select(charging_needs).where(charging_needs.c.transaction_id == transaction_id)
            )
        ).first()
        return None if row is None else need_from_row(row)

    async def set_mode(self, station_id: str, mode: ChargingMode, at: datetime) -> None:
        await self._upsert(
            charging_modes,
            ["station_id"],
            {"station_id": station_id, "mode": mode.value, "updated_at": at},
        )

    async def mode(self, station_id: str) -> ChargingMode:
        result = await self._conn.execute(
            select(charging_modes.c.mode).where(charging_modes.c.station_id == station_id)
        )
        mode: str | None = result.scalar_one_or_none()
        return ChargingMode.SMART if mode is None else ChargingMode(mode)

    async def add_plan(self, plan: StoredPlan) -> StoredPlan:
        row = (
            await self._conn.execute(
                insert(charging_plans)
                .values(
                    transaction_id=plan.transaction_id,
                    station_id=plan.station_id,
                    connector_id=plan.connector_id,
                    created_at=plan.created_at,
                    reason=plan.reason,
                    method=plan.method,
                    segments=[
                        {"start": iso(s.start), "end": iso(s.end), "power_kw": s.power_kw}
                        for s in plan.segments
                    ],
                    need_kwh=plan.need_kwh,
                    shortfall_kwh=plan.shortfall_kwh,
                    unplanned_kwh=plan.unplanned_kwh,
                    charge_now=plan.charge_now,
                    cost=plan.cost,
                    co2_g=plan.co2_g,
                    baseline_cost=plan.baseline_cost,
                    baseline_co2_g=plan.baseline_co2_g,
                    notes=list(plan.notes),
                )
                .returning(charging_plans)
            )
        ).one()
        return plan_from_row(row)

    async def latest_plan(self, transaction_id: int) -> StoredPlan | None:
        p = charging_plans.c
        row = (
            await self._conn.execute(
                select(charging_plans)
                .where(p.transaction_id == transaction_id)
                .order_by(p.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else plan_from_row(row)

    async def latest_plans(self, transaction_ids: Collection[int]) -> dict[int, StoredPlan]:
        p = charging_plans.c
        found: dict[int, StoredPlan] = {}
        for chunk in in_batches(transaction_ids):
            newest = (
                select(func.max(p.id)).where(p.transaction_id.in_(chunk)).group_by(p.transaction_id)
            )
            result = await self._conn.execute(select(charging_plans).where(p.id.in_(newest)))
            found.update((row.transaction_id, plan_from_row(row)) for row in result)
        return found

    async def modes(self, station_ids: Collection[str]) -> dict[str, ChargingMode]:
        m = charging_modes.c
        found = dict.fromkeys(station_ids, ChargingMode.SMART)
        for chunk in in_batches(found):
            result = await self._conn.execute(
                select(m.station_id, m.mode).where(m.station_id.in_(chunk))
            )
            found.update((station_id, ChargingMode(mode)) for station_id, mode in result)
        return found

    async def plans(self, transaction_id: int) -> builtins.list[StoredPlan]:
        p = charging_plans.c
        result = await self._conn.execute(
            select(charging_plans).where(p.transaction_id == transaction_id).order_by(p.id)
        )
        return [plan_from_row(row) for row in result]

    async def put_profile(self, record: ProfileRecord) -> None:
        await self._upsert(
            charging_profiles,
            ["station_id", "connector_id", "purpose"],
            {
                "station_id": record.station_id,
                "connector_id": record.connector_id,
                "purpose": record.purpose,
                "profile_id": record.profile_id,
                "payload": record.payload,
                "state": record.state.value,
                "step": record.step,
                "attempts": record.attempts,
                "updated_at": record.updated_at,
                "transaction_id": record.transaction_id,
                "resend_at": record.resend_at,
                "detail": record.detail,
            },
        )

    async def profiles(self, station_id: str) -> builtins.list[ProfileRecord]:
        c = charging_profiles.c
        result = await self._conn.execute(
            select(charging_profiles)
            .where(c.station_id == station_id)
            .order_by(c.connector_id, c.purpose)
        )
        return [profile_from_row(row) for row in result]

    async def profiles_due(self, now: datetime) -> builtins.list[ProfileRecord]:
        c = charging_profiles.c
        result = await self._conn.execute(
            select(charging_profiles)
            .where(c.resend_at <= now)
            .order_by(c.resend_at, c.station_id, c.connector_id, c.purpose)
        )
        return [profile_from_row(row) for row in result]

    async def get_learned(self, vendor: str, model: str) -> LearnedProfileOptions | None:
        c = learned_profile_options.c
        row = (
            await self._conn.execute(
                select(learned_profile_options).where(c.vendor == vendor, c.model == model)
            )
        ).first()
        return None if row is None else learned_from_row(row)

    async def put_learned(self, options: LearnedProfileOptions) -> None:
        await self._upsert(
            learned_profile_options,
            ["vendor", "model"],
            {
                "vendor": options.vendor,
                "model": options.model,
                "stack_level_0": options.stack_level_0,
                "kind": options.kind,
                "unit": options.unit,
                "max_periods": options.max_periods,
                "learned_at": options.learned_at,
                "detail": options.detail,
            },
        )


__all__ = ["SqlChargingRepository", "learned_from_row", "plan_from_row", "profile_from_row"]
