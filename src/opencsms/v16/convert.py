"""OCPP 1.6 JSON payload <-> domain records.

Payloads arrive schema-validated, except from stations in lenient mode; so
every field read here tolerates what a lenient station may send (a missing
optional field, a timestamp without offset) and fails with an OCPP error code
only where nothing sensible can be stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opencsms.domain.model import (
    IdTagInfo,
    MeterValue,
    SampledValue,
    StationInfo,
    StatusReport,
    TransactionStart,
    TransactionStop,
)
from opencsms.ocpp.errors import PropertyConstraintViolationError, TypeConstraintViolationError


def parse_time(value: Any, field: str = "timestamp") -> datetime:
    """RFC 3339 to an aware UTC datetime; a naive one is taken as UTC."""
    if not isinstance(value, str):
        raise TypeConstraintViolationError(f"{field} must be a date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PropertyConstraintViolationError(f"{field} is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int(payload: dict[str, Any], field: str) -> int:
    value = payload.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeConstraintViolationError(f"{field} must be an integer")
    return value


def optional_int(payload: dict[str, Any], field: str) -> int | None:
    return _int(payload, field) if payload.get(field) is not None else None


def station_info(payload: dict[str, Any]) -> StationInfo:
    return StationInfo(
        vendor=str(payload.get("chargePointVendor", "")),
        model=str(payload.get("chargePointModel", "")),
        serial_number=payload.get("chargePointSerialNumber"),
        charge_box_serial_number=payload.get("chargeBoxSerialNumber"),
        firmware_version=payload.get("firmwareVersion"),
        iccid=payload.get("iccid"),
        imsi=payload.get("imsi"),
        meter_type=payload.get("meterType"),
        meter_serial_number=payload.get("meterSerialNumber"),
    )


def status_report(payload: dict[str, Any]) -> StatusReport:
    timestamp = payload.get("timestamp")
    return StatusReport(
        connector_id=_int(payload, "connectorId"),
        status=str(payload.get("status")),
        error_code=str(payload.get("errorCode")),
        timestamp=parse_time(timestamp) if timestamp is not None else None,
        info=payload.get("info"),
        vendor_id=payload.get("vendorId"),
        vendor_error_code=payload.get("vendorErrorCode"),
    )


def meter_values(items: Any) -> tuple[MeterValue, ...]:
    if not isinstance(items, list):
        raise TypeConstraintViolationError("meterValue must be an array")
    return tuple(
        MeterValue(
            parse_time(item.get("timestamp")),
            tuple(
                SampledValue(
                    value=str(sample.get("value")),
                    measurand=sample.get("measurand") or "Energy.Active.Import.Register",
                    unit=sample.get("unit"),
                    phase=sample.get("phase"),
                    context=sample.get("context"),
                    location=sample.get("location"),
                    format=sample.get("format"),
                )
                for sample in item.get("sampledValue") or ()
            ),
        )
        for item in items
    )


def transaction_start(station_id: str, payload: dict[str, Any]) -> TransactionStart:
    return TransactionStart(
        station_id=station_id,
        connector_id=_int(payload, "connectorId"),
        id_tag=str(payload.get("idTag")),
        meter_start=_int(payload, "meterStart"),
        started_at=parse_time(payload.get("timestamp")),
        reservation_id=optional_int(payload, "reservationId"),
    )


def transaction_stop(station_id: str, payload: dict[str, Any]) -> TransactionStop:
    return TransactionStop(
        station_id=station_id,
        transaction_id=_int(payload, "transactionId"),
        meter_stop=_int(payload, "meterStop"),
        stopped_at=parse_time(payload.get("timestamp")),
        reason=payload.get("reason"),
        id_tag=payload.get("idTag"),
        transaction_data=meter_values(payload.get("transactionData") or []),
    )


def id_tag_info(info: IdTagInfo) -> dict[str, Any]:
    result: dict[str, Any] = {"status": info.status.value}
    if info.expiry_date is not None:
        result["expiryDate"] = format_time(info.expiry_date)
    if info.parent_id_tag is not None:
        result["parentIdTag"] = info.parent_id_tag
    return result
