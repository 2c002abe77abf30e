"""What the enforcer knows of a station's profiles: read once, saved after each attempt.

:class:`ProfileStore` reads a station's view (its capabilities, what its
model taught us, its :class:`~.records.ProfileRecord` per connector and
purpose), saves records and publishes ``smart_charging.profile``, remembers
what worked per model, and answers "what did we ask for at that time". The
plan behind each record is kept in memory (:attr:`ProfileStore.wanted`):
after a restart it is rebuilt from what was sent. So are the candidates of
what a model needs (:attr:`ProfileStore.candidates`): a restart forgets a
first station's evidence, and the next one starts a candidate again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from opencsms.domain.clock import Clock
from opencsms.domain.events import EventBus
from opencsms.domain.ports import Repositories, UnitOfWork
from opencsms.domain.provisioning import Capabilities, capabilities_of
from opencsms.domain.smart_charging.profiles import (
    BuiltProfile,
    ProfileOptions,
    build,
    options_for,
    steps_of,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    LearnedProfileOptions,
    ProfilePurpose,
    ProfileRecord,
    ProfileState,
)

log = structlog.get_logger("opencsms.smart_charging")

EVENT = "smart_charging.profile"
OFFLINE = "offline"
LEARNABLE = ("fewer_periods", "stack_level_0", "flip_kind", "flip_unit")
"""Steps that change what is sent (the others send the same profile again)."""

Key = tuple[int, ProfilePurpose]
CandidateKey = tuple[str, str, str, str]
"""(vendor, model, step, what the step set)."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """One profile as the plan wants it, before options shape it."""

    purpose: ProfilePurpose
    connector_id: int
    steps_kw: tuple[Rate, ...]
    transaction_id: int | None = None
    transaction_started_at: datetime | None = None
    own_load_kw: tuple[Rate, ...] = ()
    """A cap's station's own planned load (:func:`~.profiles.build`); not
    stored: read back from a payload, a cap takes every decrease early."""

    def built(self, now: datetime, options: ProfileOptions) -> BuiltProfile:
        return build(
            self.purpose,
            self.connector_id,
            self.steps_kw,
            now=now,
            options=options,
            transaction_id=self.transaction_id,
            transaction_started_at=self.transaction_started_at,
            own_load_kw=self.own_load_kw,
        )


@dataclass(slots=True)
class StationView:
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


class ProfileStore:
    def __init__(self, uow: UnitOfWork, *, clock: Clock, events: EventBus | None) -> None:
        self._uow = uow
        self._clock = clock
        self._events = events
        self.wanted: dict[tuple[str, int, ProfilePurpose], Wanted] = {}
        """The plan behind each record, by (station, connector, purpose)."""
        self.candidates: dict[CandidateKey, set[str]] = {}
        """Stations that needed a step after an accepted profile was not in effect."""

    async def learn(
        self,
        station: StationView,
        step: str,
        purpose: ProfilePurpose,
        options: ProfileOptions,
        *,
        refused: bool,
    ) -> None:
        """``step`` (built with ``options``) made a profile of ``station`` take
        effect: store what it changes for the station's model, if the evidence
        is the station's and not possibly ours.

        ``refused``: the station refused every attempt before the step
        (Rejected, a CALLERROR): its own word, learned at once. Otherwise an
        accepted profile was not in effect (a composite check, the meter),
        which a fault of ours can cause too (e2e: a period starting at a
        fraction of a second failed every check on one station, ``fewer_periods``
        then passed by accident, and its whole model learned one period: 0 A).
        Then the step is a candidate, learned when a second, different station
        of the model needs it; and ``max_periods`` is never learned, as a
        failed check says nothing of how many periods a station takes."""
        if step not in LEARNABLE or station.vendor is None or station.model is None:
            return
        if not refused:
            if step == "fewer_periods":
                log.info("fewer periods not learned from a failed check", vendor=station.vendor,
                         model=station.model, station=station.station_id)  # fmt: skip
                return
            vendor, model = station.vendor, station.model
            if not self._confirmed(vendor, model, station.station_id, step, options):
                return
        known = station.learned or LearnedProfileOptions(station.vendor, station.model)
        max_periods = known.max_periods
        if step == "fewer_periods" and options.max_periods is not None:
            max_periods = min(options.max_periods, max_periods or options.max_periods)
        learned = replace(
            known,
            stack_level_0=known.stack_level_0 or step == "stack_level_0",
            kind=options.kind if step == "flip_kind" else known.kind,
            unit=options.unit if step == "flip_unit" else known.unit,
            max_periods=max_periods,
            learned_at=self._clock(),
            detail=f"{step} made a {purpose} take effect" + ("" if refused else " on two stations"),
        )
        await self._uow.run(lambda r: r.charging.put_learned(learned))
        station.learned = learned
        station.base = options_for(station.capabilities, learned)
        log.info("learned profile options", vendor=station.vendor, model=station.model, step=step)

    def _confirmed(
        self, vendor: str, model: str, station_id: str, step: str, options: ProfileOptions
    ) -> bool:
        """Note ``station_id`` as needing ``step``; True once two stations do."""
        key = (vendor, model, step, _what_it_set(step, options))
        seen = self.candidates.setdefault(key, set())
        seen.add(station_id)
        if len(seen) < 2:
            log.info("profile option candidate noted", vendor=vendor, model=model, step=step,
                     option=key[3], station=station_id)  # fmt: skip
            return False
        del self.candidates[key]
        log.info("profile option candidate confirmed", vendor=vendor, model=model, step=step,
                 option=key[3], stations=sorted(seen))  # fmt: skip
        return True

    async def save(self, record: ProfileRecord, *, publish: bool = False) -> None:
        await self._uow.run(lambda r: r.charging.put_profile(record))
        if publish and self._events is not None:
            self._events.publish(EVENT, record.station_id, record_as_dict(record))

    async def load(self, station_id: str) -> StationView:
        async def read(repos: Repositories) -> StationView:
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
            return StationView(
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

    async def session_active(self, record: ProfileRecord) -> bool:
        if record.transaction_id is None:
            return False
        transaction_id = record.transaction_id
        found = await self._uow.read(lambda r: r.transactions.get(transaction_id))
        return found is not None and found.active

    async def wanted_of(self, station: StationView, record: ProfileRecord) -> Wanted | None:
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
        cached = self.wanted.get((station.station_id, record.connector_id, record.purpose))
        if cached is not None and cached.transaction_id == record.transaction_id:
            return cached
        steps = steps_of(
            record.payload, now=self._clock(), voltage=station.base.voltage,
            phases=station.base.phases, transaction_started_at=started_at,
        )  # fmt: skip
        return Wanted(
            record.purpose, record.connector_id, tuple(steps), record.transaction_id, started_at
        )

    def limiting(self, station: StationView, connector_id: int) -> list[ProfileRecord]:
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

    async def asked(self, station: StationView, record: ProfileRecord, at: datetime) -> list[Rate]:
        started_at: datetime | None = None
        if (
            record.purpose == "TxProfile"
            and record.payload.get("chargingProfileKind") == "Relative"
        ):
            cached = self.wanted.get((station.station_id, record.connector_id, record.purpose))
            if cached is not None and cached.transaction_id == record.transaction_id:
                started_at = cached.transaction_started_at
            elif (transaction_id := record.transaction_id) is not None:
                found = await self._uow.read(lambda r: r.transactions.get(transaction_id))
                started_at = found.started_at if found is not None else None
        return steps_of(
            record.payload, now=at, voltage=station.base.voltage,
            phases=station.base.phases, transaction_started_at=started_at,
        )  # fmt: skip


def _what_it_set(step: str, options: ProfileOptions) -> str:
    """What a learnable step changes, as part of a candidate's key."""
    if step == "flip_kind":
        return options.kind
    if step == "flip_unit":
        return options.unit
    return "stack level 0"  # fewer_periods is never a candidate


def _seconds(text: str | None) -> int:
    try:
        return max(int(text or 0), 0)
    except ValueError:
        return 0


def installed(record: ProfileRecord | None) -> bool:
    """Whether the station holds ``record``'s payload (as far as we know)."""
    return (
        record is not None
        and record.state in (ProfileState.VERIFIED, ProfileState.ACCEPTED)
        and record.detail != OFFLINE
    )


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
