"""UK Carbon Intensity API → gCO2/kWh rates: the sample files and the API's other shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opencsms.signals import SignalFormatError, parse_carbon_intensity, sample


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_golden_national_actual_where_known_else_forecast() -> None:
    rates = parse_carbon_intensity(sample("carbon_intensity_national.json"))
    assert len(rates) == 6
    assert {r.unit for r in rates} == {"gCO2/kWh"}
    assert [r.value for r in rates] == [263, 274, 277, 281, 285, 290]
    assert (rates[0].start, rates[0].end) == (t("2018-01-20T12:00"), t("2018-01-20T12:30"))
    assert (rates[-1].start, rates[-1].end) == (t("2018-01-20T14:30"), t("2018-01-20T15:00"))


def test_prefer_forecast() -> None:
    rates = parse_carbon_intensity(sample("carbon_intensity_national.json"), prefer_forecast=True)
    assert [r.value for r in rates][:2] == [266, 271]


def test_golden_regional_nested_object() -> None:
    rates = parse_carbon_intensity(sample("carbon_intensity_regional.json"), region_id=13)
    assert [r.value for r in rates] == [112, 108, 104, 99]
    assert rates[0].start == t("2024-01-15T00:00")
    assert rates[-1].end == t("2024-01-15T02:00")


def test_regional_list_form_and_region_choice() -> None:
    region = json.loads(sample("carbon_intensity_regional.json"))["data"]
    other = {**region, "regionid": 1, "data": region["data"][:1]}
    text = json.dumps({"data": [other, region]})
    with pytest.raises(SignalFormatError, match="several regions"):
        parse_carbon_intensity(text)
    assert [r.value for r in parse_carbon_intensity(text, region_id=1)] == [112]
    with pytest.raises(SignalFormatError, match="region 7 not in the file"):
        parse_carbon_intensity(text, region_id=7)
    assert len(parse_carbon_intensity(json.dumps({"data": [region]}))) == 4


def test_all_regions_snapshot() -> None:
    def entry(start: str, end: str, london: int) -> dict[str, object]:
        return {
            "from": start,
            "to": end,
            "regions": [
                {"regionid": 1, "shortname": "North Scotland", "intensity": {"forecast": 12}},
                {"regionid": 13, "shortname": "London", "intensity": {"forecast": london}},
            ],
        }

    text = json.dumps(
        {
            "data": [
                entry("2024-01-15T00:00Z", "2024-01-15T00:30Z", 112),
                entry("2024-01-15T00:30Z", "2024-01-15T01:00Z", 108),
            ]
        }
    )
    assert [r.value for r in parse_carbon_intensity(text, region_id=13)] == [112, 108]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([{"from": "2018-01-20T12:00Z", "to": "2018-01-20T12:30Z"}], "data[0].intensity"),
        (
            [
                {
                    "from": "2018-01-20T12:00Z",
                    "to": "2018-01-20T12:30Z",
                    "intensity": {"actual": None},
                }
            ],
            "data[0].intensity.forecast",
        ),
        (
            [
                {
                    "from": "2018-01-20T12:00Z",
                    "to": "2018-01-20T12:30Z",
                    "intensity": {"forecast": "high"},
                }
            ],
            "data[0].intensity.forecast",
        ),
        (
            [
                {
                    "from": "2018-01-20T12:30Z",
                    "to": "2018-01-20T13:00Z",
                    "intensity": {"forecast": 1},
                },
                {
                    "from": "2018-01-20T12:00Z",
                    "to": "2018-01-20T12:30Z",
                    "intensity": {"forecast": 1},
                },
            ],
            "data[1].from",
        ),
        (
            [{"from": "20/01/2018 12:00", "to": "2018-01-20T12:30Z", "intensity": {"forecast": 1}}],
            "data[0].from",
        ),
    ],
)
def test_bad_answers_raise_and_say_where(data: object, where: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_carbon_intensity(json.dumps({"data": data}))
    assert where in str(caught.value)


def test_broken_json() -> None:
    with pytest.raises(SignalFormatError, match="broken JSON"):
        parse_carbon_intensity(b'{"data": [}')
