"""The records the domain speaks in. Plain frozen dataclasses, no behaviour.

Times are timezone-aware UTC ``datetime`` objects everywhere; meter readings
are integer Wh as OCPP 1.6 reports them in Start/StopTransaction, sampled
values keep the station's string value and unit untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
