"""ENTSO-E A44 XML → EUR/kWh rates: the DST sample, A03 gaps, resolutions, refusals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from opencsms.signals import SignalFormatError, parse_entsoe, sample


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def document(*series: str, doc_type: str = "A44") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:'
        'publicationdocument:7:0">'
        f"<type>{doc_type}</type>{''.join(series)}</Publication_MarketDocument>"
    )


def series(
    start: str,
    end: str,
    resolution: str,
    prices: dict[int, float] | dict[int, str],
    curve: str = "A03",
    unit: str = "MWH",
) -> str:
    points = "".join(
        f"<Point><position>{p}</position><price.amount>{v}</price.amount></Point>"
        for p, v in prices.items()
    )
    return (
        "<TimeSeries><currency_Unit.name>EUR</currency_Unit.name>"
        f"<price_Measure_Unit.name>{unit}</price_Measure_Unit.name><curveType>{curve}</curveType>"
        f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
        f"<resolution>{resolution}</resolution>{points}</Period></TimeSeries>"
    )


def test_golden_spring_forward_day_23_hours_with_a03_gaps() -> None:
    rates = parse_entsoe(sample("entsoe_de_lu_2024-03-31.xml"))
    assert len(rates) == 23  # 2024-03-31 in Berlin is 23 hours long
    assert {r.unit for r in rates} == {"EUR/kWh"}
    assert (rates[0].start, rates[0].end, rates[0].value) == (
        t("2024-03-30T23:00"),
        t("2024-03-31T00:00"),
        0.06704,
    )
    assert (rates[-1].start, rates[-1].end, rates[-1].value) == (
        t("2024-03-31T21:00"),
        t("2024-03-31T22:00"),
        0.07603,
    )
    # position 4 (02:00Z) is missing: it repeats position 3's 60.00 EUR/MWh
    assert rates[3].start == t("2024-03-31T02:00")
    assert rates[3].value == rates[2].value == 0.06
    # position 15 (13:00Z) is missing: it repeats position 14's -9.95 EUR/MWh
    assert (rates[14].start, rates[14].value) == (t("2024-03-31T13:00"), -0.00995)
    assert rates[13].value == -0.00995
    assert min(r.value for r in rates) == -0.00995
    assert all(a.end == b.start for a, b in itertools.pairwise(rates))


def test_fall_back_day_has_25_hours() -> None:
    prices = {p: float(p) for p in range(1, 26)}
    rates = parse_entsoe(
        document(series("2024-10-26T22:00Z", "2024-10-27T23:00Z", "PT60M", prices))
    )
    assert len(rates) == 25
    assert rates[-1].end == t("2024-10-27T23:00")
    assert rates[24].value == 0.025


@pytest.mark.parametrize(("resolution", "slots"), [("PT15M", 96), ("PT30M", 48), ("PT60M", 24)])
def test_resolutions(resolution: str, slots: int) -> None:
    rates = parse_entsoe(
        document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", resolution, {1: 80.0}))
    )
    assert len(rates) == slots
    assert all(r.value == 0.08 for r in rates)
    assert rates[1].start - rates[0].start == timedelta(days=1) / slots


def test_finest_resolution_wins_unless_named() -> None:
    text = document(
        series("2025-10-01T22:00Z", "2025-10-02T22:00Z", "PT60M", {1: 100.0}),
        series("2025-10-01T22:00Z", "2025-10-02T22:00Z", "PT15M", {1: 90.0}),
    )
    assert len(parse_entsoe(text)) == 96
    hourly = parse_entsoe(text, resolution="PT60M")
    assert (len(hourly), hourly[0].value) == (24, 0.1)


def test_several_days_join() -> None:
    text = document(
        series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 50.0}),
        series("2024-01-15T23:00Z", "2024-01-16T23:00Z", "PT60M", {1: 60.0}),
    )
    rates = parse_entsoe(text)
    assert len(rates) == 48
    assert (rates[23].value, rates[24].value) == (0.05, 0.06)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Publication_MarketDocument><type>A44</type>", "broken XML"),
        (
            document(
                series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 1.0}), doc_type="A65"
            ),
            "not A44",
        ),
        (
            document(
                series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 1.0}, unit="GJ")
            ),
            "unknown unit",
        ),
        (
            document(
                series(
                    "2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 1.0, 3: 2.0}, curve="A01"
                )
            ),
            "position 2 missing",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {2: 1.0})),
            "no point at position 1",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 1.0, 25: 2.0})),
            "beyond the 24 slots",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {3: 1.0, 1: 2.0})),
            "do not increase",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: "abc"})),
            "Point[1]/price.amount",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:10Z", "PT60M", {1: 1.0})),
            "does not divide",
        ),
        (
            document(series("2024-01-14T23:00", "2024-01-15T23:00Z", "PT60M", {1: 1.0})),
            "without a time zone",
        ),
        (
            document(series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "P1M", {1: 1.0})),
            "ISO 8601 duration",
        ),
        (document(), "no TimeSeries"),
        (
            document(
                series("2024-01-14T23:00Z", "2024-01-15T23:00Z", "PT60M", {1: 1.0}),
                series("2024-01-15T22:00Z", "2024-01-16T22:00Z", "PT60M", {1: 2.0}),
            ),
            "overlap",
        ),
    ],
)
def test_bad_documents_raise(text: str, message: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_entsoe(text)
    assert message in str(caught.value)


def test_acknowledgement_document_says_why() -> None:
    text = (
        '<Acknowledgement_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-1:'
        'acknowledgementdocument:7:0">'
        "<Reason><code>999</code><text>No matching data found for Data item Day-ahead Prices</text>"
        "</Reason></Acknowledgement_MarketDocument>"
    )
    with pytest.raises(SignalFormatError, match="No matching data found"):
        parse_entsoe(text)


def test_entity_expansion_is_refused() -> None:
    text = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<Publication_MarketDocument><type>&b;</type></Publication_MarketDocument>"
    )
    with pytest.raises(SignalFormatError, match="refused XML"):
        parse_entsoe(text)
