"""From plan to charger: send the profiles a station should hold, check they
took effect, escalate when they did not, and remember what worked.

The planning side decides a :class:`~.records.StationTarget` per station and
calls :meth:`ProfileEnforcer.apply`. For each profile the station should hold
(a TxDefaultProfile, the ChargePointMaxProfile of its site share or of the
"off" switch, one TxProfile per session) the enforcer:

1. builds it with the station's :class:`~.profiles.ProfileOptions` (its
   reported capabilities, and what its *model* was found to need);
2. sends SetChargingProfile through :class:`~opencsms.domain.commands.CommandService`
   (validated, recorded in the audit trail, ``requested_by="smart-charging"``);
3. does not trust ``Accepted``: asks GetCompositeSchedule and checks the
   station will apply at most what we asked (:mod:`.verification`);
4. on Rejected, a CALLERROR, a timeout or a composite above our limit, walks
   :data:`~.profiles.ESCALATION` (re-send; clear and set; stack level 0;
   Absolute↔Relative; A↔W). A step that changes the options and works is
   stored per (vendor, model) so the next station of that model starts with
   it; when nothing works the record is ``failed`` and ``smart_charging.profile``
   is published for the operator.

Every outcome is a :class:`~.records.ProfileRecord` (one per station,
connector and purpose), stored after each attempt. Offline is not an error:
the record keeps what should be sent with ``detail="offline"``, and
:meth:`reassert` sends it when the station is back. Nothing raises out of
:meth:`apply` for offline stations, timeouts or refused commands.

Metering closes the loop: :meth:`check_draw` escalates a profile the car
visibly ignores. Schedules cut to ``ChargingScheduleMaxPeriods`` are sent
again before their cut by :meth:`resend_due`; the full plan behind a cut
schedule is kept in memory (after a restart a cut record is rebuilt from
what was sent, which under-charges until the planner's next apply).

Voltage and phases for A↔W are the :class:`ProfileOptions` defaults (230 V,
3 phases); stations report neither.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import (
    CommandService,
    InvalidCommand,
    StationOffline,
    UnknownStation,
)
from opencsms.domain.events import EventBus
from opencsms.domain.model import Command, CommandState
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.provisioning import Capabilities, capabilities_of
from opencsms.domain.smart_charging.profiles import (
    FOREVER,
    KW,
    BuiltProfile,
    ProfileOptions,
    build,
    limit_at,
    next_step,
    options_for,
    options_for_step,
    profile_id,
    segments_as_steps,
    steps_of,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    LearnedProfileOptions,
    ProfilePurpose,
    ProfileRecord,
    ProfileState,
    StationTarget,
)
from opencsms.domain.smart_charging.verification import (
    CompositeError,
    check_duration,
    composite_request,
    parse_composite,
    verify,
)

log = structlog.get_logger("opencsms.smart_charging")

REQUESTED_BY = "smart-charging"
EVENT = "smart_charging.profile"
OFFLINE = "offline"
CLEAR_PENDING = "offline: clear when back"
LEARNABLE = ("stack_level_0", "flip_kind", "flip_unit")
"""Steps that change what is sent (the others send the same profile again)."""

SETTLED = (ProfileState.VERIFIED, ProfileState.ACCEPTED, ProfileState.FAILED)
"""States in which an unchanged profile is not sent again by :meth:`ProfileEnforcer.apply`."""

Key = tuple[int, ProfilePurpose]


@dataclass(frozen=True, slots=True)
class _Wanted:
    """One profile as the plan wants it, before options shape it."""

    purpose: ProfilePurpose
    connector_id: int
    steps_kw: tuple[Rate, ...]
    transaction_id: int | None = None
    transaction_started_at: datetime | None = None

    def built(self, now: datetime, options: ProfileOptions) -> BuiltProfile:
        return build(
            self.purpose,
            self.connector_id,
            self.steps_kw,
            now=now,
            options=options,
            transaction_id=self.transaction_id,
            transaction_started_at=self.transaction_started_at,
        )


@dataclass(slots=True)
class _Station:
    """What one operation on a station needs, read once."""

    station_id: str
    vendor: str | None
    model: str | None
    capabilities: Capabilities
    learned: LearnedProfileOptions | None
    base: ProfileOptions
    records: dict[Key, ProfileRecord]
    busy: set[int] = field(default_factory=set)
    """Connectors with a session (a TxDefaultProfile is checked on another)."""
    sample_interval: timedelta = timedelta(0)
    """Its ``MeterValueSampleInterval`` (0 when unknown)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # accepted | refused | offline | invalid
    detail: str | None = None


class ProfileEnforcer:
    def __init__(
        self,
        uow: UnitOfWork,
        commands: CommandService,
        *,
        clock: Clock = utc_now,
        events: EventBus | None = None,
        verify_timeout: float = 30.0,
        tolerance_kw: float = 0.3,
        draw_grace: timedelta = timedelta(seconds=60),
    ) -> None:
        self._uow = uow
        self._commands = commands
        self._clock = clock
        self._events = events
        self._verify_timeout = verify_timeout
        self._tolerance_kw = tolerance_kw
        self._draw_grace = draw_grace
        self._locks: dict[str, asyncio.Lock] = {}
        self._wanted: dict[tuple[str, int, ProfilePurpose], _Wanted] = {}
        self._late: set[asyncio.Task[Command]] = set()
        """Checks that outlived ``verify_timeout``: left to record their outcome."""

    # -- the interface -------------------------------------------------------

    async def apply(self, target: StationTarget) -> list[ProfileRecord]:
        """Make the station hold what ``target`` says; return the records touched."""
        async with self._lock(target.station_id):
            station = await self._load(target.station_id)
            now = self._clock()
            wanted: list[_Wanted] = []
            if target.default_limit_kw is not None:
                wanted.append(_constant("TxDefaultProfile", now, target.default_limit_kw))
            if target.mode is ChargingMode.OFF:
                wanted.append(_constant("ChargePointMaxProfile", now, 0.0))
            elif target.station_cap_kw:
                wanted.append(_Wanted("ChargePointMaxProfile", 0, tuple(target.station_cap_kw)))
            for connector in target.connectors:
                station.busy.add(connector.connector_id)
                wanted.append(
                    _Wanted(
                        "TxProfile",
                        connector.connector_id,
                        tuple(segments_as_steps(connector, now)),
                        connector.transaction_id,
                        connector.transaction_started_at,
                    )
                )
            keys = {(w.connector_id, w.purpose) for w in wanted}
            results: list[ProfileRecord] = []
            for key, record in list(station.records.items()):
                if key not in keys and record.state is not ProfileState.CLEARED:
                    results.append(await self._clear(station, record))
            for item in wanted:
                self._wanted[(target.station_id, item.connector_id, item.purpose)] = item
                previous = station.records.get((item.connector_id, item.purpose))
                if previous is not None and self._unchanged(previous, item, station, now):
                    results.append(previous)
                    continue
                results.append(await self._enforce(station, item, "plain"))
            return results

    async def reassert(self, station_id: str) -> list[ProfileRecord]:
        """After a reconnect or reboot: send every wanted profile again (fresh
        start from now) and verify; finish clears that waited for the link."""
        async with self._lock(station_id):
            station = await self._load(station_id)
            results: list[ProfileRecord] = []
            for record in list(station.records.values()):
                if record.state is ProfileState.CLEARED:
                    if record.detail == CLEAR_PENDING:
                        results.append(await self._clear(station, record))
                    continue
                wanted = await self._wanted_of(station, record)
                if wanted is None:
                    results.append(await self._clear(station, record))
                    continue
                results.append(await self._enforce(station, wanted, "plain"))
            return results

    async def check_draw(
        self, station_id: str, connector_id: int, measured_kw: float, at: datetime
    ) -> ProfileRecord | None:
        """Metering says the car draws ``measured_kw`` at ``at``: beyond what we
        asked (+ tolerance), escalate the binding profile from its next step.

        Only a reading taken a grace after every bounding profile was sent is
        evidence (the larger of ``draw_grace`` and the station's
        ``MeterValueSampleInterval``: a sample may average the interval before
        it), and it is held against the *highest* limit those profiles asked
        over that grace before ``at`` (a reading just after a step down is
        not held against the lower step)."""
        async with self._lock(station_id):
            station = await self._load(station_id)
            grace = max(self._draw_grace, station.sample_interval)
            limiting = self._limiting(station, connector_id)
            if any(record.updated_at > at - grace for record in limiting):
                return None
            binding: ProfileRecord | None = None
            limit: float | None = None
            for record in limiting:
                steps = await self._asked(station, record, at - grace)
                value = _highest(steps, at - grace, at)
                if value is not None and (limit is None or value < limit):
                    binding, limit = record, value
            if binding is None or limit is None or measured_kw <= limit + self._tolerance_kw:
                return None
            if binding.state is ProfileState.FAILED:
                return None  # reported already; a reconnect (reassert) tries again
            why = f"draws {measured_kw:.2f} kW over the {limit:.2f} kW asked"
            step = next_step(binding.step, station.base)
            wanted = await self._wanted_of(station, binding)
            if step is None or wanted is None:
                failed = replace(
                    binding,
                    state=ProfileState.FAILED,
                    updated_at=self._clock(),
                    detail=f"{why} after every escalation step",
                )
                await self._save(failed, publish=True)
                return failed
            log.info("profile ignored by the car", station=station_id, detail=why, step=step)
            return await self._enforce(station, wanted, step, attempts=binding.attempts)

    async def resend_due(self) -> int:
        """Re-send schedules cut by ``max_periods`` whose ``resend_at`` passed."""
        due = await self._uow.read(lambda r: r.charging.profiles_due(self._clock()))
        sent = 0
        for station_id in dict.fromkeys(record.station_id for record in due):
            async with self._lock(station_id):
                station = await self._load(station_id)
                now = self._clock()
                for record in station.records.values():
                    if record.resend_at is None or record.resend_at > now:
                        continue
                    wanted = None
                    if record.state is not ProfileState.CLEARED:
                        wanted = await self._wanted_of(station, record)
                    if wanted is None:
                        await self._save(replace(record, resend_at=None, updated_at=now))
                        continue
                    await self._enforce(station, wanted, "plain")
                    sent += 1
        return sent

    async def expected_limit_kw(
        self, station_id: str, connector_id: int, at: datetime
    ) -> float | None:
        """The least of what we asked for the connector at ``at`` (its TxProfile,
        else the TxDefaultProfile, and the ChargePointMaxProfile); None: nothing asked."""
        station = await self._load(station_id)
        values = [
            limit_at(await self._asked(station, record, at), at)
            for record in self._limiting(station, connector_id)
        ]
        known = [value for value in values if value is not None]
        return min(known) if known else None

    # -- one profile -----------------------------------------------------------

    async def _enforce(
        self, station: _Station, wanted: _Wanted, step: str, *, attempts: int = 0
    ) -> ProfileRecord:
        key = (wanted.connector_id, wanted.purpose)
        previous = station.records.get(key)
        # what the station holds of ours for `key`, until an attempt is accepted
        held = previous if _installed(previous) else None
        last_detail: str | None = None
        current: str | None = step
        while current is not None:
            step = current
            options = options_for_step(step, station.base)
            now = self._clock()
            built = wanted.built(now, options)
            attempts += 1
            record = ProfileRecord(
                station_id=station.station_id,
                connector_id=wanted.connector_id,
                purpose=wanted.purpose,
                profile_id=built.profile_id,
                payload=built.payload,
                state=ProfileState.SENT,
                step=step,
                attempts=attempts,
                updated_at=now,
                transaction_id=wanted.transaction_id,
                resend_at=built.resend_at,
            )
            outcome: _Outcome | None = None
            if step == "clear_and_set":
                cleared = await self._command(
                    station.station_id, "ClearChargingProfile", {"id": built.profile_id}
                )
                if cleared.kind == "accepted":
                    held = None
                outcome = cleared if cleared.kind in ("offline", "invalid") else None
            outcome = outcome or await self._command(
                station.station_id, "SetChargingProfile", built.request
            )
            if outcome.kind == "offline":
                state = previous.state if previous is not None else ProfileState.SENT
                return await self._done(station, replace(record, state=state, detail=OFFLINE))
            if outcome.kind == "invalid":
                return await self._done(
                    station, replace(record, state=ProfileState.FAILED, detail=outcome.detail)
                )
            if outcome.kind == "accepted":
                await self._drop_other_level(station, held, built)
                held = None  # same id: the station replaced it
                verdict, detail = await self._verify(station, built, options)
                if verdict == "ok":
                    await self._learn(station, step, wanted.purpose, options)
                    record = replace(record, state=ProfileState.VERIFIED, detail=detail)
                    return await self._done(station, record)
                if verdict in ("unverifiable", "offline"):
                    record = replace(record, state=ProfileState.ACCEPTED, detail=detail)
                    return await self._done(station, record)
                last_detail = detail
            else:
                last_detail = outcome.detail
            rejected = replace(record, state=ProfileState.REJECTED, detail=last_detail)
            station.records[key] = rejected
            await self._save(rejected)
            log.info("profile not in effect", station=station.station_id, step=step,
                     purpose=wanted.purpose, detail=last_detail)  # fmt: skip
            current = next_step(step, station.base)
        why = f"every escalation step failed; last: {last_detail}"
        if held is not None and self._same_limits(held, wanted, station, self._clock()):
            # what the station still holds asks for the plan: keep it, say so
            failed = replace(held, state=ProfileState.FAILED, updated_at=self._clock(), detail=why)
            return await self._done(station, failed)
        if held is not None:
            # every attempt refused: the station still holds an older plan of ours
            outcome = await self._command(
                station.station_id, "ClearChargingProfile", {"id": held.profile_id}
            )
            why = f"{why}; the older profile was cleared ({outcome.kind})"
        failed = replace(rejected, state=ProfileState.FAILED, detail=why)
        return await self._done(station, failed)

    async def _drop_other_level(
        self, station: _Station, held: ProfileRecord | None, built: BuiltProfile
    ) -> None:
        """The new profile has our id but another stack level: a station that
        keys profiles by (connector, purpose, stack level) would keep the old
        one next to it, so clear that level (the new one does not match)."""
        if held is None or held.payload.get("stackLevel") == built.stack_level:
            return
        await self._command(
            station.station_id,
            "ClearChargingProfile",
            {
                "connectorId": built.connector_id,
                "chargingProfilePurpose": built.purpose,
                "stackLevel": held.payload.get("stackLevel"),
            },
        )

    async def _command(self, station_id: str, action: str, payload: dict[str, object]) -> _Outcome:
        try:
            command = await self._commands.execute(
                station_id, action, payload, requested_by=REQUESTED_BY
            )
        except StationOffline:
            return _Outcome("offline", OFFLINE)
        except (InvalidCommand, UnknownStation) as exc:
            return _Outcome("invalid", f"{action} refused here: {exc}")
        if command.state is CommandState.ANSWERED:
            if command.status in ("Accepted", "Unknown") or command.status is None:
                return _Outcome("accepted")
            return _Outcome("refused", f"{action} {command.status}")
        if command.state is CommandState.FAILED:
            return _Outcome("offline", OFFLINE)
        if command.state is CommandState.ERROR:
            return _Outcome("refused", f"{action} CALLERROR {command.error}")
        return _Outcome("refused", f"{action} {command.state.value}")

    async def _verify(
        self, station: _Station, built: BuiltProfile, options: ProfileOptions
    ) -> tuple[str, str | None]:
        """("ok" | "exceeds" | "unverifiable" | "offline", detail)."""
        connector = built.connector_id
        if built.purpose == "TxDefaultProfile":
            count = station.capabilities.number_of_connectors or 1
            idle = [c for c in range(1, count + 1) if c not in station.busy]
            if not idle:
                return "unverifiable", "accepted; every connector has a session to check it on"
            connector = idle[0]
        now = self._clock()
        request = composite_request(
            connector, duration=check_duration(built.limits_kw, now), unit=options.unit
        )
        task = asyncio.ensure_future(
            self._commands.execute(
                station.station_id, "GetCompositeSchedule", request, requested_by=REQUESTED_BY
            )
        )
        done, _ = await asyncio.wait({task}, timeout=self._verify_timeout)
        if not done:
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return "unverifiable", "accepted; GetCompositeSchedule took too long"
        try:
            command = task.result()
        except StationOffline:
            return "offline", "accepted; offline before the check"
        except (InvalidCommand, UnknownStation) as exc:
            return "unverifiable", f"accepted; GetCompositeSchedule refused here: {exc}"
        if command.state is not CommandState.ANSWERED or command.response is None:
            return "unverifiable", f"accepted; GetCompositeSchedule {command.state.value}"
        try:
            composite = parse_composite(
                command.response, voltage=options.voltage, phases=options.phases
            )
        except CompositeError as exc:
            return "unverifiable", f"accepted; {exc}"
        bounds: list[list[Rate]] = []
        under = True
        if built.purpose != "ChargePointMaxProfile":
            cap = station.records.get((0, "ChargePointMaxProfile"))
            if cap is not None and cap.state is not ProfileState.CLEARED:
                under = _installed(cap)  # a cap in an unknown state: only check "at most"
                bounds.append(await self._asked(station, cap, now))
        verdict = verify(
            built.limits_kw, composite, tolerance_kw=self._tolerance_kw, bounds=bounds, under=under
        )
        return ("ok" if verdict.ok else "exceeds"), verdict.detail

    async def _learn(
        self, station: _Station, step: str, purpose: ProfilePurpose, options: ProfileOptions
    ) -> None:
        if step not in LEARNABLE or station.vendor is None or station.model is None:
            return
        known = station.learned or LearnedProfileOptions(station.vendor, station.model)
        learned = replace(
            known,
            stack_level_0=known.stack_level_0 or step == "stack_level_0",
            kind=options.kind if step == "flip_kind" else known.kind,
            unit=options.unit if step == "flip_unit" else known.unit,
            learned_at=self._clock(),
            detail=f"{step} made a {purpose} take effect",
        )
        await self._uow.run(lambda r: r.charging.put_learned(learned))
        station.learned = learned
        station.base = options_for(station.capabilities, learned)
        log.info("learned profile options", vendor=station.vendor, model=station.model, step=step)

    async def _clear(self, station: _Station, record: ProfileRecord) -> ProfileRecord:
        """Not wanted any more. A TxProfile of a finished session died with it;
        anything else is cleared by id (when offline: on reconnect)."""
        detail: str | None = None
        if record.purpose != "TxProfile" or await self._session_active(record):
            outcome = await self._command(
                station.station_id, "ClearChargingProfile", {"id": record.profile_id}
            )
            detail = CLEAR_PENDING if outcome.kind == "offline" else outcome.detail
        cleared = replace(
            record, state=ProfileState.CLEARED, resend_at=None, updated_at=self._clock(),
            detail=detail,
        )  # fmt: skip
        self._wanted.pop((record.station_id, record.connector_id, record.purpose), None)
        return await self._done(station, cleared)

    async def _done(self, station: _Station, record: ProfileRecord) -> ProfileRecord:
        station.records[(record.connector_id, record.purpose)] = record
        await self._save(record, publish=True)
        return record

    async def _save(self, record: ProfileRecord, *, publish: bool = False) -> None:
        await self._uow.run(lambda r: r.charging.put_profile(record))
        if publish and self._events is not None:
            self._events.publish(EVENT, record.station_id, record_as_dict(record))

    # -- reading -----------------------------------------------------------------

    def _lock(self, station_id: str) -> asyncio.Lock:
        return self._locks.setdefault(station_id, asyncio.Lock())

    async def _load(self, station_id: str) -> _Station:
        async def read(repos: Repositories) -> _Station:
            found = await repos.stations.get(station_id)
            info = found.info if found is not None else None
            snapshot = await repos.configuration.snapshot(station_id)
            capabilities = capabilities_of(snapshot)
            interval = next(
                (e.value for e in snapshot if e.key == "MeterValueSampleInterval"), None
            )
            learned = None
            if info is not None:
                learned = await repos.charging.get_learned(info.vendor, info.model)
            records = {
                (r.connector_id, r.purpose): r for r in await repos.charging.profiles(station_id)
            }
            busy = {
                r.connector_id for r in records.values()
                if r.purpose == "TxProfile" and r.state is not ProfileState.CLEARED
            }  # fmt: skip
            return _Station(
                station_id=station_id,
                vendor=info.vendor if info is not None else None,
                model=info.model if info is not None else None,
                capabilities=capabilities,
                learned=learned,
                base=options_for(capabilities, learned),
                records=records,
                busy=busy,
                sample_interval=timedelta(seconds=_seconds(interval)),
            )

        return await self._uow.read(read)

    async def _session_active(self, record: ProfileRecord) -> bool:
        if record.transaction_id is None:
            return False
        transaction_id = record.transaction_id
        found = await self._uow.read(lambda r: r.transactions.get(transaction_id))
        return found is not None and found.active

    async def _wanted_of(self, station: _Station, record: ProfileRecord) -> _Wanted | None:
        """What ``record`` was meant to hold: the plan kept in memory, else
        the steps read back from its payload. None: its session has ended."""
        started_at: datetime | None = None
        if record.purpose == "TxProfile":
            transaction_id = record.transaction_id
            if transaction_id is None:
                return None
            found = await self._uow.read(lambda r: r.transactions.get(transaction_id))
            if found is None or not found.active:
                return None
            started_at = found.started_at
        cached = self._wanted.get((station.station_id, record.connector_id, record.purpose))
        if cached is not None and cached.transaction_id == record.transaction_id:
            return cached
        steps = steps_of(
            record.payload, now=self._clock(), voltage=station.base.voltage,
            phases=station.base.phases, transaction_started_at=started_at,
        )  # fmt: skip
        return _Wanted(
            record.purpose, record.connector_id, tuple(steps), record.transaction_id, started_at
        )

    def _limiting(self, station: _Station, connector_id: int) -> list[ProfileRecord]:
        """The records that bound ``connector_id``: its TxProfile (else the
        TxDefaultProfile) and the ChargePointMaxProfile."""
        live = {
            key: record
            for key, record in station.records.items()
            if record.state is not ProfileState.CLEARED
        }
        found: list[ProfileRecord] = []
        tx = live.get((connector_id, "TxProfile")) or live.get((0, "TxDefaultProfile"))
        if tx is not None:
            found.append(tx)
        cap = live.get((0, "ChargePointMaxProfile"))
        if cap is not None:
            found.append(cap)
        return found

    async def _asked(self, station: _Station, record: ProfileRecord, at: datetime) -> list[Rate]:
        started_at: datetime | None = None
        if (
            record.purpose == "TxProfile"
            and record.payload.get("chargingProfileKind") == "Relative"
        ):
            cached = self._wanted.get((station.station_id, record.connector_id, record.purpose))
            if cached is not None and cached.transaction_id == record.transaction_id:
                started_at = cached.transaction_started_at
            elif (transaction_id := record.transaction_id) is not None:
                found = await self._uow.read(lambda r: r.transactions.get(transaction_id))
                started_at = found.started_at if found is not None else None
        return steps_of(
            record.payload, now=at, voltage=station.base.voltage,
            phases=station.base.phases, transaction_started_at=started_at,
        )  # fmt: skip

    def _unchanged(
        self, previous: ProfileRecord, wanted: _Wanted, station: _Station, now: datetime
    ) -> bool:
        """Already verified or accepted with the same limits from now on: no need
        to send. Nor when it failed with them: every step was tried, the operator
        is told, and :meth:`reassert` (a reconnect or reboot) tries again."""
        if previous.state not in (
            ProfileState.VERIFIED,
            ProfileState.ACCEPTED,
            ProfileState.FAILED,
        ):
            return False
        if previous.transaction_id != wanted.transaction_id or previous.detail == OFFLINE:
            return False
        if previous.resend_at is not None and previous.resend_at <= now:
            return False
        return self._same_limits(previous, wanted, station, now)

    def _same_limits(
        self, previous: ProfileRecord, wanted: _Wanted, station: _Station, now: datetime
    ) -> bool:
        """Whether ``previous``'s payload asks, from ``now`` on, what ``wanted``
        built with the same step would ask (and would be re-sent at the same time)."""
        built = wanted.built(now, options_for_step(previous.step, station.base))
        if built.resend_at != previous.resend_at:
            return False  # e.g. a single-period Relative cap whose next change moved
        sent = steps_of(
            previous.payload, now=now, voltage=station.base.voltage,
            phases=station.base.phases, transaction_started_at=wanted.transaction_started_at,
        )  # fmt: skip
        moments = {r.start for r in built.limits_kw if r.start >= now} | {
            r.start for r in sent if r.start >= now
        }
        return all(_close(limit_at(built.limits_kw, m), limit_at(sent, m)) for m in moments | {now})


def _constant(purpose: ProfilePurpose, now: datetime, kw: float) -> _Wanted:
    return _Wanted(purpose, 0, (Rate(now, now + FOREVER, kw, KW),))


def _highest(steps: list[Rate], start: datetime, end: datetime) -> float | None:
    """The highest limit of ``steps`` in force at some time in [start, end]."""
    values = [limit_at(steps, start)] + [r.value for r in steps if start < r.start <= end]
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _seconds(text: str | None) -> int:
    try:
        return max(int(text or 0), 0)
    except ValueError:
        return 0


def _installed(record: ProfileRecord | None) -> bool:
    """Whether the station holds ``record``'s payload (as far as we know)."""
    return (
        record is not None
        and record.state in (ProfileState.VERIFIED, ProfileState.ACCEPTED)
        and record.detail != OFFLINE
    )


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < 1e-6


def record_as_dict(record: ProfileRecord) -> dict[str, object]:
    """The record as JSON-ready data (the ``smart_charging.profile`` event)."""
    return {
        "connector_id": record.connector_id,
        "purpose": record.purpose,
        "profile_id": record.profile_id,
        "state": record.state.value,
        "step": record.step,
        "attempts": record.attempts,
        "transaction_id": record.transaction_id,
        "resend_at": record.resend_at.isoformat() if record.resend_at else None,
        "detail": record.detail,
        "updated_at": record.updated_at.isoformat(),
    }


__all__ = ["EVENT", "REQUESTED_BY", "ProfileEnforcer", "profile_id", "record_as_dict"]
