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
   station will apply what we asked — not more, and not clearly less than
   it could (:mod:`.verification`);
4. on Rejected, a CALLERROR or a composite off our limit, walks
   :data:`~.profiles.ESCALATION` (re-send; clear and set; half the periods;
   stack level 0; Absolute↔Relative; A↔W); when nothing works the record is
   ``failed`` and ``smart_charging.profile`` is published for the operator;
5. when a step that changes the options works, remembers it per (vendor,
   model) so the next station of that model starts with it — but only on
   evidence that cannot be our own fault. The station refusing every attempt
   before the step (Rejected, a CALLERROR) is its own word: learned at once.
   An accepted profile not in effect (the composite check, the meter) may be
   our fault (e2e: a period starting at a fraction of a second failed every
   check, ``fewer_periods`` then passed by accident and a whole model learned
   one period: 0 A): the step is a candidate, learned when a second station
   of the model needs it too; and ``max_periods`` is never learned from it
   (:meth:`~.profile_store.ProfileStore.learn`).

Every outcome is a :class:`~.records.ProfileRecord` (one per station,
connector and purpose), stored after each attempt. Offline is not an error:
the record keeps what should be sent with ``detail="offline"``, and
:meth:`reassert` sends it when the station is back. Nor is a timeout: the
ladder stops (a station that does not answer one shape will not answer
another), the record stays ``sent`` (installed or not, nobody knows) with
the timeout as its detail, and the next apply sends it again. A CALLERROR
is a refusal and walks the ladder, except ``NotSupported``/``NotImplemented``
(``failed`` at once). Nothing raises out of :meth:`apply` for offline
stations, timeouts or refused commands.

Metering closes the loop: :meth:`check_draw` escalates a profile the car
visibly ignores (only readings taken a sample interval after the profile
was sent count). Schedules cut to ``ChargingScheduleMaxPeriods`` are sent
again before their cut by :meth:`resend_due` (polled by the sweep, which
says how far ahead its next poll may be); the full plan behind a cut
schedule is kept in memory (after a restart a cut record is rebuilt from
what was sent, which under-charges until the planner's next apply).

After any apply the station holds one profile of ours per (connector,
purpose): ids are stable, a step that moves it to another stack level clears
the old level, and when every step is refused an older plan still installed
is cleared (one that asks the plan is kept and the record says so).

Modules: this one is the ladder; :mod:`.profile_sender` the commands and the
composite schedule; :mod:`.profile_store` the records, what was learned and
what was asked when.

Voltage and phases for A↔W are the :class:`ProfileOptions` defaults (230 V,
3 phases); stations report neither.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from opencsms.domain.clock import Clock, utc_now
from opencsms.domain.commands import CommandService
from opencsms.domain.events import EventBus
from opencsms.domain.ports import UnitOfWork
from opencsms.domain.smart_charging.profile_sender import (
    OFFLINE,
    REQUESTED_BY,
    Outcome,
    ProfileSender,
)
from opencsms.domain.smart_charging.profile_store import (
    EVENT,
    ProfileStore,
    StationView,
    Wanted,
    installed,
    record_as_dict,
)
from opencsms.domain.smart_charging.profiles import (
    FOREVER,
    KW,
    RESEND_LEAD,
    BuiltProfile,
    ProfileOptions,
    limit_at,
    next_step,
    options_for_step,
    profile_id,
    segments_as_steps,
    steps_of,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ProfilePurpose,
    ProfileRecord,
    ProfileState,
    StationTarget,
)
from opencsms.domain.smart_charging.verification import verify

log = structlog.get_logger("opencsms.smart_charging")

CLEAR_PENDING = "offline: clear when back"


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
        self._clock = clock
        self._tolerance_kw = tolerance_kw
        self._draw_grace = draw_grace
        self._lead = RESEND_LEAD
        """How early a single-period schedule takes a decrease (``resend_due``)."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._store = ProfileStore(uow, clock=clock, events=events)
        self._sender = ProfileSender(commands, verify_timeout=verify_timeout)

    # -- the interface -------------------------------------------------------

    async def apply(self, target: StationTarget) -> list[ProfileRecord]:
        """Make the station hold what ``target`` says; return the records touched."""
        async with self._lock(target.station_id):
            station = await self._store.load(target.station_id)
            now = self._clock()
            wanted: list[Wanted] = []
            if target.default_limit_kw is not None:
                wanted.append(_constant("TxDefaultProfile", now, target.default_limit_kw))
            if target.mode is ChargingMode.OFF:
                wanted.append(_constant("ChargePointMaxProfile", now, 0.0))
            elif target.station_cap_kw:
                wanted.append(
                    Wanted(
                        "ChargePointMaxProfile",
                        0,
                        tuple(target.station_cap_kw),
                        own_load_kw=target.own_load_kw,
                    )
                )
            for connector in target.connectors:
                station.busy.add(connector.connector_id)
                wanted.append(
                    Wanted(
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
                self._store.wanted[(target.station_id, item.connector_id, item.purpose)] = item
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
            station = await self._store.load(station_id)
            results: list[ProfileRecord] = []
            for record in list(station.records.values()):
                if record.state is ProfileState.CLEARED:
                    if record.detail == CLEAR_PENDING:
                        results.append(await self._clear(station, record))
                    continue
                wanted = await self._store.wanted_of(station, record)
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
        if measured_kw <= self._tolerance_kw:
            # Within the tolerance of any limit (none we send is below 0):
            # nothing to escalate, without loading the station (a car paused
            # or done, most of a smart-charging night).
            return None
        async with self._lock(station_id):
            station = await self._store.load(station_id)
            grace = max(self._draw_grace, station.sample_interval)
            limiting = self._store.limiting(station, connector_id)
            if any(record.updated_at > at - grace for record in limiting):
                return None
            binding: ProfileRecord | None = None
            limit: float | None = None
            for record in limiting:
                steps = await self._store.asked(station, record, at - grace)
                value = _highest(steps, at - grace, at)
                if value is not None and (limit is None or value < limit):
                    binding, limit = record, value
            if binding is None or limit is None or measured_kw <= limit + self._tolerance_kw:
                return None
            if binding.state is ProfileState.FAILED:
                return None  # reported already; a reconnect (reassert) tries again
            why = f"draws {measured_kw:.2f} kW over the {limit:.2f} kW asked"
            wanted = await self._store.wanted_of(station, binding)
            periods = None if wanted is None else _periods(wanted, station, self._clock())
            step = next_step(binding.step, station.base, periods=periods)
            if step is None or wanted is None:
                failed = replace(
                    binding,
                    state=ProfileState.FAILED,
                    updated_at=self._clock(),
                    detail=f"{why} after every escalation step",
                )
                await self._store.save(failed, publish=True)
                return failed
            log.info("profile ignored by the car", station=station_id, detail=why, step=step)
            return await self._enforce(
                station, wanted, step, attempts=binding.attempts, refused=False
            )

    async def resend_due(self, within: timedelta = timedelta(0)) -> int:
        """Re-send schedules cut by ``max_periods`` whose ``resend_at`` passed,
        or will pass ``within`` from now. The caller polls: ``within`` is what
        it needs so that its next poll cannot come after the cut (two of its
        periods, as measured on the clock); otherwise a poll coming later than
        the cut's lead lets the cut's last period (the smallest limit cut,
        often 0) run until it comes (e2e: KEBA held at 0 between sweeps)."""
        if within > timedelta(0):
            # `within` is two poll periods: a single period that looks one
            # period ahead is re-sent before a decrease when polls come on
            # time; half a period more for a late one (two: DELTA lost ~0.25
            # kWh a night more in the e2e, and the site cap held either way)
            self._lead = min(RESEND_LEAD, within * 3 / 4)
        due = await self._uow.read(lambda r: r.charging.profiles_due(self._clock() + within))
        sent = 0
        for station_id in dict.fromkeys(record.station_id for record in due):
            async with self._lock(station_id):
                station = await self._store.load(station_id)
                now = self._clock()
                for record in station.records.values():
                    if record.resend_at is None or record.resend_at > now + within:
                        continue
                    wanted = None
                    if record.state is not ProfileState.CLEARED:
                        wanted = await self._store.wanted_of(station, record)
                    if wanted is None:
                        await self._store.save(replace(record, resend_at=None, updated_at=now))
                        continue
                    await self._enforce(station, wanted, "plain")
                    sent += 1
        return sent

    async def expected_limit_kw(
        self, station_id: str, connector_id: int, at: datetime
    ) -> float | None:
        """The least of what we asked for the connector at ``at`` (its TxProfile,
        else the TxDefaultProfile, and the ChargePointMaxProfile); None: nothing asked."""
        station = await self._store.load(station_id)
        values = [
            limit_at(await self._store.asked(station, record, at), at)
            for record in self._store.limiting(station, connector_id)
        ]
        known = [value for value in values if value is not None]
        return min(known) if known else None

    # -- one profile -----------------------------------------------------------

    async def _enforce(
        self,
        station: StationView,
        wanted: Wanted,
        step: str,
        *,
        attempts: int = 0,
        refused: bool = True,
    ) -> ProfileRecord:
        """Walk the ladder from ``step``. ``refused``: every failure that led to
        ``step`` was the station's refusal (False: the meter saw it not in
        effect); it stays True while every attempt here is refused, and says
        whether what works may be learned for the model at once."""
        key = (wanted.connector_id, wanted.purpose)
        previous = station.records.get(key)
        # what the station holds of ours for `key`, until an attempt is accepted
        held = previous if installed(previous) else None
        last_detail: str | None = None
        periods = _periods(wanted, station, self._clock())
        current: str | None = step
        if step == "fewer_periods" and periods <= 1:  # nothing to halve
            current = next_step(step, station.base, periods=periods) or step
        rejected: ProfileRecord | None = None
        while current is not None:
            step = current
            options = replace(
                options_for_step(step, station.base, periods=periods), lead=self._lead
            )
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
            outcome: Outcome | None = None
            if step == "clear_and_set":
                cleared = await self._sender.command(
                    station.station_id, "ClearChargingProfile", {"id": built.profile_id}
                )
                if cleared.kind == "accepted":
                    held = None
                outcome = cleared if cleared.kind in ("offline", "invalid", "timeout") else None
            outcome = outcome or await self._sender.command(
                station.station_id, "SetChargingProfile", built.request
            )
            if outcome.kind == "offline":
                state = previous.state if previous is not None else ProfileState.SENT
                return await self._done(station, replace(record, state=state, detail=OFFLINE))
            if outcome.kind == "timeout":
                late = f"{outcome.detail}; sent again at the next apply"
                return await self._done(station, replace(record, detail=late))
            if outcome.kind == "invalid":
                return await self._done(
                    station, replace(record, state=ProfileState.FAILED, detail=outcome.detail)
                )
            if outcome.kind == "accepted":
                await self._drop_other_level(station, held, built)
                held = None  # same id: the station replaced it
                verdict, detail = await self._verify(station, built, options)
                if verdict == "ok":
                    await self._store.learn(station, step, wanted.purpose, options, refused=refused)
                    record = replace(record, state=ProfileState.VERIFIED, detail=detail)
                    return await self._done(station, record)
                if verdict in ("unverifiable", "offline"):
                    record = replace(record, state=ProfileState.ACCEPTED, detail=detail)
                    return await self._done(station, record)
                last_detail = detail
                refused = False  # accepted, not in effect: maybe our fault
            else:
                last_detail = outcome.detail
            rejected = replace(record, state=ProfileState.REJECTED, detail=last_detail)
            station.records[key] = rejected
            await self._store.save(rejected)
            log.info("profile not in effect", station=station.station_id, step=step,
                     purpose=wanted.purpose, detail=last_detail)  # fmt: skip
            current = next_step(step, station.base, periods=periods)
        why = f"every escalation step failed; last: {last_detail}"
        if held is not None and self._same_limits(held, wanted, station, self._clock()):
            # what the station still holds asks for the plan: keep it, say so
            failed = replace(held, state=ProfileState.FAILED, updated_at=self._clock(), detail=why)
            return await self._done(station, failed)
        if held is not None:
            # every attempt refused: the station still holds an older plan of ours
            outcome = await self._sender.command(
                station.station_id, "ClearChargingProfile", {"id": held.profile_id}
            )
            why = f"{why}; the older profile was cleared ({outcome.kind})"
        assert rejected is not None  # the ladder starts with a step it tries
        failed = replace(rejected, state=ProfileState.FAILED, detail=why)
        return await self._done(station, failed)

    async def _drop_other_level(
        self, station: StationView, held: ProfileRecord | None, built: BuiltProfile
    ) -> None:
        """The new profile has our id but another stack level: a station that
        keys profiles by (connector, purpose, stack level) would keep the old
        one next to it, so clear that level (the new one does not match)."""
        if held is None or held.payload.get("stackLevel") == built.stack_level:
            return
        await self._sender.command(
            station.station_id,
            "ClearChargingProfile",
            {
                "connectorId": built.connector_id,
                "chargingProfilePurpose": built.purpose,
                "stackLevel": held.payload.get("stackLevel"),
            },
        )

    async def _verify(
        self, station: StationView, built: BuiltProfile, options: ProfileOptions
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
        kind, found = await self._sender.composite(
            station.station_id, connector, built, options, now
        )
        if isinstance(found, str):
            return kind, found
        bounds: list[list[Rate]] = []
        under = True
        if built.purpose != "ChargePointMaxProfile":
            cap = station.records.get((0, "ChargePointMaxProfile"))
            if cap is not None and cap.state is not ProfileState.CLEARED:
                under = installed(cap)  # a cap in an unknown state: only check "at most"
                bounds.append(await self._store.asked(station, cap, now))
        verdict = verify(
            built.limits_kw, found, tolerance_kw=self._tolerance_kw, bounds=bounds, under=under
        )
        return ("ok" if verdict.ok else "exceeds"), verdict.detail

    async def _clear(self, station: StationView, record: ProfileRecord) -> ProfileRecord:
        """Not wanted any more. A TxProfile of a finished session died with it;
        anything else is cleared by id (when offline: on reconnect)."""
        detail: str | None = None
        if record.purpose != "TxProfile" or await self._store.session_active(record):
            outcome = await self._sender.command(
                station.station_id, "ClearChargingProfile", {"id": record.profile_id}
            )
            detail = CLEAR_PENDING if outcome.kind == "offline" else outcome.detail
        cleared = replace(
            record, state=ProfileState.CLEARED, resend_at=None, updated_at=self._clock(),
            detail=detail,
        )  # fmt: skip
        self._store.wanted.pop((record.station_id, record.connector_id, record.purpose), None)
        return await self._done(station, cleared)

    async def _done(self, station: StationView, record: ProfileRecord) -> ProfileRecord:
        station.records[(record.connector_id, record.purpose)] = record
        await self._store.save(record, publish=True)
        return record

    # -- reading -----------------------------------------------------------------

    def _lock(self, station_id: str) -> asyncio.Lock:
        return self._locks.setdefault(station_id, asyncio.Lock())

    def _unchanged(
        self, previous: ProfileRecord, wanted: Wanted, station: StationView, now: datetime
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
        self, previous: ProfileRecord, wanted: Wanted, station: StationView, now: datetime
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


def _periods(wanted: Wanted, station: StationView, now: datetime) -> int:
    """How many periods ``wanted`` has as the station's base options build it."""
    return len(wanted.built(now, station.base).limits_kw)


def _constant(purpose: ProfilePurpose, now: datetime, kw: float) -> Wanted:
    return Wanted(purpose, 0, (Rate(now, now + FOREVER, kw, KW),))


def _highest(steps: list[Rate], start: datetime, end: datetime) -> float | None:
    """The highest limit of ``steps`` in force at some time in [start, end]."""
    values = [limit_at(steps, start)] + [r.value for r in steps if start < r.start <= end]
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) < 1e-6


__all__ = ["EVENT", "REQUESTED_BY", "ProfileEnforcer", "profile_id", "record_as_dict"]
