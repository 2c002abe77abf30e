"""Charging profiles as the station holds them (OCPP 1.6 section 3.13).

Parsing from and to the wire, and the profile store with the install rules
of SetChargingProfile and the filters of ClearChargingProfile. The limit
over time is computed elsewhere, by the pure function in
:mod:`opencsms.chargepoint.composite`.

Install rules (SetChargingProfile.conf ``Rejected`` otherwise):
- ChargePointMaxProfile only on connector 0;
- TxProfile only on a connector > 0 that has an active transaction, and, if
  the profile names a transactionId, it must be that transaction's;
- stack level within ``ChargeProfileMaxStackLevel``, at most
  ``ChargingScheduleMaxPeriods`` periods, a unit allowed by
  ``ChargingScheduleAllowedChargingRateUnit``, at most
  ``MaxChargingProfilesInstalled`` profiles after replacement;
- a profile with the same id replaces the old one wherever it was; one with
  the same (purpose, stack level) on the same connector replaces that one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ocpp.v16.enums import ChargingProfileKindType as Kind
from ocpp.v16.enums import ChargingProfilePurposeType as Purpose
from ocpp.v16.enums import RecurrencyKind

from opencsms.chargepoint.clock import ocpp_time, parse_time


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start: int  # seconds from the schedule start
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    unit: str  # "A" or "W"
    periods: tuple[SchedulePeriod, ...]
    duration: int | None = None
    start: datetime | None = None
    min_charging_rate: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: ChargingSchedule
    recurrency: RecurrencyKind | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> ChargingProfile:
        """Build from a ``csChargingProfiles`` object (already schema-valid)."""
        sched = data["chargingSchedule"]
        periods = tuple(
            SchedulePeriod(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
            for p in sched["chargingSchedulePeriod"]
        )
        schedule = ChargingSchedule(
            unit=sched["chargingRateUnit"],
            periods=tuple(sorted(periods, key=lambda p: p.start)),
            duration=sched.get("duration"),
            start=_opt_time(sched.get("startSchedule")),
            min_charging_rate=sched.get("minChargingRate"),
        )
        recurrency = data.get("recurrencyKind")
        return cls(
            id=int(data["chargingProfileId"]),
            stack_level=int(data["stackLevel"]),
            purpose=Purpose(data["chargingProfilePurpose"]),
            kind=Kind(data["chargingProfileKind"]),
            schedule=schedule,
            recurrency=RecurrencyKind(recurrency) if recurrency else None,
            valid_from=_opt_time(data.get("validFrom")),
            valid_to=_opt_time(data.get("validTo")),
            transaction_id=data.get("transactionId"),
        )

    def to_payload(self) -> dict[str, Any]:
        sched: dict[str, Any] = {
            "chargingRateUnit": self.schedule.unit,
            "chargingSchedulePeriod": [_period_payload(p) for p in self.schedule.periods],
        }
        if self.schedule.duration is not None:
            sched["duration"] = self.schedule.duration
        if self.schedule.start is not None:
            sched["startSchedule"] = ocpp_time(self.schedule.start)
        if self.schedule.min_charging_rate is not None:
            sched["minChargingRate"] = self.schedule.min_charging_rate
        out: dict[str, Any] = {
            "chargingProfileId": self.id,
            "stackLevel": self.stack_level,
            "chargingProfilePurpose": self.purpose.value,
            "chargingProfileKind": self.kind.value,
            "chargingSchedule": sched,
        }
        if self.transaction_id is not None:
            out["transactionId"] = self.transaction_id
        if self.recurrency is not None:
            out["recurrencyKind"] = self.recurrency.value
        if self.valid_from is not None:
            out["validFrom"] = ocpp_time(self.valid_from)
        if self.valid_to is not None:
            out["validTo"] = ocpp_time(self.valid_to)
        return out


def _period_payload(p: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": p.start, "limit": p.limit}
    if p.number_phases is not None:
        out["numberPhases"] = p.number_phases
    return out


def _opt_time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    connector_id: int
    profile: ChargingProfile


@dataclass(frozen=True, slots=True)
class ProfileLimits:
    """The smart-charging capabilities a station advertises in its configuration."""

    max_stack_level: int = 10
    max_periods: int = 24
    allowed_units: frozenset[str] = frozenset({"A", "W"})
    max_installed: int = 10


ProfileCheck = Callable[[int, ChargingProfile], str | None]
"""Extra acceptance rule (vendor quirks): returns a rejection reason or None."""


@dataclass(slots=True)
class ProfileStore:
    installed: list[InstalledProfile] = field(default_factory=list)
    checks: list[ProfileCheck] = field(default_factory=list)
    ignores: list[ProfileCheck] = field(default_factory=list)
    """Vendor quirks of the worst kind: a profile one of these names is answered
    Accepted but silently dropped (only GetCompositeSchedule or the meter shows it)."""
    ignored: list[ChargingProfile] = field(default_factory=list)
    """The profiles dropped that way, newest last (for tests and the journal)."""

    def install(
        self,
        connector_id: int,
        profile: ChargingProfile,
        *,
        active_transaction: int | None,
        limits: ProfileLimits,
    ) -> str | None:
        """Install ``profile``; return None when accepted, else why it was rejected.

        ``active_transaction`` is the id of the transaction running on
        ``connector_id`` (None when idle).
        """
        reason = self._rejection(connector_id, profile, active_transaction, limits)
        if reason is not None:
            return reason
        if any(ignore(connector_id, profile) is not None for ignore in self.ignores):
            self.ignored.append(profile)
            return None
        kept = [
            i
            for i in self.installed
            if i.profile.id != profile.id
            and not (
                i.connector_id == connector_id
                and i.profile.purpose == profile.purpose
                and i.profile.stack_level == profile.stack_level
            )
        ]
        if len(kept) + 1 > limits.max_installed:
            return "MaxChargingProfilesInstalled reached"
        kept.append(InstalledProfile(connector_id, profile))
        self.installed = kept
        return None

    def _rejection(
        self,
        connector_id: int,
        profile: ChargingProfile,
        active_transaction: int | None,
        limits: ProfileLimits,
    ) -> str | None:
        if profile.purpose == Purpose.charge_point_max_profile and connector_id != 0:
            return "ChargePointMaxProfile only on connector 0"
        if profile.purpose == Purpose.tx_profile:
            if connector_id == 0 or active_transaction is None:
                return "TxProfile needs an active transaction on the connector"
            if profile.transaction_id not in (None, active_transaction):
                return "TxProfile for another transaction"
        if not 0 <= profile.stack_level <= limits.max_stack_level:
            return "stack level above ChargeProfileMaxStackLevel"
        if not profile.schedule.periods or len(profile.schedule.periods) > limits.max_periods:
            return "too many schedule periods"
        if profile.schedule.unit not in limits.allowed_units:
            return f"charging rate unit {profile.schedule.unit} not allowed"
        if profile.kind == Kind.recurring and (
            profile.recurrency is None or profile.schedule.start is None
        ):
            return "Recurring profile needs recurrencyKind and startSchedule"
        for check in self.checks:
            reason = check(connector_id, profile)
            if reason is not None:
                return reason
        return None

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: by id alone if given, else by the other filters.
        Returns True if anything was removed (Accepted), False (Unknown)."""
        before = len(self.installed)
        if profile_id is not None:
            self.installed = [i for i in self.installed if i.profile.id != profile_id]
        else:
            self.installed = [
                i
                for i in self.installed
                if not (
                    (connector_id is None or i.connector_id == connector_id)
                    and (purpose is None or i.profile.purpose == purpose)
                    and (stack_level is None or i.profile.stack_level == stack_level)
                )
            ]
        return len(self.installed) != before

    def end_transaction(self, connector_id: int) -> None:
        """TxProfiles die with their transaction (1.6 section 3.13.3)."""
        self.installed = [
            i
            for i in self.installed
            if not (i.connector_id == connector_id and i.profile.purpose == Purpose.tx_profile)
        ]

    def for_connector(self, connector_id: int) -> Iterable[InstalledProfile]:
        return [i for i in self.installed if i.connector_id in (0, connector_id)]
