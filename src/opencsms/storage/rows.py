"""Mapping between table rows and the domain's frozen dataclasses.

Hand-written rather than ORM-mapped: a few lines per table, no per-row
bookkeeping on the hot path, and the domain model stays free of storage.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from opencsms.domain.model import (
    ConnectorStatus,
    IdTag,
    OrphanStop,
    ProvisioningItem,
    ProvisioningState,
    SampledValue,
    Station,
    StationInfo,
    StoredMeterValue,
    TagStatus,
    Transaction,
)

_INFO_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)


def info_values(info: StationInfo | None) -> dict[str, Any]:
    return {f"info_{name}": None if info is None else getattr(info, name) for name in _INFO_FIELDS}


def station_from_row(row: Row[Any]) -> Station:
    m = row._mapping
    info = None
    if m["info_vendor"] is not None:
        info = StationInfo(**{name: m[f"info_{name}"] for name in _INFO_FIELDS})
    return Station(
        id=m["id"],
        auth_key_hash=m["auth_key_hash"],
        registered_at=m["registered_at"],
        lenient_validation=m["lenient_validation"],
        info=info,
        last_boot_at=m["last_boot_at"],
        last_seen_at=m["last_seen_at"],
    )


def connector_status_from_row(row: Row[Any]) -> ConnectorStatus:
    m = row._mapping
    return ConnectorStatus(
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        status=m["status"],
        error_code=m["error_code"],
        updated_at=m["updated_at"],
        timestamp=m["timestamp"],
        info=m["info"],
        vendor_id=m["vendor_id"],
        vendor_error_code=m["vendor_error_code"],
    )


def id_tag_from_row(row: Row[Any]) -> IdTag:
    m = row._mapping
    return IdTag(
        id_tag=m["id_tag"],
        status=TagStatus(m["status"]),
        expiry_date=m["expiry_date"],
        parent_id_tag=m["parent_id_tag"],
    )


def transaction_from_row(row: Row[Any]) -> Transaction:
    m = row._mapping
    return Transaction(
        id=m["id"],
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        id_tag=m["id_tag"],
        tag_status=TagStatus(m["tag_status"]),
        meter_start=m["meter_start"],
        started_at=m["started_at"],
        reservation_id=m["reservation_id"],
        meter_stop=m["meter_stop"],
        stopped_at=m["stopped_at"],
        stop_reason=m["stop_reason"],
        stop_id_tag=m["stop_id_tag"],
        energy_wh=m["energy_wh"],
        meter_anomaly=m["meter_anomaly"],
    )


def orphan_stop_from_row(row: Row[Any]) -> OrphanStop:
    m = row._mapping
    return OrphanStop(
        id=m["id"],
        station_id=m["station_id"],
        reported_transaction_id=m["reported_transaction_id"],
        meter_stop=m["meter_stop"],
        stopped_at=m["stopped_at"],
        received_at=m["received_at"],
        reason=m["reason"],
        id_tag=m["id_tag"],
    )


def stored_meter_value_from_row(row: Row[Any]) -> StoredMeterValue:
    m = row._mapping
    return StoredMeterValue(
        station_id=m["station_id"],
        connector_id=m["connector_id"],
        transaction_id=m["transaction_id"],
        reported_transaction_id=m["reported_transaction_id"],
        timestamp=m["timestamp"],
        received_at=m["received_at"],
        sample=SampledValue(
            value=m["value"],
            measurand=m["measurand"],
            unit=m["unit"],
            phase=m["phase"],
            context=m["context"],
            location=m["location"],
            format=m["format"],
        ),
    )


def provisioning_item_from_row(row: Row[Any]) -> ProvisioningItem:
    return ProvisioningItem(
        station_id=row.station_id,
        key=row.key,
        desired_value=row.desired_value,
        state=ProvisioningState(row.state),
        attempts=row.attempts,
        updated_at=row.updated_at,
        detail=row.detail,
    )
