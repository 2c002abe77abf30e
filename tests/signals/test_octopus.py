"""Octopus Agile pages → p/kWh rates: golden figures read off the sample files by hand."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from opencsms.signals import SignalFormatError, parse_agile, sample


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PAGES = [sample("octopus_agile_page1.json"), sample("octopus_agile_page2.json")]


def page(*results: dict[str, object]) -> str:
    return json.dumps({"count": len(results), "next": None, "previous": None, "results": results})


def result(
    start: str, end: str | None, value: float, method: str | None = None
) -> dict[str, object]:
    return {
        "valid_from": start,
        "valid_to": end,
        "value_exc_vat": value / 1.05,
        "value_inc_vat": value,
        "payment_method": method,
    }


def test_golden_two_pages_newest_first() -> None:
    rates = parse_agile(PAGES)
    assert len(rates) == 12
    assert {r.unit for r in rates} == {"p/kWh"}
    assert (rates[0].start, rates[0].end, rates[0].value) == (
        t("2024-01-14T21:00"),
        t("2024-01-14T21:30"),
        22.05,
    )
    assert (rates[-1].start, rates[-1].end, rates[-1].value) == (
        t("2024-01-15T02:30"),
        t("2024-01-15T03:00"),
        10.92,
    )
    negative = [r for r in rates if r.value < 0]
    assert [(n.start, n.value) for n in negative] == [(t("2024-01-15T02:00"), -2.10)]
    # gapless half-hours, sorted
    assert all(a.end == b.start for a, b in itertools.pairwise(rates))


def test_pages_in_any_order_and_as_one_list_file() -> None:
    assert parse_agile(PAGES[::-1]) == parse_agile(PAGES)
    combined = json.dumps([json.loads(p) for p in PAGES])
    assert parse_agile([combined]) == parse_agile(PAGES)


def test_page_edge_repeats_are_dropped() -> None:
    first = json.loads(PAGES[0])
    repeated = page(first["results"][-1], *json.loads(PAGES[1])["results"])
    assert parse_agile([PAGES[0], repeated]) == parse_agile(PAGES)


def test_exc_vat() -> None:
    rates = parse_agile(PAGES, include_vat=False)
    assert rates[-1].value == 10.40


def test_open_ended_valid_to_ends_at_next_start() -> None:
    text = page(
        result("2024-02-01T00:00Z", None, 24.5),
        result("2023-10-01T00:00Z", None, 27.0),
    )
    rates = parse_agile([text], open_until=t("2024-02-03T00:00"))
    assert [(r.start, r.end, r.value) for r in rates] == [
        (t("2023-10-01T00:00"), t("2024-02-01T00:00"), 27.0),
        (t("2024-02-01T00:00"), t("2024-02-03T00:00"), 24.5),
    ]


def test_open_ended_last_rate_is_dropped_without_open_until() -> None:
    text = page(
        result("2024-02-01T00:00Z", None, 24.5),
        result("2023-10-01T00:00Z", "2024-02-01T00:00Z", 27.0),
    )
    rates = parse_agile([text])
    assert [(r.start, r.value) for r in rates] == [(t("2023-10-01T00:00"), 27.0)]


def test_open_until_before_open_rate_is_refused() -> None:
    text = page(result("2024-02-01T00:00Z", None, 24.5))
    with pytest.raises(SignalFormatError, match="open_until"):
        parse_agile([text], open_until=t("2024-01-01T00:00"))


def test_payment_method_filter() -> None:
    text = page(
        result("2024-01-01T00:00Z", "2024-02-01T00:00Z", 28.0, "DIRECT_DEBIT"),
        result("2024-01-01T00:00Z", "2024-02-01T00:00Z", 29.4, "NON_DIRECT_DEBIT"),
    )
    with pytest.raises(SignalFormatError, match="payment methods"):
        parse_agile([text])
    [rate] = parse_agile([text], payment_method="NON_DIRECT_DEBIT")
    assert rate.value == 29.4


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"results": [', "line 1"),
        ('{"count": 0}', "results"),
        (page({"valid_to": "2024-01-01T00:30Z", "value_inc_vat": 1.0}), "results[0].valid_from"),
        (page(result("2024-01-01T00:00", "2024-01-01T00:30Z", 1.0)), "results[0].valid_from"),
        (
            page({**result("2024-01-01T00:00Z", "2024-01-01T00:30Z", 1.0), "value_inc_vat": "1.0"}),
            "value_inc_vat",
        ),
        (page(result("2024-01-01T00:30Z", "2024-01-01T00:00Z", 1.0)), "results[0]"),
    ],
)
def test_bad_files_raise_and_say_where(text: str, where: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_agile([text])
    assert where in str(caught.value)


def test_overlap_across_pages_is_refused() -> None:
    other = page(result("2024-01-15T02:45Z", "2024-01-15T03:15Z", 3.0))
    with pytest.raises(SignalFormatError, match="overlap"):
        parse_agile([*PAGES, other])
