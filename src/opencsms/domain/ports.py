"""Narrow storage ports the domain services depend on.

Each repository is bound to one database transaction by the
:class:`UnitOfWork`; a service puts the reads and writes that must be atomic
(e.g. "is this StartTransaction a replay? if not, insert it") into one
``work`` callable. The storage layer may run many stations' work in one
database transaction (group commit); ``run`` returns only after the commit,
so nothing is acknowledged to a station before it is durable.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from opencsms.domain.model import (
    ApiKey,
    Command,
    CommandState,
    ConfigurationEntry,
    ConnectorStatus,
    DeliveryState,
    DiagnosticsJob,
    FirmwareFile,
    FirmwareJob,
    IdTag,
    JobState,
    LocalList,
    LocalListEntry,
    MeterValue,
    Operator,
    OperatorSession,
    OrphanStop,
    PowerReading,
    ProvisioningItem,
    Reservation,
    ReservationState,
    SecurityEvent,
    Station,
    StationEvent,
    StationInfo,
    StatusReport,
    StoredMeterValue,
    TagStatus,
    Transaction,
    TransactionStart,
    TransactionStop,
    Webhook,
    WebhookDelivery,
)
from opencsms.domain.smart_charging.grid import FlexEvent
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    ChargingMode,
    ChargingNeed,
    LearnedProfileOptions,
    ProfileRecord,
    SeriesSummary,
    Site,
    StoredPlan,
)

T = TypeVar("T")


class StationExists(Exception):
    """A station with this id is already registered."""


class OperatorExists(ValueError):
    """An operator with this name already exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an operator named {name!r} already exists")
        self.name = name


class StationRepository(Protocol):
    async def get(self, station_id: str) -> Station | None: ...
    async def add(self, station: Station) -> None:
        """Insert; raise :class:`StationExists` if the id is taken."""

    async def remove(self, station_id: str) -> bool: ...
    async def list(self, limit: int | None = None, after: str | None = None) -> list[Station]:
        """By id; at most ``limit``, only ids greater than ``after`` (a page cursor)."""

    async def set_auth_key_hash(self, station_id: str, key_hash: str) -> bool: ...
    async def set_lenient_validation(self, station_id: str, lenient: bool) -> bool: ...
    async def record_boot(self, station_id: str, info: StationInfo, at: datetime) -> None: ...
    async def record_seen(self, station_id: str, at: datetime) -> None: ...


class ConnectorStatusRepository(Protocol):
    async def record(self, station_id: str, report: StatusReport, received_at: datetime) -> None:
        """Upsert the connector's current status and append it to the history."""

    async def current(self, station_id: str) -> list[ConnectorStatus]: ...
    async def history(
        self, station_id: str, connector_id: int | None = None, limit: int = 100
    ) -> list[ConnectorStatus]:
        """Newest first."""


class IdTagRepository(Protocol):
    async def get(self, id_tag: str) -> IdTag | None: ...
    async def put(self, tag: IdTag) -> None:
        """Insert or replace."""

    async def remove(self, id_tag: str) -> bool: ...
    async def list(self, limit: int | None = None, after: str | None = None) -> list[IdTag]:
        """By id tag; at most ``limit``, only tags greater than ``after`` (a page cursor)."""


class TransactionRepository(Protocol):
    async def find_start(self, start: TransactionStart) -> Transaction | None:
        """The transaction created by an identical earlier StartTransaction, if any
        (same station, connector, id tag, timestamp and meterStart)."""

    async def find_active_for_tag(self, id_tag: str) -> Transaction | None: ...
    async def create(self, start: TransactionStart, tag_status: TagStatus) -> Transaction:
        """Insert and return it with its system-wide unique id."""

    async def get(self, transaction_id: int) -> Transaction | None: ...
    async def finish(
        self, stop: TransactionStop, energy_wh: int | None, meter_anomaly: bool
    ) -> Transaction: ...
    async def list(
        self,
        station_id: str | None = None,
        active_only: bool = False,
        limit: int = 100,
        *,
        id_tag: str | None = None,
        started_from: datetime | None = None,
        started_before: datetime | None = None,
        offset: int = 0,
    ) -> list[Transaction]:
        """Newest first; ``started_from`` <= started_at < ``started_before``."""

    async def find_orphan_stop(self, stop: TransactionStop) -> OrphanStop | None:
        """An identical orphan stop stored earlier (same station, reported id,
        timestamp and meterStop)."""

    async def add_orphan_stop(self, stop: TransactionStop, received_at: datetime) -> OrphanStop: ...
    async def list_orphan_stops(
        self, station_id: str | None = None
    ) -> builtins.list[OrphanStop]: ...


class MeterValueRepository(Protocol):
    async def add(
        self,
        station_id: str,
        connector_id: int,
        reported_transaction_id: int | None,
        values: Sequence[MeterValue],
        received_at: datetime,
    ) -> int:
        """Store every sampled value with its own reading time; return how many
        were submitted.

        A sampled value identical in every reported field to one already stored
        for the station (a MeterValues resent after a lost reply) is not stored
        again.

        ``reported_transaction_id`` is kept as the station sent it. The
        repository links the values to our transaction (``transaction_id`` of
        :class:`StoredMeterValue`, what :meth:`for_transaction` finds) when a
        transaction with that id exists and belongs to ``station_id``; otherwise
        (an id of a transaction started offline, -1, 0, another station's id)
        they are stored unlinked. The check is made when the rows are written,
        which is within the same unit of work and at the latest at its commit,
        so the repository may resolve many messages' ids at once.
        """

    async def for_transaction(self, transaction_id: int) -> list[StoredMeterValue]:
        """Oldest first."""

    async def for_transaction_since(
        self, transaction_id: int, since: datetime
    ) -> list[StoredMeterValue]:
        """Oldest first: the samples of :meth:`for_transaction` from the latest
        energy register reading at or before ``since`` on (every sample taken at
        that reading time included, whatever its measurand); all of them when
        no register reading is that old.

        The bookend is a *register* reading (``Energy.Active.Import.Register``
        at the outlet or without a location), not just any sample: metered
        energy since ``since`` interpolates between the register readings
        around it, and a station may report its register less often than its
        power (clock-aligned register, sampled power)."""

    async def around(self, transaction_ids: Collection[int]) -> dict[int, list[StoredMeterValue]]:
        """Per transaction (every id given), oldest first, the samples of
        :meth:`for_transaction` taken at one of at most four reading times
        (every sample at that time, whatever its measurand):

        - the latest energy *register* reading at or before the creation of
          the session's latest plan (:meth:`ChargingRepository.latest_plan`),
        - the first register reading after it,
        - the latest register reading,
        - the latest power or current reading (``Power.Active.Import`` or
          ``Current.Import``, any location).

        A register reading is an ``Energy.Active.Import.Register`` sample at
        the outlet or without a location, not in ``SignedData`` format; a
        session without a plan has no brackets. It is what metered energy
        since the plan, power now and the latest power reading need while
        the register never goes down (the smart-charging sweep, which tells
        when it did and reads more), in a few rows per session however long
        the plan has been in force."""

    async def for_station(self, station_id: str, limit: int = 1000) -> list[StoredMeterValue]:
        """Oldest first."""


class StationEventRepository(Protocol):
    async def add(self, event: StationEvent) -> None: ...
    async def list(self, station_id: str, kind: str | None = None) -> list[StationEvent]:
        """Oldest first."""


class CommandRepository(Protocol):
    """The commands' audit trail, which is also the durable per-station queue."""

    async def add(
        self,
        station_id: str,
        action: str,
        payload: dict[str, object],
        requested_by: str,
        created_at: datetime,
        state: CommandState,
        expires_at: datetime | None = None,
    ) -> Command: ...
    async def get(self, command_id: int) -> Command | None: ...
    async def mark_sent(self, command_id: int, at: datetime) -> None: ...
    async def finish(
        self,
        command_id: int,
        state: CommandState,
        at: datetime,
        status: str | None = None,
        response: dict[str, object] | None = None,
        error: str | None = None,
    ) -> Command: ...
    async def queued(self, station_id: str) -> builtins.list[Command]:
        """The station's queued commands, oldest first."""

    async def stations_with_queued(self) -> builtins.list[str]: ...
    async def expire_queued(self, now: datetime) -> builtins.list[Command]:
        """Mark every queued command whose ``expires_at`` has passed as expired;
        return them as they are now."""

    async def fail_unfinished(self, at: datetime, error: str) -> int:
        """Commands left ``sent`` by a node that stopped: their answer is lost."""

    async def list(
        self,
        station_id: str | None = None,
        action: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> builtins.list[Command]:
        """Newest first; ``before_id`` pages on."""


class ConfigurationRepository(Protocol):
    """What each station's GetConfiguration reported, and the provisioning
    state of each desired key."""

    async def replace_snapshot(
        self, station_id: str, entries: Sequence[ConfigurationEntry]
    ) -> None: ...
    async def put_entry(self, entry: ConfigurationEntry) -> None: ...
    async def snapshot(self, station_id: str) -> builtins.list[ConfigurationEntry]:
        """Sorted by key."""

    async def put_item(self, item: ProvisioningItem) -> None: ...
    async def items(self, station_id: str) -> builtins.list[ProvisioningItem]:
        """Sorted by key."""


class ReservationRepository(Protocol):
    async def create(
        self,
        station_id: str,
        connector_id: int,
        id_tag: str,
        parent_id_tag: str | None,
        expiry_date: datetime,
        created_at: datetime,
    ) -> Reservation:
        """Insert in state ``requested`` with a new system-wide unique id."""

    async def get(self, reservation_id: int) -> Reservation | None: ...
    async def update(
        self,
        reservation_id: int,
        state: ReservationState,
        at: datetime,
        transaction_id: int | None = None,
        detail: str | None = None,
    ) -> Reservation | None: ...
    async def list(
        self, station_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> builtins.list[Reservation]:
        """Newest first; ``open_only``: requested or active."""

    async def due_to_expire(self, now: datetime) -> builtins.list[Reservation]:
        """Requested or active reservations whose expiry date has passed."""


class LocalListRepository(Protocol):
    async def get(self, station_id: str) -> LocalList | None: ...
    async def replace(
        self, station_id: str, version: int, entries: Sequence[LocalListEntry], at: datetime
    ) -> LocalList:
        """A Full update: the list becomes exactly ``entries``."""

    async def apply_update(
        self, station_id: str, version: int, entries: Sequence[LocalListEntry], at: datetime
    ) -> LocalList:
        """A Differential update: entries with a status are put, without are removed."""


class FirmwareRepository(Protocol):
    async def add_file(self, file: FirmwareFile) -> None: ...
    async def get_file(self, file_id: str) -> FirmwareFile | None: ...
    async def list_files(self) -> builtins.list[FirmwareFile]: ...
    async def add_job(
        self,
        station_id: str,
        location: str,
        retrieve_date: datetime,
        file_id: str | None,
        created_at: datetime,
    ) -> FirmwareJob: ...
    async def get_job(self, job_id: int) -> FirmwareJob | None: ...
    async def update_job(
        self,
        job_id: int,
        state: JobState,
        at: datetime,
        last_status: str | None = None,
        command_id: int | None = None,
        detail: str | None = None,
    ) -> FirmwareJob | None:
        """Fields given as None keep their value."""

    async def latest_open_job(self, station_id: str) -> FirmwareJob | None:
        """The newest job still requested or running."""

    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[FirmwareJob]:
        """Newest first; ``before_id``: only the jobs after that one (a page cursor)."""


class DiagnosticsRepository(Protocol):
    async def add_job(
        self, station_id: str, token: str, created_at: datetime
    ) -> DiagnosticsJob: ...
    async def get_job(self, job_id: int) -> DiagnosticsJob | None: ...
    async def by_token(self, token: str) -> DiagnosticsJob | None: ...
    async def update_job(
        self,
        job_id: int,
        state: JobState,
        at: datetime,
        last_status: str | None = None,
        command_id: int | None = None,
        file_name: str | None = None,
        size: int | None = None,
        detail: str | None = None,
    ) -> DiagnosticsJob | None:
        """Fields given as None keep their value."""

    async def latest_open_job(self, station_id: str) -> DiagnosticsJob | None: ...
    async def list_jobs(
        self, station_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[DiagnosticsJob]:
        """Newest first; ``before_id``: only the jobs after that one (a page cursor)."""


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...
    async def get(self, key_id: str) -> ApiKey | None: ...
    async def list(self) -> builtins.list[ApiKey]: ...
    async def revoke(self, key_id: str, at: datetime) -> bool: ...
    async def touch(self, key_id: str, at: datetime) -> None: ...


class OperatorRepository(Protocol):
    """Dashboard operators and their sessions (sessions are keyed by the
    token's hash, see :mod:`opencsms.domain.operators`)."""

    async def add(self, operator: Operator) -> None:
        """Insert; raise :class:`OperatorExists` if the name is taken."""

    async def get(self, name: str) -> Operator | None: ...
    async def list(self) -> builtins.list[Operator]:
        """By name."""

    async def set_password_hash(self, name: str, password_hash: str) -> bool: ...
    async def disable(self, name: str, at: datetime) -> bool:
        """False when there is no such operator (an already disabled one keeps its time)."""

    async def enable(self, name: str) -> bool:
        """False when there is no such operator (an enabled one stays so)."""

    async def add_session(self, session: OperatorSession) -> None: ...
    async def get_session(self, session_id: str) -> OperatorSession | None: ...
    async def touch_session(self, session_id: str, at: datetime) -> None: ...
    async def remove_session(self, session_id: str) -> bool: ...
    async def remove_sessions_of(self, name: str) -> int: ...
    async def remove_expired_sessions(self, now: datetime) -> int:
        """Sessions whose absolute end is at or before ``now``."""


class SecurityEventRepository(Protocol):
    async def add(self, event: SecurityEvent) -> SecurityEvent:
        """Store (``id`` ignored); returns it with its id."""

    async def recent(
        self, limit: int, before_id: int | None = None, kind: str | None = None
    ) -> builtins.list[SecurityEvent]:
        """Newest first (by id); only ids below ``before_id`` (a page cursor)."""


class WebhookRepository(Protocol):
    async def add(
        self, url: str, secret: str, event_types: Sequence[str], created_at: datetime
    ) -> Webhook: ...
    async def get(self, webhook_id: int) -> Webhook | None: ...
    async def list(self) -> builtins.list[Webhook]: ...
    async def remove(self, webhook_id: int) -> bool: ...
    async def add_delivery(
        self,
        webhook_id: int,
        event_id: str,
        event_type: str,
        payload: dict[str, object],
        created_at: datetime,
    ) -> WebhookDelivery:
        """Pending, due at once."""

    async def due_deliveries(
        self, now: datetime, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        """Pending deliveries whose next attempt is due, oldest first."""

    async def record_attempt(
        self,
        delivery_id: int,
        state: DeliveryState,
        attempts: int,
        next_attempt_at: datetime | None,
        status_code: int | None,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None: ...
    async def deliveries(
        self, webhook_id: int | None = None, limit: int = 100, before_id: int | None = None
    ) -> builtins.list[WebhookDelivery]:
        """Newest first; ``before_id``: only the deliveries after that one (a page cursor)."""


class SignalRepository(Protocol):
    """Signal series (``price``, ``co2`` or any name) as stored rates."""

    async def replace(self, series: str, rates: Sequence[Rate]) -> int:
        """Store normalised ``rates`` (non-empty, one unit) in ``series``: rows
        of the series overlapping ``[rates[0].start, rates[-1].end)`` are
        replaced, the rest kept. Returns the number of rates stored."""

    async def window(self, series: str, start: datetime, end: datetime) -> builtins.list[Rate]:
        """Rates of ``series`` overlapping ``[start, end)``, sorted."""

    async def summaries(self) -> builtins.list[SeriesSummary]: ...


class SiteRepository(Protocol):
    async def put(self, site: Site) -> None:
        """Insert or replace the site (its members and events are kept)."""

    async def get(self, site_id: str) -> Site | None: ...
    async def list(self) -> builtins.list[Site]: ...
    async def remove(self, site_id: str) -> bool:
        """Delete the site, its memberships and its events."""

    async def set_site_of(self, station_id: str, site_id: str | None) -> None:
        """A station belongs to at most one site; None takes it out."""

    async def site_of(self, station_id: str) -> str | None: ...
    async def sites_of(self, station_ids: Collection[str]) -> dict[str, str]:
        """:meth:`site_of` of many stations in a few queries: station → site,
        stations outside any site left out."""

    async def members(self, site_id: str) -> builtins.list[str]: ...
    async def put_event(self, event: FlexEvent, received_at: datetime) -> None:
        """Insert or replace the event with its key (site_id, event_id),
        cancelled ones included (kept as tombstones)."""

    async def events(
        self, site_id: str, *, include_cancelled: bool = False
    ) -> builtins.list[FlexEvent]: ...


class ChargingRepository(Protocol):
    """Needs, switches, plans and profiles of live smart charging."""

    async def put_need(self, need: ChargingNeed) -> None: ...
    async def get_need(self, transaction_id: int) -> ChargingNeed | None: ...
    async def set_mode(self, station_id: str, mode: ChargingMode, at: datetime) -> None: ...
    async def mode(self, station_id: str) -> ChargingMode:
        """``smart`` unless switched."""

    async def add_plan(self, plan: StoredPlan) -> StoredPlan:
        """Store a plan (its ``id`` is ignored) and return it with its id."""

    async def latest_plan(self, transaction_id: int) -> StoredPlan | None: ...
    async def latest_plans(self, transaction_ids: Collection[int]) -> dict[int, StoredPlan]:
        """:meth:`latest_plan` of many sessions in a few queries (sessions
        without a plan left out)."""

    async def modes(self, station_ids: Collection[str]) -> dict[str, ChargingMode]:
        """:meth:`mode` of many stations in a few queries (every one given)."""

    async def plans(self, transaction_id: int) -> builtins.list[StoredPlan]:
        """Every plan of the session, oldest first."""

    async def put_profile(self, record: ProfileRecord) -> None:
        """Insert or replace by (station_id, connector_id, purpose)."""

    async def profiles(self, station_id: str) -> builtins.list[ProfileRecord]: ...
    async def profiles_due(self, now: datetime) -> builtins.list[ProfileRecord]:
        """Records with ``resend_at <= now`` (any station)."""

    async def get_learned(self, vendor: str, model: str) -> LearnedProfileOptions | None: ...
    async def put_learned(self, options: LearnedProfileOptions) -> None: ...


@dataclass(frozen=True, slots=True)
class StationQuery:
    """What the fleet's station list is narrowed to (every field optional).

    ``text`` matches a substring of the id, vendor or model, ignoring case;
    ``connector_status`` keeps stations with at least one connector (not 0,
    the station itself) in that status; ``site_id`` the members of a site."""

    text: str | None = None
    connector_status: str | None = None
    site_id: str | None = None


class FleetQueryRepository(Protocol):
    """The operator's overview of the whole fleet: counts, sums and pages,
    each one bounded query (the dashboard's home page, issue 6)."""

    async def station_count(self) -> int: ...
    async def connector_counts(self) -> dict[str, int]:
        """Connectors (connector 0, the station itself, left out) by current status."""

    async def active_transaction_count(self) -> int: ...
    async def latest_power(
        self, station_ids: Collection[str] | None = None
    ) -> builtins.list[PowerReading]:
        """The ``Power.Active.Import`` samples of every active transaction (of
        ``station_ids`` when given) taken at its latest power reading time
        (every phase of that reading); for a transaction without one, its
        ``Current.Import`` and ``Voltage`` samples at its latest current
        reading time. One query however long the sessions."""

    async def search(
        self,
        where: StationQuery,
        limit: int,
        after: str | None = None,
        ids: Collection[str] | None = None,
    ) -> builtins.list[Station]:
        """Stations matching ``where`` by id, ids greater than ``after``; only
        those of ``ids`` when given (at most ``IN_BATCH`` of them)."""

    async def connectors_of(
        self, station_ids: Collection[str]
    ) -> dict[str, builtins.list[ConnectorStatus]]:
        """:meth:`ConnectorStatusRepository.current` of many stations (those
        without a status left out)."""

    async def connectors_in(self, status: str, limit: int) -> builtins.list[ConnectorStatus]:
        """Connectors (not 0) now in ``status``, most recently changed first."""

    async def seen_stations(
        self, limit: int, before: tuple[datetime, str] | None = None
    ) -> builtins.list[Station]:
        """Stations seen at least once, most recently seen first (then id
        descending); ``before`` is the (last_seen_at, id) of a page's last row."""

    async def provisioning_failures(self, limit: int) -> builtins.list[ProvisioningItem]:
        """Desired configuration keys a station rejected or never took
        (``failed``, ``rejected``), most recently updated first."""

    async def profile_failures(self, limit: int) -> builtins.list[ProfileRecord]:
        """Charging profiles every escalation step failed for, most recent first."""


@dataclass(frozen=True, slots=True)
class Repositories:
    stations: StationRepository
    connectors: ConnectorStatusRepository
    id_tags: IdTagRepository
    transactions: TransactionRepository
    meter_values: MeterValueRepository
    events: StationEventRepository
    commands: CommandRepository
    configuration: ConfigurationRepository
    reservations: ReservationRepository
    local_lists: LocalListRepository
    firmware: FirmwareRepository
    diagnostics: DiagnosticsRepository
    api_keys: ApiKeyRepository
    webhooks: WebhookRepository
    signals: SignalRepository
    sites: SiteRepository
    charging: ChargingRepository
    operators: OperatorRepository
    security_events: SecurityEventRepository
    fleet: FleetQueryRepository


Work = Callable[[Repositories], Awaitable[T]]


class UnitOfWork(Protocol):
    async def run(self, work: Work[T]) -> T:
        """Run ``work`` in a database transaction and return its result after the
        commit. If ``work`` raises, its writes are rolled back and the exception
        propagates; other stations' work in the same batch is unaffected."""

    async def read(self, work: Work[T]) -> T:
        """Run read-only ``work`` without waiting for the write queue."""
