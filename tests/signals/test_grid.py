"""grid.py: event versions, effective caps and price adders (hand-checked and by property)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencsms.domain.smart_charging.grid import (
    FlexEvent,
    FlexInterval,
    GridError,
    SiteLimit,
    active_events,
    add_price_adders,
    apply_events,
    effective_cap,
)
from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals import parse_simple_events, sample


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cap(event_id: str, mod: int, value: float = 10.0, cancelled: bool = False) -> FlexEvent:
    interval = FlexInterval(t("2024-01-17T16:00"), t("2024-01-17T17:00"), value)
    return FlexEvent("depot", event_id, "cap_kw", (interval,), 0, mod, cancelled)


def test_higher_modification_replaces_lower_or_equal_is_ignored() -> None:
    book = apply_events({}, [cap("e", 1, 10.0)])
    assert apply_events(book, [cap("e", 2, 20.0)])[("depot", "e")].intervals[0].value == 20.0
    assert apply_events(book, [cap("e", 1, 30.0)]) == book
    assert apply_events(book, [cap("e", 0, 30.0)]) == book


def test_cancelled_removes_and_a_late_older_copy_stays_removed() -> None:
    book = apply_events({}, [cap("e", 1), cap("other", 0)])
    book = apply_events(book, [cap("e", 2, cancelled=True), cap("e", 1)])
    assert [e.event_id for e in active_events(book)] == ["other"]
    assert active_events(book, "elsewhere") == []


def test_golden_effective_cap_with_the_sample_events() -> None:
    events = parse_simple_events(sample("flex_events.json"))
    steps = effective_cap(
        SiteLimit("depot-north", 100), events, t("2024-01-17T15:00"), t("2024-01-17T21:00")
    )
    # cap 60 (16–17), cap 40 (17–19), reduce 30 (18–20) → 100 − 30 = 70 after 19:00
    assert [(s.start.hour, s.end.hour, s.value, s.unit) for s in steps] == [
        (15, 16, 100, "kW"),
        (16, 17, 60, "kW"),
        (17, 19, 40, "kW"),
        (19, 20, 70, "kW"),
        (20, 21, 100, "kW"),
    ]


def test_amp_limit_and_reduction_below_zero() -> None:
    site = SiteLimit("s", 32, "A", phases=1, voltage=230)
    reduce = FlexEvent(
        "s", "r", "reduce_kw", (FlexInterval(t("2024-01-17T16:00"), t("2024-01-17T17:00"), 50),)
    )
    steps = effective_cap(site, [reduce], t("2024-01-17T15:30"), t("2024-01-17T17:00"))
    assert [(s.value) for s in steps] == [pytest.approx(7.36), 0.0]


def test_other_sites_and_cancelled_events_do_not_count() -> None:
    other = FlexEvent(
        "x", "c", "cap_kw", (FlexInterval(t("2024-01-17T16:00"), t("2024-01-17T17:00"), 1),)
    )
    gone = cap("e", 1, 1.0, cancelled=True)
    [step] = effective_cap(
        SiteLimit("depot", 50), [other, gone], t("2024-01-17T16:00"), t("2024-01-17T17:00")
    )
    assert step.value == 50


def test_golden_price_adders_split_rates() -> None:
    rates = [
        Rate(
            t("2024-01-17T16:00") + timedelta(hours=h),
            t("2024-01-17T17:00") + timedelta(hours=h),
            20.0,
            "p/kWh",
        )
        for h in range(4)
    ]
    events = parse_simple_events(sample("flex_events.json"))
    priced = add_price_adders(rates, events, "depot-north")
    # the sample adder is +12.5 p/kWh from 16:30 to 19:30
    assert [(r.start.strftime("%H:%M"), r.end.strftime("%H:%M"), r.value) for r in priced] == [
        ("16:00", "16:30", 20.0),
        ("16:30", "17:00", 32.5),
        ("17:00", "18:00", 32.5),
        ("18:00", "19:00", 32.5),
        ("19:00", "19:30", 32.5),
        ("19:30", "20:00", 20.0),
    ]
    assert add_price_adders(rates, events, "another-site") == rates


def test_price_adder_in_another_unit_is_refused() -> None:
    rates = [Rate(t("2024-01-17T16:00"), t("2024-01-17T17:00"), 0.2, "EUR/kWh")]
    adder = FlexEvent(
        "s",
        "p",
        "price_adder",
        (FlexInterval(t("2024-01-17T16:00"), t("2024-01-17T17:00"), 5),),
        unit="p/kWh",
    )
    with pytest.raises(GridError, match="adder in 'p/kWh'"):
        add_price_adders(rates, [adder], "s")


def test_event_preconditions() -> None:
    with pytest.raises(GridError, match="time zone"):
        FlexEvent(
            "s", "e", "cap_kw", (FlexInterval(datetime(2024, 1, 1), datetime(2024, 1, 2), 1),)
        )
    a = FlexInterval(t("2024-01-17T16:00"), t("2024-01-17T17:00"), 1)
    b = FlexInterval(t("2024-01-17T16:30"), t("2024-01-17T17:30"), 1)
    with pytest.raises(GridError, match="overlap"):
        FlexEvent("s", "e", "cap_kw", (a, b))


BASE = t("2024-01-17T00:00")
intervals = st.lists(
    st.tuples(st.integers(0, 47), st.integers(1, 8), st.floats(0, 200, allow_nan=False)),
    min_size=1,
    max_size=4,
)


def build(index: int, kind: str, spec: list[tuple[int, int, float]]) -> FlexEvent | None:
    spans, cursor = [], -1
    for start, length, value in sorted(spec):
        if start < cursor:
            continue  # keep the intervals of one event disjoint
        spans.append(
            FlexInterval(
                BASE + timedelta(minutes=30 * start),
                BASE + timedelta(minutes=30 * (start + length)),
                value,
            )
        )
        cursor = start + length
    return FlexEvent("s", f"e{index}", kind, tuple(spans))  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(
    st.floats(0, 300, allow_nan=False),
    st.lists(st.tuples(st.sampled_from(["cap_kw", "reduce_kw"]), intervals), max_size=5),
)
def test_effective_cap_is_the_pointwise_minimum(
    limit: float, specs: list[tuple[str, list[tuple[int, int, float]]]]
) -> None:
    events = [e for i, (kind, spec) in enumerate(specs) if (e := build(i, kind, spec)) is not None]
    start, end = BASE, BASE + timedelta(hours=30)
    steps = effective_cap(SiteLimit("s", limit), events, start, end)
    assert steps[0].start == start and steps[-1].end == end
    assert all(a.end == b.start and a.value != b.value for a, b in itertools.pairwise(steps))
    for step in steps:
        assert 0 <= step.value <= limit
    # every quarter hour: the step equals the brute-force minimum
    for quarter in range(30 * 4):
        moment = start + timedelta(minutes=15 * quarter)
        expected = limit
        for event in events:
            for interval in event.intervals:
                if interval.start <= moment < interval.end:
                    ceiling = interval.value if event.kind == "cap_kw" else limit - interval.value
                    expected = min(expected, ceiling)
        [step] = [s for s in steps if s.start <= moment < s.end]
        assert step.value == max(expected, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5), st.booleans()), max_size=8)
)
def test_event_book_does_not_depend_on_arrival_order(updates: list[tuple[str, int, bool]]) -> None:
    unique = {(event_id, mod): cancelled for event_id, mod, cancelled in updates}
    events = [
        cap(event_id, mod, float(mod), cancelled) for (event_id, mod), cancelled in unique.items()
    ]
    expected = apply_events({}, events)
    assert apply_events({}, reversed(events)) == expected
    for key, event in expected.items():
        assert event.modification_number == max(m for (i, m) in unique if ("depot", i) == key)
