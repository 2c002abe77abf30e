"""Pre-send validation of every CSMS-initiated 1.6 message (pure, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from opencsms.domain.commands import InvalidCommand
from opencsms.v16.commands import ACTIONS, validate_command

NOW = "2026-03-01T12:00:00Z"


def profile(purpose: str = "TxDefaultProfile", **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 600, "limit": 7.3},
            ],
        },
    }
    value.update(changes)
    return value


VALID: dict[str, dict[str, Any]] = {
    "ChangeAvailability": {"connectorId": 0, "type": "Inoperative"},
    "ChangeConfiguration": {"key": "MeterValueSampleInterval", "value": "60"},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "ACME", "messageId": "x", "data": "y"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "RemoteStartTransaction": {
        "idTag": "TAG",
        "connectorId": 1,
        "chargingProfile": profile("TxProfile"),
    },
    "RemoteStopTransaction": {"transactionId": 7},
    "Reset": {"type": "Soft"},
    "UnlockConnector": {"connectorId": 1},
    "UpdateFirmware": {"location": "https://x/fw.bin", "retrieveDate": NOW, "retries": 2},
    "GetDiagnostics": {"location": "https://x/up", "retries": 1, "retryInterval": 30},
    "SendLocalList": {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}],
    },
    "GetLocalListVersion": {},
    "ReserveNow": {"connectorId": 0, "expiryDate": NOW, "idTag": "TAG", "reservationId": 1},
    "CancelReservation": {"reservationId": 1},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": profile()},
    "ClearChargingProfile": {"id": 1},
    "GetCompositeSchedule": {"connectorId": 0, "duration": 3600, "chargingRateUnit": "W"},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
}


def test_the_complete_list_of_actions() -> None:
    assert set(VALID) == ACTIONS and len(ACTIONS) == 19


@pytest.mark.parametrize("action", sorted(VALID))
def test_a_valid_payload_of_every_action_passes(action: str) -> None:
    validate_command(action, copy.deepcopy(VALID[action]))


@pytest.mark.parametrize("action", ["BootNotification", "Heartbeat", "reset", "Nope", ""])
def test_unknown_or_uplink_actions_are_rejected(action: str) -> None:
    with pytest.raises(InvalidCommand, match="unknown action"):
        validate_command(action, {})


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("Reset", {}, "type"),
        ("Reset", {"type": "Warm"}, "payload.type"),
        ("Reset", {"type": "Soft", "extra": 1}, "payload"),
        ("ChangeAvailability", {"connectorId": "1", "type": "Operative"}, "payload.connectorId"),
        ("ChangeConfiguration", {"key": "K" * 51, "value": "v"}, "payload.key"),
        ("RemoteStartTransaction", {"idTag": "T" * 21}, "payload.idTag"),
        (
            "ReserveNow",
            {"connectorId": 1, "expiryDate": "tomorrow", "idTag": "T", "reservationId": 1},
            "payload.expiryDate",
        ),
        ("TriggerMessage", {"requestedMessage": "StartTransaction"}, "payload.requestedMessage"),
    ],
)
def test_schema_violations_name_the_field(action: str, payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        validate_command(action, payload)
    message = str(caught.value)
    assert message.startswith(f"{action}: ")
    assert field in message


def test_a_non_object_payload_is_rejected() -> None:
    with pytest.raises(InvalidCommand, match="JSON object"):
        validate_command("Reset", ["Soft"])  # type: ignore[arg-type]


def scp(connector: int, **changes: Any) -> dict[str, Any]:
    purpose = changes.pop("purpose", "TxDefaultProfile")
    return {"connectorId": connector, "csChargingProfiles": profile(purpose, **changes)}


def periods(*items: tuple[int, float]) -> dict[str, Any]:
    return {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in items],
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (scp(1, purpose="ChargePointMaxProfile"), "ChargePointMaxProfile is set on connector 0"),
        (scp(0, purpose="TxProfile", transactionId=5), "TxProfile is set on a connector > 0"),
        (scp(1, purpose="TxProfile"), "transactionId: required for a TxProfile"),
        (scp(1, transactionId=5), "only a TxProfile names a transaction"),
        (scp(-1), "connectorId: must be >= 0"),
        (scp(1, chargingSchedule=periods((60, 10.0))), "must start at 0"),
        (
            scp(1, chargingSchedule=periods((0, 10.0), (300, 8.0), (300, 6.0))),
            "chargingSchedulePeriod[2].startPeriod: periods must be strictly increasing",
        ),
        (
            scp(1, chargingSchedule=periods((0, 10.0), (300, 8.0), (200, 6.0))),
            "strictly increasing",
        ),
        (scp(1, chargingSchedule=periods((0, 11.15))), "chargingSchedulePeriod[0].limit"),
        (
            scp(1, chargingSchedule=periods((0, 10.0), (60, -1.0))),
            "chargingSchedulePeriod[1].limit",
        ),
        (
            scp(1, chargingSchedule={"chargingRateUnit": "A", "chargingSchedulePeriod": []}),
            "must not be empty",
        ),
        (
            scp(1, chargingSchedule={**periods((0, 6.0)), "minChargingRate": 6.05}),
            "minChargingRate",
        ),
        (scp(1, chargingProfileKind="Recurring"), "recurrencyKind: required"),
        (scp(1, recurrencyKind="Daily"), "recurrencyKind: only for a Recurring profile"),
        (
            scp(
                1,
                chargingProfileKind="Relative",
                chargingSchedule={**periods((0, 6.0)), "startSchedule": NOW},
            ),
            "a Relative profile has no start",
        ),
        (scp(1, stackLevel=-1), "stackLevel"),
    ],
)
def test_set_charging_profile_rules(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        validate_command("SetChargingProfile", payload)
    assert message in str(caught.value)


def test_set_charging_profile_accepts_what_the_rules_allow() -> None:
    validate_command("SetChargingProfile", scp(0, purpose="ChargePointMaxProfile"))
    validate_command("SetChargingProfile", scp(0))  # TxDefaultProfile on 0: every connector
    validate_command("SetChargingProfile", scp(2, purpose="TxProfile", transactionId=9))
    validate_command(
        "SetChargingProfile", scp(1, chargingProfileKind="Recurring", recurrencyKind="Weekly")
    )
    validate_command(
        "SetChargingProfile", scp(1, chargingSchedule=periods((0, 11000.0), (900, 7.3)))
    )
    validate_command("SetChargingProfile", scp(1, chargingSchedule=periods((0, 32))))


@pytest.mark.parametrize(
    ("charging_profile", "message"),
    [
        (profile("TxDefaultProfile"), "chargingProfilePurpose: must be TxProfile"),
        (profile("TxProfile", transactionId=3), "transactionId: not allowed"),
        (profile("TxProfile", chargingSchedule=periods((5, 6.0))), "must start at 0"),
    ],
)
def test_remote_start_profile_rules(charging_profile: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        validate_command(
            "RemoteStartTransaction",
            {"idTag": "T", "connectorId": 1, "chargingProfile": charging_profile},
        )
    assert message in str(caught.value)


def test_remote_start_connector_must_be_positive() -> None:
    with pytest.raises(InvalidCommand, match="connectorId: must be >= 1"):
        validate_command("RemoteStartTransaction", {"idTag": "T", "connectorId": 0})
    validate_command("RemoteStartTransaction", {"idTag": "T"})


@pytest.mark.parametrize(
    "message",
    [
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    ],
)
def test_trigger_message_allows_the_six(message: str) -> None:
    validate_command("TriggerMessage", {"requestedMessage": message})


@pytest.mark.parametrize("message", ["Authorize", "StartTransaction", "DataTransfer"])
def test_trigger_message_refuses_others(message: str) -> None:
    with pytest.raises(InvalidCommand, match="requestedMessage"):
        validate_command("TriggerMessage", {"requestedMessage": message})


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("UnlockConnector", {"connectorId": 0}, "connectorId: must be >= 1"),
        ("ChangeAvailability", {"connectorId": -1, "type": "Operative"}, "connectorId"),
        ("GetCompositeSchedule", {"connectorId": 0, "duration": 0}, "duration: must be > 0"),
        ("GetDiagnostics", {"location": "https://x", "retries": -1}, "retries"),
        (
            "UpdateFirmware",
            {"location": "https://x", "retrieveDate": NOW, "retryInterval": -5},
            "retryInterval",
        ),
        (
            "SendLocalList",
            {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [{"idTag": "A"}]},
            "idTagInfo: required in a Full update",
        ),
        (
            "SendLocalList",
            {
                "listVersion": 1,
                "updateType": "Differential",
                "localAuthorizationList": [{"idTag": "A"}, {"idTag": "A"}],
            },
            "listed twice",
        ),
        ("SendLocalList", {"listVersion": -1, "updateType": "Full"}, "listVersion"),
    ],
)
def test_other_rules(action: str, payload: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        validate_command(action, payload)
    assert message in str(caught.value)


def test_a_differential_update_may_delete_entries() -> None:
    validate_command(
        "SendLocalList",
        {
            "listVersion": 4,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "A"}],
        },
    )
