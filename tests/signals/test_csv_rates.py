"""Plain CSV → rates: the documented format, and its refusals with line numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencsms.signals import SignalFormatError, parse_csv_rates, sample


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_golden_sample() -> None:
    rates = parse_csv_rates(sample("rates.csv"))
    assert [(r.start, r.end, r.value, r.unit) for r in rates] == [
        (t("2024-01-15T00:00"), t("2024-01-15T00:30"), 14.91, "p/kWh"),
        (t("2024-01-15T00:30"), t("2024-01-15T01:00"), 13.02, "p/kWh"),
        (t("2024-01-15T01:00"), t("2024-01-15T01:30"), -2.21, "p/kWh"),
        (t("2024-01-15T02:00"), t("2024-01-15T04:00"), 9.5, "p/kWh"),  # after a gap
    ]


def test_unit_as_parameter_and_per_mwh_converted() -> None:
    text = "start,end,value\n2024-01-15T00:00+01:00,2024-01-15T01:00+01:00,85.5\n"
    [rate] = parse_csv_rates(text, unit="EUR/MWh")
    assert (rate.start, rate.value, rate.unit) == (t("2024-01-14T23:00"), 0.0855, "EUR/kWh")


def test_bom_and_blank_lines() -> None:
    text = "\ufeffstart,end,value,unit\n\n2024-01-15T00:00Z,2024-01-15T00:30Z,100,gCO2/kWh\n\n"
    assert len(parse_csv_rates(text.encode())) == 1


HEADER = "start,end,value,unit\n"
ROW = "2024-01-15T00:00Z,2024-01-15T00:30Z,1.0,p/kWh\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("from,to,price\n" + ROW, "line 1: header"),
        ("start,end,value\n2024-01-15T00:00Z,2024-01-15T00:30Z,1\n", "pass unit="),
        (HEADER + "2024-01-15T00:00Z,2024-01-15T00:30Z,1.0\n", "line 2: expected 4 cells"),
        (HEADER + ROW + "2024-01-15T00:30Z,2024-01-15T01:00Z,cheap,p/kWh\n", "line 3 value"),
        (HEADER + "2024-01-15T00:00,2024-01-15T00:30Z,1.0,p/kWh\n", "line 2 start"),
        (HEADER + "2024-01-15T00:00Z,2024-01-15T00:30Z,1.0,USD/kWh\n", "unknown unit"),
        (HEADER + "2024-01-15T00:30Z,2024-01-15T00:00Z,1.0,p/kWh\n", "line 2 end"),
        (HEADER + ROW + "2024-01-15T00:15Z,2024-01-15T00:45Z,1.0,p/kWh\n", "line 3 start"),
        (HEADER + ROW + "2024-01-15T00:30Z,2024-01-15T01:00Z,1.0,EUR/kWh\n", "mixed units"),
        (HEADER + "2024-01-15T00:00Z,2024-01-15T00:30Z,nan,p/kWh\n", "not a finite number"),
        (b"start,end,value,unit\n\xff\n", "not UTF-8"),
    ],
)
def test_bad_files_raise_with_line(text: str | bytes, message: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_csv_rates(text)
    assert message in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),  # gap before, in half-hours
            st.integers(1, 6),  # length, in half-hours
            st.decimals(-50, 500, places=2, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_round_trip(rows: list[tuple[int, int, object]]) -> None:
    """Any sorted, non-overlapping series written in the format reads back exactly."""
    moment = t("2024-03-30T22:00")
    lines = [HEADER.strip()]
    expected = []
    for gap, length, value in rows:
        start = moment + timedelta(minutes=30 * gap)
        moment = start + timedelta(minutes=30 * length)
        lines.append(f"{start.isoformat()},{moment.isoformat()},{value},p/kWh")
        expected.append((start, moment, float(str(value))))
    rates = parse_csv_rates("\n".join(lines))
    assert [(r.start, r.end, r.value) for r in rates] == expected
