"""The pure rules of provisioning: value comparison, the power fallback,
capabilities from a GetConfiguration snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opencsms.domain.model import ConfigurationEntry
from opencsms.domain.provisioning import (
    capabilities_of,
    entries_from_reply,
    power_fallback,
    same_value,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("desired", "actual", "same"),
    [
        ("60", "60", True),
        ("60", " 60 ", True),
        ("60", "600", False),
        ("60", None, False),
        ("true", "True", True),
        ("false", "TRUE", False),
        ("A,B", "B, A", True),
        ("A,B", "A", False),
        ("A,B,C", "A,B", False),
        ("Energy.Active.Import.Register", "Energy.Active.Import.Register", True),
    ],
)
def test_same_value(desired: str, actual: str | None, same: bool) -> None:
    assert same_value(desired, actual) is same


def test_power_fallback() -> None:
    assert (
        power_fallback("Energy.Active.Import.Register,Power.Active.Import")
        == "Energy.Active.Import.Register,Current.Import,Voltage"
    )
    assert power_fallback("Power.Active.Import,Voltage") == "Current.Import,Voltage"
    assert power_fallback("Energy.Active.Import.Register") is None


def entries(values: dict[str, str | None]) -> list[ConfigurationEntry]:
    return [ConfigurationEntry("CP", k, v, False, T0) for k, v in values.items()]


def test_capabilities_from_a_snapshot() -> None:
    caps = capabilities_of(
        entries(
            {
                "SupportedFeatureProfiles": "Core,SmartCharging, Reservation",
                "ChargeProfileMaxStackLevel": "3",
                "ChargingScheduleAllowedChargingRateUnit": "W",
                "ChargingScheduleMaxPeriods": "12",
                "MaxChargingProfilesInstalled": "x",  # garbage: unknown
                "MeterValuesSampledDataMaxLength": "4",
                "MeterValuesSampledData": "Energy.Active.Import.Register,Voltage",
                "NumberOfConnectors": "2",
                "LocalAuthListEnabled": "FALSE",
                "LocalAuthListMaxLength": "500",
                "ReserveConnectorZeroSupported": None,
            }
        )
    )
    assert caps.feature_profiles == ("Core", "SmartCharging", "Reservation")
    assert caps.charge_profile_max_stack_level == 3
    assert caps.charging_rate_units == ("Power",)  # "W" spelling read as Power
    assert caps.charging_schedule_max_periods == 12
    assert caps.max_charging_profiles_installed is None
    assert caps.meter_values_sampled_data_max_length == 4
    assert caps.sampled_measurands == ("Energy.Active.Import.Register", "Voltage")
    assert caps.number_of_connectors == 2
    assert caps.local_auth_list_enabled is False
    assert caps.local_auth_list_max_length == 500
    assert caps.reserve_connector_zero_supported is None
    assert capabilities_of(
        entries({"ChargingScheduleAllowedChargingRateUnit": "A,W,Power"})
    ).charging_rate_units == ("Current", "Power")
    assert capabilities_of([]).feature_profiles == ()


def test_entries_from_a_get_configuration_reply() -> None:
    reply = {
        "configurationKey": [
            {"key": "A", "readonly": True, "value": "1"},
            {"key": "B", "readonly": False},
            {"key": "A", "readonly": True, "value": "2"},
        ],
        "unknownKey": ["Z"],
    }
    got = entries_from_reply("CP", reply, T0)
    assert [(e.key, e.value, e.readonly) for e in got] == [("A", "2", True), ("B", None, False)]
    assert entries_from_reply("CP", {}, T0) == []
