"""Sites, simple flex events and OpenADR 2.0b events → grid records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opencsms.signals import (
    SignalFormatError,
    parse_openadr_events,
    parse_simple_events,
    parse_sites,
    sample,
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_golden_sites() -> None:
    depot, garage = parse_sites(sample("sites.json"))
    assert (depot.site_id, depot.limit_kw) == ("depot-north", 100.0)
    assert garage.unit == "A"
    assert garage.limit_kw == pytest.approx(63 * 230 * 3 / 1000)  # 43.47 kW


@pytest.mark.parametrize(
    ("sites", "message"),
    [
        ([{"site_id": "a", "limit": 1}, {"site_id": "a", "limit": 2}], "listed twice"),
        ([{"site_id": "a", "limit": -1}], "limit must be"),
        ([{"site_id": "a", "limit": 10, "unit": "MW"}], "unknown limit unit"),
        ([{"site_id": "a"}], "sites[0].limit: missing"),
    ],
)
def test_bad_sites(sites: object, message: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_sites(json.dumps({"sites": sites}))
    assert message in str(caught.value)


def test_golden_simple_events() -> None:
    cap, reduce, adder = parse_simple_events(sample("flex_events.json"))
    assert (cap.kind, cap.priority, [i.value for i in cap.intervals]) == ("cap_kw", 1, [60, 40])
    assert cap.intervals[1].end == t("2024-01-17T19:00")
    assert (reduce.kind, reduce.intervals[0].value) == ("reduce_kw", 30)
    assert (adder.kind, adder.unit, adder.intervals[0].start) == (
        "price_adder",
        "p/kWh",
        t("2024-01-17T16:30"),
    )


def test_simple_event_single_object_and_list() -> None:
    event = {
        "site_id": "s",
        "event_id": "e",
        "kind": "cap_kw",
        "cancelled": True,
        "modification_number": 3,
        "intervals": [{"start": "2024-01-17T16:00Z", "end": "2024-01-17T17:00Z", "value": 5}],
    }
    [one] = parse_simple_events(json.dumps(event))
    assert (one.cancelled, one.modification_number) == (True, 3)
    assert parse_simple_events(json.dumps([event])) == [one]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "cap_MW"}, "unknown kind"),
        (
            {"intervals": [{"start": "2024-01-17T17:00Z", "end": "2024-01-17T16:00Z", "value": 1}]},
            "ends before",
        ),
        (
            {
                "intervals": [
                    {"start": "2024-01-17T16:00Z", "end": "2024-01-17T17:00Z", "value": -1}
                ]
            },
            "negative",
        ),
        ({"priority": "high"}, "events[0].priority"),
        ({"cancelled": "yes"}, "events[0].cancelled"),
        ({"unit": "p/kWh"}, "only a price_adder"),
    ],
)
def test_bad_simple_events(change: dict[str, object], message: str) -> None:
    event = {
        "site_id": "s",
        "event_id": "e",
        "kind": "cap_kw",
        "intervals": [{"start": "2024-01-17T16:00Z", "end": "2024-01-17T17:00Z", "value": 5}],
    }
    with pytest.raises(SignalFormatError) as caught:
        parse_simple_events(json.dumps({"events": [{**event, **change}]}))
    assert message in str(caught.value)


def test_golden_openadr_sample() -> None:
    cap, price = parse_openadr_events(
        sample("openadr_distribute_event.json"), site_ids={"VEN-DEPOT-NORTH": "depot-north"}
    )
    assert (cap.site_id, cap.event_id, cap.kind) == (
        "depot-north",
        "541c76cb-36db-4ece-bf06-1ec80d06aa5d",
        "cap_kw",
    )
    assert (cap.modification_number, cap.priority, cap.cancelled) == (1, 1, False)
    # sequential PT1H intervals from active_period.dtstart; W with scale k = kW
    assert [(i.start, i.end, i.value) for i in cap.intervals] == [
        (t("2024-01-17T16:00"), t("2024-01-17T17:00"), 60.0),
        (t("2024-01-17T17:00"), t("2024-01-17T18:00"), 40.0),
        (t("2024-01-17T18:00"), t("2024-01-17T19:00"), 50.0),
    ]
    assert (price.site_id, price.kind, price.unit) == ("depot-north", "price_adder", "GBP/kWh")
    assert (price.cancelled, price.modification_number) == (True, 2)


XML_SHAPED = {
    "oadrDistributeEvent": {
        "vtnID": "VTN123",
        "oadrEvent": [
            {
                "eiEvent": {
                    "eventDescriptor": {
                        "eventID": "ev-1",
                        "modificationNumber": 4,
                        "priority": 2,
                        "eventStatus": "active",
                    },
                    "eiActivePeriod": {
                        "properties": {
                            "dtstart": {"date-time": "2024-01-17T16:00:00Z"},
                            "duration": {"duration": "PT30M"},
                        }
                    },
                    "eiEventSignals": {
                        "eiEventSignal": [
                            {
                                "intervals": {
                                    "interval": [
                                        {
                                            "duration": {"duration": "PT15M"},
                                            "signalPayload": {"payloadFloat": {"value": 22000}},
                                        },
                                        {
                                            "duration": {"duration": "PT15M"},
                                            "signalPayload": {"payloadFloat": {"value": 11000}},
                                        },
                                    ]
                                },
                                "signalName": "LOAD_DISPATCH",
                                "signalType": "setpoint",
                                "itemBase": {"itemUnits": "W", "siScaleCode": "none"},
                            },
                            {
                                "intervals": {
                                    "interval": {
                                        "dtstart": {"date-time": "2024-01-17T16:00:00Z"},
                                        "duration": {"duration": "PT30M"},
                                        "signalPayload": {"payloadFloat": {"value": -5}},
                                    }
                                },
                                "signalName": "LOAD_DISPATCH",
                                "signalType": "delta",
                            },
                        ]
                    },
                    "eiTarget": {"venID": "VEN1", "resourceID": ["cp-group-a", "cp-group-b"]},
                },
                "oadrResponseRequired": "always",
            }
        ],
    }
}


def test_camel_case_xml_shaped_event() -> None:
    events = parse_openadr_events(json.dumps(XML_SHAPED))
    assert [(e.site_id, e.event_id, e.kind) for e in events] == [
        ("cp-group-a", "ev-1:0", "cap_kw"),
        ("cp-group-b", "ev-1:0", "cap_kw"),
        ("cp-group-a", "ev-1:1", "reduce_kw"),
        ("cp-group-b", "ev-1:1", "reduce_kw"),
    ]
    setpoint, _, delta, _ = events
    assert [(i.start, i.value) for i in setpoint.intervals] == [
        (t("2024-01-17T16:00"), 22.0),
        (t("2024-01-17T16:15"), 11.0),
    ]
    assert (delta.intervals[0].value, delta.modification_number, delta.priority) == (5.0, 4, 2)


def openadr_event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "event_descriptor": {"event_id": "e1", "modification_number": 0},
        "active_period": {"dtstart": "2024-01-17T16:00:00Z", "duration": 3600},
        "event_signals": [
            {
                "signal_name": "LOAD_CONTROL",
                "signal_type": "x-loadControlCapacity",
                "intervals": [{"duration": 3600, "signal_payload": 7.4}],
            }
        ],
        "targets": [{"ven_id": "ven-7"}],
    }
    event.update(changes)
    return event


def test_default_site_for_untargeted_events() -> None:
    [event] = parse_openadr_events(json.dumps(openadr_event(targets=[])), default_site="depot")
    assert (event.site_id, event.intervals[0].value) == ("depot", 7.4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": []}, "no ven_id or resource_id"),
        ({"event_descriptor": {}}, "event_descriptor.event_id: missing"),
        ({"active_period": {"dtstart": "tomorrow"}}, "active_period.dtstart"),
        (
            {"event_signals": [{"signal_name": "SIMPLE", "signal_type": "level", "intervals": []}]},
            "no signal this system maps",
        ),
        (
            {
                "event_signals": [
                    {
                        "signal_name": "LOAD_CONTROL",
                        "signal_type": "x-loadControlCapacity",
                        "intervals": [{"duration": "P1M", "signal_payload": 1}],
                    }
                ]
            },
            "intervals[0].duration",
        ),
        (
            {
                "event_signals": [
                    {
                        "signal_name": "LOAD_CONTROL",
                        "signal_type": "x-loadControlCapacity",
                        "intervals": [{"duration": 60, "signal_payload": -3}],
                    }
                ]
            },
            "negative",
        ),
    ],
)
def test_bad_openadr_events(changes: dict[str, object], message: str) -> None:
    with pytest.raises(SignalFormatError) as caught:
        parse_openadr_events(json.dumps({"events": [openadr_event(**changes)]}))
    assert message in str(caught.value)
