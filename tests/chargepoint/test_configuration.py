from __future__ import annotations

from opencsms.chargepoint.configuration import ConfigurationStore


def test_change_rules() -> None:
    store = ConfigurationStore()
    assert store.change("HeartbeatInterval", "60") == "Accepted"
    assert store.get_int("HeartbeatInterval") == 60
    assert store.change("HeartbeatInterval", "sixty") == "Rejected"
    assert store.change("HeartbeatInterval", "-5") == "Rejected"
    assert store.change("NumberOfConnectors", "4") == "Rejected"  # read-only
    assert store.change("ChargeProfileMaxStackLevel", "99") == "Rejected"
    assert store.change("NoSuchKey", "1") == "NotSupported"
    assert store.change("LocalPreAuthorize", "TRUE") == "Accepted"
    assert store.get_bool("LocalPreAuthorize")
    assert store.change("LocalPreAuthorize", "yes") == "Rejected"
    assert store.change("WebSocketPingInterval", "30") == "RebootRequired"


def test_measurand_lists() -> None:
    store = ConfigurationStore()
    assert store.change("MeterValuesSampledData", "Energy.Active.Import.Register,SoC") == "Accepted"
    assert store.get_list("MeterValuesSampledData") == ["Energy.Active.Import.Register", "SoC"]
    assert store.change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == (
        "Rejected"
    )
    store.set_internal("MeterValuesSampledDataMaxLength", "1")
    assert store.change("MeterValuesSampledData", "SoC,Voltage") == "Rejected"


def test_authorization_key_is_write_only() -> None:
    store = ConfigurationStore({"AuthorizationKey": "00112233445566778899"})
    assert store.change("AuthorizationKey", "short") == "Rejected"
    assert store.change("AuthorizationKey", "aabbccddeeff00112233") == "Accepted"
    everything, unknown = store.get_configuration(None)
    assert "AuthorizationKey" not in {k["key"] for k in everything}
    known, unknown = store.get_configuration(["AuthorizationKey", "HeartbeatInterval", "Nope"])
    assert [k["key"] for k in known] == ["HeartbeatInterval"]
    assert unknown == ["AuthorizationKey", "Nope"]
    assert store.get("AuthorizationKey") == "aabbccddeeff00112233"


def test_smart_charging_keys_present_and_read_only() -> None:
    known, _ = ConfigurationStore().get_configuration(
        [
            "SupportedFeatureProfiles",
            "ChargeProfileMaxStackLevel",
            "ChargingScheduleAllowedChargingRateUnit",
            "ChargingScheduleMaxPeriods",
            "MaxChargingProfilesInstalled",
            "MeterValuesSampledData",
            "MeterValueSampleInterval",
        ]
    )
    flags = {k["key"]: k["readonly"] for k in known}
    assert len(flags) == 7
    assert flags["SupportedFeatureProfiles"] and flags["ChargeProfileMaxStackLevel"]
    assert not flags["MeterValueSampleInterval"]


def test_security_profile_only_goes_up() -> None:
    store = ConfigurationStore()
    assert store.change("SecurityProfile", "3") == "Accepted"
    assert store.change("SecurityProfile", "1") == "Rejected"


def test_listeners_told_of_changes() -> None:
    store = ConfigurationStore()
    seen: list[tuple[str, str]] = []
    store.on_change(lambda k, v: seen.append((k, v)))
    store.change("HeartbeatInterval", "30")
    store.change("NumberOfConnectors", "3")
    assert seen == [("HeartbeatInterval", "30")]
