"""Fault and quirk modes real fleets have, selectable per simulated station.

Smart-charging quirks become extra acceptance rules of the profile store
(SetChargingProfile answers Rejected) or, worse, rules under which it answers
Accepted and drops the profile (``ignore_profiles_above_stack_level_0``: the
"Accepted but not applied" charger a central system must catch by checking
GetCompositeSchedule and the meter); link quirks (duplicates, slow or
missing replies) live in :class:`~opencsms.simulator.journal.JournalTransport`;
the "first non-zero limit after a 0 A pause is ignored" quirk lives in the
simulated pilot. Faults (Faulted with an error code, dropped connections)
are actions on :class:`~opencsms.simulator.station.SimulatedStation`.
Configuration quirks (keys that need a reboot, measurands the meter cannot
sample) become key descriptions of the station's configuration store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from opencsms.chargepoint.configuration import STANDARD_KEYS, SUPPORTED_MEASURANDS, KeySpec
from opencsms.chargepoint.smart_charging import ChargingProfile, ProfileCheck


@dataclass(frozen=True, slots=True)
class Quirks:
    only_stack_level_0: bool = False
    rejected_units: frozenset[str] = frozenset()
    """{"W"}: rejects power profiles; {"A"}: accepts only W."""
    max_periods: int | None = None
    """Rejects schedules with more periods, whatever ChargingScheduleMaxPeriods says."""
    required_kind: str | None = None
    """"Absolute" or "Relative": rejects profiles of any other kind."""
    tx_profile_needs_transaction_id: bool = False
    ignore_profiles_above_stack_level_0: bool = False
    """Answers Accepted to a profile with stack level > 0 but never installs it."""
    ignore_first_limit_after_pause: bool = False
    duplicate_calls: bool = False
    """Every CALL it sends goes out twice with the same message id."""
    reply_delay: float = 0.0
    """Real seconds before each reply to the central system."""
    drop_replies: bool = False
    """Never answers the central system's CALLs."""
    boot_on_reconnect: bool = False
    """Sends BootNotification on every reconnect, not only after a reboot."""
    reboot_required_keys: frozenset[str] = frozenset()
    """ChangeConfiguration of these (standard) keys answers RebootRequired."""
    unsupported_measurands: frozenset[str] = frozenset()
    """The meter cannot sample these: a *SampledData/*AlignedData list naming one is Rejected."""

    def config_specs(self) -> list[KeySpec]:
        """Key descriptions replacing the standard ones, for the configuration store."""
        specs: list[KeySpec] = []
        for spec in STANDARD_KEYS:
            changed = spec
            if spec.name in self.reboot_required_keys:
                changed = replace(changed, reboot_required=True)
            if self.unsupported_measurands and spec.items is SUPPORTED_MEASURANDS:
                changed = replace(changed, items=SUPPORTED_MEASURANDS - self.unsupported_measurands)
            if changed is not spec:
                specs.append(changed)
        return specs

    def profile_checks(self) -> list[ProfileCheck]:
        checks: list[ProfileCheck] = []
        if self.only_stack_level_0:
            checks.append(lambda _c, p: None if p.stack_level == 0 else "stack level must be 0")
        if self.rejected_units:
            units = self.rejected_units
            checks.append(
                lambda _c, p: (
                    f"unit {p.schedule.unit} unsupported" if p.schedule.unit in units else None
                )
            )
        if self.max_periods is not None:
            limit = self.max_periods
            checks.append(
                lambda _c, p: "too many periods" if len(p.schedule.periods) > limit else None
            )
        if self.required_kind is not None:
            kind = self.required_kind
            checks.append(lambda _c, p: None if p.kind == kind else f"only {kind} profiles")
        if self.tx_profile_needs_transaction_id:
            checks.append(_needs_transaction_id)
        return checks

    def profile_ignores(self) -> list[ProfileCheck]:
        """Rules under which an Accepted profile is dropped instead of installed."""
        ignores: list[ProfileCheck] = []
        if self.ignore_profiles_above_stack_level_0:
            ignores.append(lambda _c, p: "stack level above 0" if p.stack_level > 0 else None)
        return ignores


def _needs_transaction_id(_connector: int, profile: ChargingProfile) -> str | None:
    if profile.purpose == "TxProfile" and profile.transaction_id is None:
        return "TxProfile without transactionId"
    return None
