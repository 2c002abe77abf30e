"""Configuration quirks: keys that need a reboot, measurands the meter cannot sample."""

from __future__ import annotations

from ocpp.v16.enums import ConfigurationStatus

from opencsms.simulator import SimulatedStation
from opencsms.simulator.quirks import Quirks
from opencsms.simulator.scenario import parse


def test_reboot_required_keys_answer_reboot_required() -> None:
    station = SimulatedStation(
        "CP-Q", quirks=Quirks(reboot_required_keys=frozenset({"MeterValueSampleInterval"}))
    )
    config = station.cp.config
    assert config.change("MeterValueSampleInterval", "30") is ConfigurationStatus.reboot_required
    assert config.get("MeterValueSampleInterval") == "30"  # stored now, applied at boot
    assert config.change("HeartbeatInterval", "30") is ConfigurationStatus.accepted


def test_unsupported_measurands_are_rejected_in_every_measurand_list() -> None:
    quirks = Quirks(unsupported_measurands=frozenset({"Power.Active.Import"}))
    config = SimulatedStation("CP-Q", quirks=quirks).cp.config
    power = "Energy.Active.Import.Register,Power.Active.Import"
    assert config.change("MeterValuesSampledData", power) is ConfigurationStatus.rejected
    assert config.change("MeterValuesAlignedData", power) is ConfigurationStatus.rejected
    fallback = "Energy.Active.Import.Register,Current.Import,Voltage"
    assert config.change("MeterValuesSampledData", fallback) is ConfigurationStatus.accepted
    plain = SimulatedStation("CP-P").cp.config
    assert plain.change("MeterValuesSampledData", power) is ConfigurationStatus.accepted


def test_scenario_reads_configuration_quirks() -> None:
    scenario = parse(
        """
        models:
          - quirks: {reboot_required_keys: [MeterValueSampleInterval],
                     unsupported_measurands: Power.Active.Import}
        """
    )
    [model] = scenario.models
    assert model.quirks.reboot_required_keys == {"MeterValueSampleInterval"}
    assert model.quirks.unsupported_measurands == {"Power.Active.Import"}


def test_scenario_reads_the_accepted_but_not_applied_quirk() -> None:
    scenario = parse(
        """
        models:
          - quirks: {ignore_profiles_above_stack_level_0: true}
        """
    )
    assert scenario.models[0].quirks.ignore_profiles_above_stack_level_0
    assert len(scenario.models[0].quirks.profile_ignores()) == 1
