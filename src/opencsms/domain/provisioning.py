"""Provisioning: bring every station to the customer's configuration on connect.

Each time a station is ready on a connection (after its BootNotification, or
its first message after a reconnect) the composition root calls
:meth:`ProvisioningService.start`, which runs one pass in the background —
never on the station's message path:

1. GetConfiguration (all keys); the answer replaces the stored snapshot.
2. For every desired key whose reported value differs: ChangeConfiguration.
   The answer is kept per key as a :class:`ProvisioningItem` (accepted,
   reboot_required, rejected, not_supported, or failed when no answer came)
   and published as ``provisioning.changed``.
3. RebootRequired: a soft Reset (if the policy says so), once per value: the
   next connection's snapshot shows the value and the item becomes accepted;
   a station that still needs a reboot after one is left for the operator.

Desired state is re-applied on every connection until the station reports it,
so a value changed behind our back is put back on the next connect. Items that
got no answer are retried after ``retry_interval`` while the station stays
connected. If a station refuses ``Power.Active.Import`` in
MeterValuesSampledData (Rejected/NotSupported), the list is sampled with
``Current.Import`` and ``Voltage`` instead (we can compute power from them);
the item's desired value becomes the fallback and its detail says so, so later
connections keep to the fallback instead of asking again.

The capabilities (feature profiles, smart-charging limits, sampled measurands,
local-list and reservation support) are derived from the stored snapshot on
read: :func:`capabilities_of`.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import CommandService, StationOffline, UnknownStation
from opencsms.domain.events import EventBus
from opencsms.domain.model import (
    Command,
    CommandState,
    ConfigurationEntry,
    ProvisioningItem,
    ProvisioningState,
)
from opencsms.domain.ports import Repositories, UnitOfWork

log = structlog.get_logger("opencsms.provisioning")

REQUESTED_BY = "provisioning"
METER_KEY = "MeterValuesSampledData"
POWER = "Power.Active.Import"
POWER_FALLBACK = ("Current.Import", "Voltage")
FALLBACK_NOTE = "fallback:"

DEFAULT_CONFIGURATION: dict[str, str] = {
    "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import",
    "MeterValueSampleInterval": "60",
}

_STATES = {
    "Accepted": ProvisioningState.ACCEPTED,
    "RebootRequired": ProvisioningState.REBOOT_REQUIRED,
    "Rejected": ProvisioningState.REJECTED,
    "NotSupported": ProvisioningState.NOT_SUPPORTED,
}


@dataclass(frozen=True, slots=True)
class ProvisioningPolicy:
    desired: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CONFIGURATION))
    reboot_when_required: bool = True
    """Soft Reset a station that answers RebootRequired."""
    retry_interval: float = 300.0
    """Seconds before a pass that got no answer is tried again on the same connection."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a station's configuration says it can do (None: not reported)."""

    feature_profiles: tuple[str, ...] = ()
    charge_profile_max_stack_level: int | None = None
    charging_rate_units: tuple[str, ...] = ()
    """"Current" and/or "Power" (a station's "A"/"W" spelling is read as these)."""
    charging_schedule_max_periods: int | None = None
    max_charging_profiles_installed: int | None = None
    meter_values_sampled_data_max_length: int | None = None
    sampled_measurands: tuple[str, ...] = ()
    number_of_connectors: int | None = None
    local_auth_list_enabled: bool | None = None
    local_auth_list_max_length: int | None = None
    reserve_connector_zero_supported: bool | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StationConfiguration:
    """What the API shows: the snapshot, desired-vs-actual items, capabilities."""

    station_id: str
    entries: builtins.list[ConfigurationEntry]
    items: builtins.list[ProvisioningItem]
    capabilities: Capabilities


def _items(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None


def _bool(value: str | None) -> bool | None:
    if value is None or value.strip().lower() not in ("true", "false"):
        return None
    return value.strip().lower() == "true"


_UNITS = {"current": "Current", "a": "Current", "power": "Power", "w": "Power"}


def capabilities_of(entries: Sequence[ConfigurationEntry]) -> Capabilities:
    values = {entry.key: entry.value for entry in entries}
    units = [
        _UNITS.get(unit.lower())
        for unit in _items(values.get("ChargingScheduleAllowedChargingRateUnit"))
    ]
    return Capabilities(
        feature_profiles=tuple(_items(values.get("SupportedFeatureProfiles"))),
        charge_profile_max_stack_level=_int(values.get("ChargeProfileMaxStackLevel")),
        charging_rate_units=tuple(dict.fromkeys(unit for unit in units if unit is not None)),
        charging_schedule_max_periods=_int(values.get("ChargingScheduleMaxPeriods")),
        max_charging_profiles_installed=_int(values.get("MaxChargingProfilesInstalled")),
        meter_values_sampled_data_max_length=_int(values.get("MeterValuesSampledDataMaxLength")),
        sampled_measurands=tuple(_items(values.get(METER_KEY))),
        number_of_connectors=_int(values.get("NumberOfConnectors")),
        local_auth_list_enabled=_bool(values.get("LocalAuthListEnabled")),
        local_auth_list_max_length=_int(values.get("LocalAuthListMaxLength")),
        reserve_connector_zero_supported=_bool(values.get("ReserveConnectorZeroSupported")),
    )


def same_value(desired: str, actual: str | None) -> bool:
    """Whether a reported value already is the desired one: lists compare as
    sets of trimmed items, booleans without case, everything else trimmed."""
    if actual is None:
        return False
    if "," in desired or "," in actual:
        return sorted(_items(desired)) == sorted(_items(actual))
    if _bool(desired) is not None:
        return _bool(desired) == _bool(actual)
    return desired.strip() == actual.strip()


def power_fallback(value: str) -> str | None:
    """The measurand list with Power.Active.Import replaced by Current.Import
    and Voltage, or None when the list does not ask for power."""
    wanted = _items(value)
    if POWER not in wanted:
        return None
    out: list[str] = []
    for item in wanted:
        for replacement in POWER_FALLBACK if item == POWER else (item,):
            if replacement not in out:
                out.append(replacement)
    return ",".join(out)


def entries_from_reply(
    station_id: str, response: Mapping[str, Any], now: datetime
) -> list[ConfigurationEntry]:
    """A GetConfiguration.conf as snapshot entries (a key reported twice: the last)."""
    entries: dict[str, ConfigurationEntry] = {}
    for key in response.get("configurationKey") or []:
        value = key.get("value")
        entries[str(key["key"])] = ConfigurationEntry(
            station_id=station_id,
            key=str(key["key"]),
            value=None if value is None else str(value),
            readonly=bool(key.get("readonly", False)),
            reported_at=now,
        )
    return list(entries.values())


class ProvisioningService:
    def __init__(
        self,
        uow: UnitOfWork,
        commands: CommandService,
        policy: ProvisioningPolicy | None = None,
        clock: Clock = utc_now,
        events: EventBus | None = None,
    ) -> None:
        self._uow = uow
        self._commands = commands
        self.policy = policy or ProvisioningPolicy()
        self._clock = clock
        self._events = events
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}

    # -- background runs ---------------------------------------------------

    def start(self, station_id: str) -> None:
        """Provision in the background (the station is ready on a connection).

        A run already going for the station runs one more pass instead of a
        second run starting: passes of one station never overlap, and none is
        cancelled halfway through a command.
        """
        wake = self._wake.setdefault(station_id, asyncio.Event())
        wake.set()
        task = self._tasks.get(station_id)
        if task is None or task.done():
            self._tasks[station_id] = asyncio.create_task(
                self._run(station_id, wake), name=f"provisioning:{station_id}"
            )

    def running(self, station_id: str) -> bool:
        task = self._tasks.get(station_id)
        return task is not None and not task.done()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, station_id: str, wake: asyncio.Event) -> None:
        try:
            await self._passes(station_id, wake)
        finally:
            # nothing awaits between the last check of ``wake`` and here, so a
            # start() cannot slip in unseen: it finds no task and makes one
            if self._tasks.get(station_id) is asyncio.current_task():
                del self._tasks[station_id]
                self._wake.pop(station_id, None)

    async def _passes(self, station_id: str, wake: asyncio.Event) -> None:
        while wake.is_set():
            wake.clear()
            try:
                retry = await self.provision(station_id)
            except (StationOffline, UnknownStation):
                continue  # gone: the next connection starts again (or has already)
            except Exception:
                log.exception("provisioning pass failed", station=station_id)
                retry = True
            if retry and not wake.is_set():
                try:
                    await asyncio.wait_for(wake.wait(), self.policy.retry_interval)
                except TimeoutError:
                    wake.set()

    # -- one pass ------------------------------------------------------------

    async def provision(self, station_id: str) -> bool:
        """One pass over the desired configuration; True if something got no
        answer and the pass should be tried again."""
        command, entries = await self.refresh_snapshot(station_id, REQUESTED_BY)
        if entries is None:
            log.warning("provisioning: no configuration", station=station_id, error=command.error)
            return True
        actual = {entry.key: entry.value for entry in entries}
        previous = {item.key: item for item in await self.items(station_id)}
        retry = False
        reboot = False
        for key, wanted in self.policy.desired.items():
            target, note = wanted, None
            fallback = power_fallback(wanted) if key == METER_KEY else None
            before = previous.get(key)
            if (
                fallback is not None
                and before is not None
                and before.desired_value == fallback
                and (before.detail or "").startswith(FALLBACK_NOTE)
            ):
                target, note = fallback, before.detail
            item, rebooting = await self._apply(station_id, key, target, actual, before, note)
            if (
                fallback is not None
                and target != fallback
                and item.state in (ProvisioningState.REJECTED, ProvisioningState.NOT_SUPPORTED)
            ):
                note = f"{FALLBACK_NOTE} {POWER} answered {item.detail}"
                item, rebooting = await self._apply(station_id, key, fallback, actual, item, note)
            retry = retry or item.state is ProvisioningState.FAILED
            reboot = reboot or rebooting
        if reboot:
            reset = await self._commands.execute(
                station_id, "Reset", {"type": "Soft"}, requested_by=REQUESTED_BY
            )
            log.info("provisioning: soft reset", station=station_id, status=reset.status)
        return retry

    async def _apply(
        self,
        station_id: str,
        key: str,
        target: str,
        actual: Mapping[str, str | None],
        before: ProvisioningItem | None,
        note: str | None,
    ) -> tuple[ProvisioningItem, bool]:
        """Bring one key to ``target``; return its item and whether it wants a reset."""
        attempts = before.attempts if before is not None and before.desired_value == target else 0
        now = self._clock()
        if same_value(target, actual.get(key)):
            item = ProvisioningItem(
                station_id, key, target, ProvisioningState.ACCEPTED, attempts, now, note
            )
            await self._store(item, before)
            return item, False
        command = await self._commands.execute(
            station_id,
            "ChangeConfiguration",
            {"key": key, "value": target},
            requested_by=REQUESTED_BY,
        )
        attempts += 1
        detail: str | None
        if command.state is CommandState.ANSWERED and command.status in _STATES:
            state, detail = _STATES[command.status], command.status
        else:
            state, detail = ProvisioningState.FAILED, command.error or command.state.value
        reboot = False
        if state is ProvisioningState.ACCEPTED:
            detail = None
        elif state is ProvisioningState.REBOOT_REQUIRED:
            again = (
                before is not None
                and before.state is ProvisioningState.REBOOT_REQUIRED
                and before.desired_value == target
            )
            reboot = self.policy.reboot_when_required and not again
            if again:
                detail = "RebootRequired again after a reboot: reboot it by hand"
            elif reboot:
                detail = "RebootRequired: soft Reset sent"
            else:
                detail = "RebootRequired: waiting for a reboot"
        if note is not None:
            detail = note if detail is None else f"{note}; {detail}"
        item = ProvisioningItem(station_id, key, target, state, attempts, self._clock(), detail)
        entry = None
        if state is ProvisioningState.ACCEPTED:
            entry = ConfigurationEntry(station_id, key, target, False, self._clock())
        await self._store(item, before, entry)
        return item, reboot

    async def _store(
        self,
        item: ProvisioningItem,
        before: ProvisioningItem | None,
        entry: ConfigurationEntry | None = None,
    ) -> None:
        async def work(repos: Repositories) -> None:
            await repos.configuration.put_item(item)
            if entry is not None:
                await repos.configuration.put_entry(entry)

        await self._uow.run(work)
        changed = before is None or (before.state, before.desired_value, before.detail) != (
            item.state,
            item.desired_value,
            item.detail,
        )
        if changed and self._events is not None:
            self._events.publish(
                "provisioning.changed",
                item.station_id,
                {
                    "key": item.key,
                    "state": item.state.value,
                    "desired_value": item.desired_value,
                    "detail": item.detail,
                    "attempts": item.attempts,
                },
            )

    # -- snapshot and reads --------------------------------------------------

    async def refresh_snapshot(
        self, station_id: str, requested_by: str
    ) -> tuple[Command, list[ConfigurationEntry] | None]:
        """GetConfiguration now; store the answer as the station's snapshot.

        Returns the command and the entries (None when no answer came).
        Raises :class:`StationOffline` / :class:`UnknownStation`.
        """
        command = await self._commands.execute(
            station_id, "GetConfiguration", {}, requested_by=requested_by
        )
        if command.state is not CommandState.ANSWERED or command.response is None:
            return command, None
        entries = entries_from_reply(station_id, command.response, self._clock())
        await self._uow.run(lambda r: r.configuration.replace_snapshot(station_id, entries))
        return command, entries

    async def items(self, station_id: str) -> builtins.list[ProvisioningItem]:
        return await self._uow.read(lambda r: r.configuration.items(station_id))

    async def configuration(self, station_id: str) -> StationConfiguration:
        """Raises :class:`UnknownStation`."""

        async def work(repos: Repositories) -> StationConfiguration:
            if await repos.stations.get(station_id) is None:
                raise UnknownStation(station_id)
            entries = await repos.configuration.snapshot(station_id)
            items = await repos.configuration.items(station_id)
            return StationConfiguration(station_id, entries, items, capabilities_of(entries))

        return await self._uow.read(work)
