"""Scenario files: the examples load, and broken files say where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencsms.simulator.scenario import DEFAULT, ScenarioError, StationModel, load, parse

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize("name", ["public-day.yaml", "faults-and-quirks.yaml"])
def test_examples_load(name: str) -> None:
    scenario = load(EXAMPLES / name)
    assert scenario.models and scenario.duration


def test_fields_are_read_with_their_types() -> None:
    scenario = parse(
        """
        duration: 600
        models:
          - {vendor: Acme, count: 2, connectors: 2, phases: 1, quirks: {rejected_units: W},
             config: {HeartbeatInterval: 60, LocalPreAuthorize: true}}
        ev: {soc: [20, 40], max_power_kw: 7.4}
        faults: [{at: 10, station: CP1, kind: drop, close_frame: false, offline_for: 30}]
        """
    )
    [model] = scenario.models
    assert (model.vendor, model.count, model.connectors, model.phases) == ("Acme", 2, 2, 1)
    assert model.quirks.rejected_units == {"W"}
    assert model.config == {"HeartbeatInterval": "60", "LocalPreAuthorize": "true"}
    assert scenario.ev.soc == (20.0, 40.0) and scenario.ev.max_power_kw == (7.4,)
    [fault] = scenario.faults
    assert (fault.station, fault.close_frame, fault.offline_for) == ("CP1", False, 30)


def test_json_is_accepted() -> None:
    assert parse('{"duration": 60, "tags": 3}').tags == 3


def test_an_empty_file_is_the_default() -> None:
    assert parse("") == DEFAULT


def test_every_problem_is_reported_with_line_and_field() -> None:
    text = """duration: -5
models:
  - vendor: Acme
    phases: 2
    colour: red
faults:
  - {at: 10, station: 0, kind: explode}
  - {at: 10, kind: faulted}
  - {at: 5, station: 1, kind: faulted, error_code: Oops}
sessions:
  - {station: 1, arrive: 100, leave: 50}
measurands: [Energy.Active.Import.Register, Frequency]
"""
    with pytest.raises(ScenarioError) as caught:
        parse(text, "fleet.yaml")
    problems = caught.value.problems
    assert "fleet.yaml:1: duration: must be a number > 0, got -5" in problems
    assert "fleet.yaml:4: models[0].phases: must be 1 or 3, got 2" in problems
    assert any(p.startswith("fleet.yaml:5: models[0].colour: unknown field") for p in problems)
    assert any(
        p.startswith("fleet.yaml:7: faults[0].station: must be a station id") for p in problems
    )
    assert "fleet.yaml:7: faults[0].kind: must be faulted or drop, got 'explode'" in problems
    assert "fleet.yaml:8: faults[1]: missing station" in problems
    assert any(
        p.startswith("fleet.yaml:9: faults[2].error_code: must be an OCPP 1.6") for p in problems
    )
    assert "fleet.yaml:11: sessions[0].leave: must be after arrive" in problems
    assert any(
        p.startswith("fleet.yaml:12: measurands[1]: unsupported 'Frequency'") for p in problems
    )
    assert len(problems) == 9


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(ScenarioError, match=r"^f.yaml:2: not valid YAML/JSON"):
        parse("duration: 60\n\tmodels: []\n", "f.yaml")


def test_a_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load(tmp_path / "nope.yaml")


def test_counts_are_weights_when_the_fleet_size_is_given() -> None:
    a, b = StationModel(name="a", count=3), StationModel(name="b", count=1)
    scenario = parse("").__class__(models=(a, b))
    assert [m.name for m in scenario.fleet_models(None)] == ["a", "a", "a", "b"]
    sized = scenario.fleet_models(10)
    assert len(sized) == 10 and sum(m.name == "a" for m in sized) in (7, 8)
    assert len(scenario.fleet_models(1)) == 1
