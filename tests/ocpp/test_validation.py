import pytest

from opencsms.ocpp import validation

START = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"connectorId": "1"}, "TypeConstraintViolation"),
        ({"connectorId": None}, "TypeConstraintViolation"),
        ({"idTag": "X" * 21}, "PropertyConstraintViolation"),
        ({"timestamp": "yesterday"}, "PropertyConstraintViolation"),
        ({"surprise": 1}, "FormationViolation"),
    ],
)
def test_request_violations_map_to_ocpp16_codes(change: dict[str, object], code: str) -> None:
    with pytest.raises(validation.OCPPError) as caught:
        validation.validate_request("StartTransaction", {**START, **change})
    assert caught.value.code == code


def test_missing_required_field_is_an_occurence_violation() -> None:
    payload = dict(START)
    del payload["meterStart"]
    with pytest.raises(validation.OCPPError) as caught:
        validation.validate_request("StartTransaction", payload)
    assert caught.value.code == "OccurenceConstraintViolation"


def test_valid_payload_passes_and_known_actions_are_known() -> None:
    validation.validate_request("StartTransaction", START)
    assert validation.known_action("RemoteStartTransaction")
    assert not validation.known_action("MakeCoffee")


def test_unknown_action_names_from_stations_do_not_grow_the_schema_cache() -> None:
    from opencsms.ocpp import validation

    before = validation._compile.cache_info().currsize
    for n in range(500):
        assert not validation.known_action(f"MadeUp{n}")
    assert validation._compile.cache_info().currsize == before
    assert validation.known_action("Heartbeat")
