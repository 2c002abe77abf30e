"""The records the domain speaks in. Plain frozen dataclasses, no behaviour.

Times are timezone-aware UTC ``datetime`` objects everywhere; meter readings
are integer Wh as OCPP 1.6 reports them in Start/StopTransaction, sampled
values keep the station's string value and unit untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class TagStatus(StrEnum):
    """IdTagInfo.status of OCPP 1.6 (AuthorizationStatus)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class StationInfo:
    """What a station says about itself in BootNotification."""

    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    auth_key_hash: str | None
    registered_at: datetime
    lenient_validation: bool = False
    info: StationInfo | None = None
    last_boot_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IdTag:
    id_tag: str
    status: TagStatus = TagStatus.ACCEPTED
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """The answer given to a station about an id tag."""

    status: TagStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One StatusNotification. Connector 0 is the station as a whole."""

    connector_id: int
    status: str
    error_code: str
    timestamp: datetime | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    station_id: str
    connector_id: int
    status: str
    error_code: str
    updated_at: datetime
    timestamp: datetime | None = None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class SampledValue:
    value: str
    measurand: str = "Energy.Active.Import.Register"
    unit: str | None = None
    phase: str | None = None
    context: str | None = None
    location: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class MeterValue:
    timestamp: datetime
    sampled_values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class StoredMeterValue:
    """One sampled value as stored, flattened with its reading time."""

    station_id: str
    connector_id: int
    transaction_id: int | None
    reported_transaction_id: int | None
    timestamp: datetime
    received_at: datetime
    sample: SampledValue


class PowerReading(NamedTuple):
    """One sample of an active session's latest power reading (its
    ``Power.Active.Import`` samples, or for a session without one its latest
    ``Current.Import`` and ``Voltage`` samples): only what a sum of power
    needs, as the fleet's power now reads thousands at once."""

    station_id: str
    transaction_id: int
    measurand: str
    phase: str | None
    value: str
    unit: str | None
    format: str | None


@dataclass(frozen=True, slots=True)
class TransactionStart:
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransactionStop:
    """A StopTransaction as reported; ``transaction_id`` is what the station sent."""

    station_id: str
    transaction_id: int
    meter_stop: int
    stopped_at: datetime
    reason: str | None = None
    id_tag: str | None = None
    transaction_data: tuple[MeterValue, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    tag_status: TagStatus
    meter_start: int
    started_at: datetime
    reservation_id: int | None = None
    meter_stop: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    energy_wh: int | None = None
    meter_anomaly: bool = False
    """True when meterStop < meterStart: stored as reported, energy left unknown."""

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True, slots=True)
class OrphanStop:
    """A StopTransaction for a transaction id this system never issued."""

    id: int
    station_id: str
    reported_transaction_id: int
    meter_stop: int
    stopped_at: datetime
    received_at: datetime
    reason: str | None = None
    id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class StationEvent:
    """A message kept as a record: DataTransfer, FirmwareStatusNotification,
    DiagnosticsStatusNotification. ``kind`` is the OCPP action name."""

    station_id: str
    kind: str
    payload: dict[str, object]
    received_at: datetime
    id: int | None = None


# -- operator records: commands, provisioning, reservations, local lists,
# -- firmware and diagnostics jobs, API keys, webhooks ----------------------


class CommandState(StrEnum):
    """Where a CSMS-initiated command is in its life.

    ``queued`` waits in the station's durable queue for its next connection
    (until ``expires_at``); ``sent`` is on the wire; the rest are final.
    """

    QUEUED = "queued"
    SENT = "sent"
    ANSWERED = "answered"  # a CALLRESULT; its ``status`` field, if any, says what it meant
    ERROR = "error"  # a CALLERROR, or a reply that broke the response schema
    TIMED_OUT = "timed_out"
    FAILED = "failed"  # the connection ended before the reply, or the station was offline
    EXPIRED = "expired"  # queued past its time-to-live, never sent

    @property
    def final(self) -> bool:
        return self not in (CommandState.QUEUED, CommandState.SENT)


@dataclass(frozen=True, slots=True)
class Command:
    """One CSMS-initiated OCPP message as an audit record."""

    id: int
    station_id: str
    action: str
    payload: dict[str, object]
    requested_by: str
    created_at: datetime
    state: CommandState
    expires_at: datetime | None = None
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    status: str | None = None  # the reply's "status" field, when it has one
    response: dict[str, object] | None = None
    error: str | None = None


class ProvisioningState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REBOOT_REQUIRED = "reboot_required"
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported"
    FAILED = "failed"  # no answer (timeout, error, connection lost): retried


@dataclass(frozen=True, slots=True)
class ConfigurationEntry:
    """One key of a station's configuration as its last GetConfiguration reported it."""

    station_id: str
    key: str
    value: str | None
    readonly: bool
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class ProvisioningItem:
    """One desired configuration key of a station and how far it got."""

    station_id: str
    key: str
    desired_value: str
    state: ProvisioningState
    attempts: int
    updated_at: datetime
    detail: str | None = None


class ReservationState(StrEnum):
    REQUESTED = "requested"  # ReserveNow sent, no answer yet
    ACTIVE = "active"  # Accepted by the station
    REJECTED = "rejected"  # Faulted / Occupied / Rejected / Unavailable / no answer
    CANCELLED = "cancelled"
    USED = "used"  # a StartTransaction named it
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int  # the OCPP reservationId
    station_id: str
    connector_id: int
    id_tag: str
    expiry_date: datetime
    state: ReservationState
    created_at: datetime
    updated_at: datetime
    parent_id_tag: str | None = None
    transaction_id: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    id_tag: str
    status: TagStatus | None = None  # None in a differential update: remove the tag
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class LocalList:
    """The local authorization list a station holds, as far as we know
    (what its last Accepted SendLocalList left it with)."""

    station_id: str
    version: int
    entries: tuple[LocalListEntry, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FirmwareFile:
    id: str  # random, unguessable: part of the download URL stations get
    name: str
    size: int
    sha256: str
    uploaded_at: datetime


class JobState(StrEnum):
    """Firmware and diagnostics jobs. The intermediate OCPP statuses
    (Downloading, Installing, Uploading, ...) are kept in ``Job.last_status``."""

    REQUESTED = "requested"  # command sent or queued
    RUNNING = "running"  # the station reported progress
    SUCCEEDED = "succeeded"  # Installed / Uploaded (and the file received)
    FAILED = "failed"  # DownloadFailed, InstallationFailed, UploadFailed, command refused


@dataclass(frozen=True, slots=True)
class FirmwareJob:
    id: int
    station_id: str
    location: str
    retrieve_date: datetime
    state: JobState
    created_at: datetime
    updated_at: datetime
    file_id: str | None = None
    last_status: str | None = None
    command_id: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class DiagnosticsJob:
    id: int
    station_id: str
    token: str  # the upload URL's secret part
    state: JobState
    created_at: datetime
    updated_at: datetime
    last_status: str | None = None
    file_name: str | None = None  # as the station named it
    size: int | None = None  # bytes received
    command_id: int | None = None
    detail: str | None = None


class ApiRole(StrEnum):
    ADMIN = "admin"
    READ_ONLY = "read-only"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An operator API key; the secret part is stored only as a hash."""

    id: str  # public part, shown in lists and logs
    name: str
    role: ApiRole
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Operator:
    """A dashboard login; the password is stored only as a salted scrypt hash."""

    name: str  # the login: 1-64 of [A-Za-z0-9._@-]
    role: ApiRole
    password_hash: str  # never the password
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OperatorSession:
    """A logged-in dashboard session. Only the token's hash is stored: the
    token itself lives in the browser's cookie."""

    id: str  # SHA-256 hex of the session token
    operator: str
    role: ApiRole
    csrf_token: str  # random per session, sent back in forms / X-CSRF-Token
    created_at: datetime
    expires_at: datetime  # absolute end
    last_seen_at: datetime  # the idle timeout is measured from here


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A login, failed login or account change, for the operators' audit page."""

    id: int | None
    at: datetime
    kind: str  # e.g. "station.login_failed", "operator.login", "operator.disabled"
    subject: str  # station id or operator name
    remote: str | None  # remote address when known
    detail: str  # a sentence; never a password or key


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    url: str
    secret: str  # the HMAC key; needed in clear to sign
    event_types: tuple[str, ...]  # empty: every event
    created_at: datetime
    active: bool = True


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    payload: dict[str, object]
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
