"""Pre-send validation of every CSMS-initiated OCPP 1.6 message.

A command we send that the station rejects with a CALLERROR wastes a round
trip and, worse, leaves an operator guessing; a command the schema allows but
the specification forbids (a TxProfile on connector 0, a schedule whose first
period does not start at 0) may be accepted by a lenient station and do
something nobody asked for. So every command is checked here, before it is
stored or sent: first the official request schema (the same compiled
validators the session uses, ``opencsms.ocpp.validation``), then the rules of
the 1.6 specification the schema cannot express. Failures become
:class:`~opencsms.domain.commands.InvalidCommand` with a message that names
the offending field.

Pure: no storage, no clock. The rules that need stored state (a TxProfile's
transaction must be active on that connector) live in the CommandService.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opencsms.domain.commands import InvalidCommand
from opencsms.ocpp import validation
from opencsms.ocpp.errors import OCPPError

ACTIONS: frozenset[str] = frozenset(
    {
        # Core
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "DataTransfer",
        "GetConfiguration",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "Reset",
        "UnlockConnector",
        # Firmware Management
        "UpdateFirmware",
        "GetDiagnostics",
        # Local Auth List Management
        "SendLocalList",
        "GetLocalListVersion",
        # Reservation
        "ReserveNow",
        "CancelReservation",
        # Smart Charging
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        # Remote Trigger
        "TriggerMessage",
    }
)
"""Every message a 1.6 central system may send to a charge point."""

TRIGGERABLE: frozenset[str] = frozenset(
    {
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)


def validate_command(action: str, payload: Mapping[str, object]) -> None:
    """Raise :class:`InvalidCommand` unless ``payload`` is a valid ``action`` request."""
    if action not in ACTIONS:
        raise InvalidCommand(
            f"unknown action {action!r}; a central system may send: {', '.join(sorted(ACTIONS))}"
        )
    if not isinstance(payload, Mapping):
        raise InvalidCommand(f"{action}: the payload must be a JSON object")
    try:
        validation.validate_request(action, dict(payload))
    except OCPPError as exc:
        raise InvalidCommand(f"{action}: {_schema_message(exc)}") from None
    rule = _RULES.get(action)
    if rule is not None:
        rule(payload)


def _schema_message(exc: OCPPError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    field = str(details.get("field", "payload"))
    text = str(exc.description or exc.code)
    # fastjsonschema says "data.x must be ..."; the prefix already names the field.
    _, _, message = text.partition(": ")
    message = message or text
    if message.startswith("data"):
        message = "payload" + message[4:]
    return message if message.startswith(field) else f"{field}: {message}"


# -- the 1.6 rules beyond the schema --------------------------------------


def _connector(payload: Mapping[str, Any], minimum: int, field: str = "connectorId") -> None:
    value = payload.get(field)
    if value is not None and value < minimum:
        raise InvalidCommand(f"payload.{field}: must be >= {minimum}, got {value}")


def _one_decimal(value: float) -> bool:
    return abs(value * 10 - round(value * 10)) < 1e-9


def _check_schedule(profile: Mapping[str, Any], where: str) -> None:
    """Periods of a charging schedule: first at 0, strictly increasing, one decimal."""
    schedule = profile["chargingSchedule"]
    periods = schedule["chargingSchedulePeriod"]
    if not periods:
        raise InvalidCommand(f"{where}.chargingSchedule.chargingSchedulePeriod: must not be empty")
    if periods[0]["startPeriod"] != 0:
        raise InvalidCommand(
            f"{where}.chargingSchedule.chargingSchedulePeriod[0].startPeriod: "
            f"the first period must start at 0, got {periods[0]['startPeriod']}"
        )
    for index, period in enumerate(periods):
        at = f"{where}.chargingSchedule.chargingSchedulePeriod[{index}]"
        if index and period["startPeriod"] <= periods[index - 1]["startPeriod"]:
            raise InvalidCommand(f"{at}.startPeriod: periods must be strictly increasing")
        if period["limit"] < 0 or not _one_decimal(period["limit"]):
            raise InvalidCommand(
                f"{at}.limit: a non-negative number with at most one decimal, got {period['limit']}"
            )
        phases = period.get("numberPhases")
        if phases is not None and phases not in (1, 2, 3):
            raise InvalidCommand(f"{at}.numberPhases: 1, 2 or 3, got {phases}")
    minimum = schedule.get("minChargingRate")
    if minimum is not None and (minimum < 0 or not _one_decimal(minimum)):
        raise InvalidCommand(
            f"{where}.chargingSchedule.minChargingRate: "
            f"a non-negative number with at most one decimal, got {minimum}"
        )
    duration = schedule.get("duration")
    if duration is not None and duration <= 0:
        raise InvalidCommand(f"{where}.chargingSchedule.duration: must be > 0, got {duration}")
    kind = profile["chargingProfileKind"]
    if kind == "Recurring" and "recurrencyKind" not in profile:
        raise InvalidCommand(f"{where}.recurrencyKind: required for a Recurring profile")
    if kind != "Recurring" and "recurrencyKind" in profile:
        raise InvalidCommand(f"{where}.recurrencyKind: only for a Recurring profile")
    if kind == "Relative" and "startSchedule" in schedule:
        raise InvalidCommand(
            f"{where}.chargingSchedule.startSchedule: a Relative profile has no start"
        )
    if profile["stackLevel"] < 0:
        raise InvalidCommand(f"{where}.stackLevel: must be >= 0, got {profile['stackLevel']}")


def _set_charging_profile(payload: Mapping[str, Any]) -> None:
    _connector(payload, 0)
    profile = payload["csChargingProfiles"]
    where = "payload.csChargingProfiles"
    purpose = profile["chargingProfilePurpose"]
    connector = payload["connectorId"]
    if purpose == "ChargePointMaxProfile" and connector != 0:
        raise InvalidCommand(
            f"payload.connectorId: a ChargePointMaxProfile is set on connector 0, got {connector}"
        )
    if purpose == "TxProfile":
        if connector <= 0:
            raise InvalidCommand(
                "payload.connectorId: a TxProfile is set on a connector > 0 "
                "(the one of its transaction)"
            )
        if "transactionId" not in profile:
            raise InvalidCommand(f"{where}.transactionId: required for a TxProfile")
    elif "transactionId" in profile:
        raise InvalidCommand(f"{where}.transactionId: only a TxProfile names a transaction")
    _check_schedule(profile, where)


def _remote_start(payload: Mapping[str, Any]) -> None:
    _connector(payload, 1)
    profile = payload.get("chargingProfile")
    if profile is None:
        return
    where = "payload.chargingProfile"
    if profile["chargingProfilePurpose"] != "TxProfile":
        raise InvalidCommand(f"{where}.chargingProfilePurpose: must be TxProfile")
    if "transactionId" in profile:
        raise InvalidCommand(
            f"{where}.transactionId: not allowed, the transaction does not exist yet"
        )
    _check_schedule(profile, where)


def _trigger_message(payload: Mapping[str, Any]) -> None:
    requested = payload["requestedMessage"]
    if requested not in TRIGGERABLE:
        raise InvalidCommand(
            f"payload.requestedMessage: one of {', '.join(sorted(TRIGGERABLE))}, got {requested!r}"
        )
    _connector(payload, 0)


def _send_local_list(payload: Mapping[str, Any]) -> None:
    if payload["listVersion"] < 0:
        raise InvalidCommand(f"payload.listVersion: must be >= 0, got {payload['listVersion']}")
    seen: set[str] = set()
    for index, entry in enumerate(payload.get("localAuthorizationList", ())):
        if entry["idTag"] in seen:
            raise InvalidCommand(
                f"payload.localAuthorizationList[{index}].idTag: {entry['idTag']!r} is listed twice"
            )
        seen.add(entry["idTag"])
        if payload["updateType"] == "Full" and "idTagInfo" not in entry:
            raise InvalidCommand(
                f"payload.localAuthorizationList[{index}].idTagInfo: required in a Full update"
            )


def _get_composite_schedule(payload: Mapping[str, Any]) -> None:
    _connector(payload, 0)
    if payload["duration"] <= 0:
        raise InvalidCommand(f"payload.duration: must be > 0, got {payload['duration']}")


def _get_diagnostics(payload: Mapping[str, Any]) -> None:
    for field in ("retries", "retryInterval"):
        value = payload.get(field)
        if value is not None and value < 0:
            raise InvalidCommand(f"payload.{field}: must be >= 0, got {value}")


_RULES: dict[str, Callable[[Mapping[str, Any]], None]] = {
    "SetChargingProfile": _set_charging_profile,
    "RemoteStartTransaction": _remote_start,
    "TriggerMessage": _trigger_message,
    "SendLocalList": _send_local_list,
    "GetCompositeSchedule": _get_composite_schedule,
    "GetDiagnostics": _get_diagnostics,
    "UpdateFirmware": _get_diagnostics,  # the same retries / retryInterval
    "ChangeAvailability": lambda payload: _connector(payload, 0),
    "UnlockConnector": lambda payload: _connector(payload, 1),
    "ReserveNow": lambda payload: _connector(payload, 0),
    "ClearChargingProfile": lambda payload: _connector(payload, 0),
}
