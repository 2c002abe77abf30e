"""Sites and flexibility events from JSON → :mod:`opencsms.domain.smart_charging.grid` records.

Three inputs:

**Sites** — ``{"sites": [{"site_id": "depot", "limit": 100, "unit": "kW"}]}``
(``unit`` ``kW`` or ``A``; with ``A`` optional ``phases``, default 3, and
``voltage``, default 230).

**Simple events** — one object, a list, or ``{"events": [...]}`` of::

    {"site_id": "depot", "event_id": "dso-17", "kind": "cap_kw",
     "intervals": [{"start": "2024-01-17T16:00Z", "end": "2024-01-17T19:00Z", "value": 40}],
     "priority": 1, "modification_number": 0, "cancelled": false, "unit": null}

``kind`` is ``cap_kw`` | ``reduce_kw`` | ``price_adder``; only ``site_id``,
``event_id``, ``kind`` and ``intervals`` are required.

**OpenADR 2.0b events**, as OpenLEADR represents ``oadrDistributeEvent`` and
``oadrEvent`` (its dicts serialised to JSON: snake_case keys, times as ISO
strings, durations as ISO 8601 strings or seconds). The camelCase names of the
XML schema (``eiEvent``, ``eventDescriptor.eventID``, ``eiActivePeriod``,
``eiEventSignals``, ``signalPayload``, ``venID``…) are read too: every key is
turned to snake_case with the ``ei``/``oadr`` prefixes stripped, exactly
OpenLEADR's rule, and the XML wrappers (``properties``, ``date-time``,
``payloadFloat.value``, ``eiEventSignal``, ``interval``) are unwrapped. Mapping:

- ``event_descriptor.event_id`` → ``event_id``; ``modification_number`` and
  ``priority`` as they are; ``event_status == "cancelled"`` → ``cancelled``.
- ``targets`` (a list of ``{ven_id|resource_id: …}``, ``targets_by_type``, or
  the XML ``eiTarget``): one event per ``resource_id`` when there are any,
  else per ``ven_id``; ``site_ids`` may translate those ids to site ids.
  No target → ``default_site`` or an error.
- Intervals start at their own ``dtstart`` when present, else where the
  previous one ended, the first at ``active_period.dtstart`` (OpenADR's
  sequential intervals).
- Signals: ``LOAD_CONTROL``/``x-loadControlCapacity`` and
  ``x-loadControlSetpoint``, ``LOAD_DISPATCH``/``setpoint`` → ``cap_kw``;
  ``LOAD_DISPATCH``/``delta`` (negative = less load) → ``reduce_kw`` of
  ``−delta``; ``ELECTRICITY_PRICE``/``price`` and ``priceRelative`` →
  ``price_adder``. Note: the OpenADR Program Guide defines
  ``x-loadControlCapacity`` as a fraction of capacity; our programmes send an
  absolute power, so the payload is a power in kW (or in the signal's
  ``measurement`` unit W/kW/MW with its ``scale``). Other signals (``SIMPLE``
  levels…) are skipped; an event with none we understand is an error. When an
  event carries several signals we map, each becomes an event
  ``<event_id>:<signal index>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast, get_args

from opencsms.domain.smart_charging.grid import (
    FlexEvent,
    FlexInterval,
    FlexKind,
    GridError,
    SiteLimit,
)
from opencsms.signals.errors import (
    SignalFormatError,
    as_list,
    as_number,
    as_str,
    field,
    load_json,
    parse_duration,
    parse_time,
)

_SIGNALS: dict[tuple[str, str], FlexKind] = {
    ("LOAD_CONTROL", "x-loadControlCapacity"): "cap_kw",
    ("LOAD_CONTROL", "x-loadControlSetpoint"): "cap_kw",
    ("LOAD_DISPATCH", "setpoint"): "cap_kw",
    ("LOAD_DISPATCH", "delta"): "reduce_kw",
    ("ELECTRICITY_PRICE", "price"): "price_adder",
    ("ELECTRICITY_PRICE", "priceRelative"): "price_adder",
}
_POWER_UNITS = {"W": 0.001, "kW": 1.0, "MW": 1000.0}
_SCALES = {None: 1.0, "none": 1.0, "k": 1000.0, "M": 1_000_000.0}


def _events_of(document: Any, source: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "events" in document:
        return as_list(document["events"], source, "events")
    return [document]


def _integer(obj: Mapping[str, Any], name: str, default: int, source: str, where: str) -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SignalFormatError(source, f"{where}.{name}", f"expected an integer, got {value!r}")
    return value


def _flex_event(fields: dict[str, Any], source: str, where: str) -> FlexEvent:
    try:
        return FlexEvent(**fields)
    except GridError as exc:
        raise SignalFormatError(source, where, str(exc)) from None


def parse_sites(text: str | bytes, *, source: str = "sites") -> list[SiteLimit]:
    """Site limits from ``{"sites": [...]}``; duplicate ``site_id`` is an error."""
    sites: list[SiteLimit] = []
    items = as_list(field(load_json(text, source), "sites", source, ""), source, "sites")
    for index, item in enumerate(items):
        at = f"sites[{index}]"
        site_id = as_str(field(item, "site_id", source, at), source, f"{at}.site_id")
        if any(site.site_id == site_id for site in sites):
            raise SignalFormatError(source, f"{at}.site_id", f"{site_id!r} listed twice")
        limit = as_number(field(item, "limit", source, at), source, f"{at}.limit")
        unit = as_str(item.get("unit", "kW"), source, f"{at}.unit")
        phases = _integer(item, "phases", 3, source, at)
        voltage = as_number(item.get("voltage", 230.0), source, f"{at}.voltage")
        try:
            sites.append(SiteLimit(site_id, limit, cast(Any, unit), phases, voltage))
        except GridError as exc:
            raise SignalFormatError(source, at, str(exc)) from None
    return sites


def parse_simple_events(text: str | bytes, *, source: str = "events") -> list[FlexEvent]:
    """Events in the simple JSON form above, in file order."""
    events: list[FlexEvent] = []
    for index, item in enumerate(_events_of(load_json(text, source), source)):
        at = f"events[{index}]"
        kind = as_str(field(item, "kind", source, at), source, f"{at}.kind")
        if kind not in get_args(FlexKind):
            raise SignalFormatError(source, f"{at}.kind", f"unknown kind {kind!r}")
        intervals = []
        raw = as_list(field(item, "intervals", source, at), source, f"{at}.intervals")
        for i, interval in enumerate(raw):
            ia = f"{at}.intervals[{i}]"
            intervals.append(
                FlexInterval(
                    parse_time(field(interval, "start", source, ia), source, f"{ia}.start"),
                    parse_time(field(interval, "end", source, ia), source, f"{ia}.end"),
                    as_number(field(interval, "value", source, ia), source, f"{ia}.value"),
                )
            )
        cancelled = item.get("cancelled", False)
        if not isinstance(cancelled, bool):
            raise SignalFormatError(source, f"{at}.cancelled", "expected true or false")
        unit = item.get("unit")
        fields = {
            "site_id": as_str(field(item, "site_id", source, at), source, f"{at}.site_id"),
            "event_id": as_str(field(item, "event_id", source, at), source, f"{at}.event_id"),
            "kind": kind,
            "intervals": tuple(intervals),
            "priority": _integer(item, "priority", 0, source, at),
            "modification_number": _integer(item, "modification_number", 0, source, at),
            "cancelled": cancelled,
            "unit": None if unit is None else as_str(unit, source, f"{at}.unit"),
        }
        events.append(_flex_event(fields, source, at))
    return events


# ---- OpenADR 2.0b -----------------------------------------------------------


def _snake(key: str) -> str:
    key = re.sub(r"^(?:oadr|ei)(?=[A-Z])", "", key)
    key = re.sub(r"ID(?=[A-Z]|$)", "Id", key)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).replace("-", "_").lower()


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {_snake(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _unwrap(value: Any, *names: str) -> Any:
    """Descend through single-purpose XML wrappers (``{"properties": {...}}``)."""
    while isinstance(value, dict) and len(value) >= 1:
        inner = [n for n in names if n in value]
        if not inner:
            break
        value = value[inner[0]]
    return value


def _listed(value: Any, wrapper: str) -> list[Any]:
    value = _unwrap(value, wrapper)
    return value if isinstance(value, list) else [value]


def _targets(event: Mapping[str, Any], source: str, where: str) -> list[str]:
    found: dict[str, list[str]] = {"resource_id": [], "ven_id": []}
    raw = event.get("targets", event.get("target", event.get("targets_by_type")))
    for target in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if not isinstance(target, dict):
            raise SignalFormatError(source, f"{where}.targets", "expected objects")
        for kind, ids in found.items():
            value = target.get(kind)
            for one in value if isinstance(value, list) else [value] if value is not None else []:
                ids.append(as_str(one, source, f"{where}.targets.{kind}"))
    return found["resource_id"] or found["ven_id"]


def _signal_factor(signal: Mapping[str, Any], kind: FlexKind) -> tuple[float, str | None]:
    measurement = signal.get("measurement") or signal.get("item_base")
    if not isinstance(measurement, dict):
        return 1.0, None
    unit = measurement.get("unit", measurement.get("item_units"))
    scale = measurement.get("scale", measurement.get("si_scale_code"))
    if kind == "price_adder":
        return 1.0, f"{unit}/kWh" if isinstance(unit, str) and unit.isupper() else None
    if unit in _POWER_UNITS and scale in _SCALES:
        return _POWER_UNITS[unit] * _SCALES[scale], None
    return 1.0, None


def _openadr_one(
    event: Mapping[str, Any],
    index: int,
    source: str,
    site_ids: Mapping[str, str],
    default_site: str | None,
) -> list[FlexEvent]:
    at = f"events[{index}]"
    descriptor = field(event, "event_descriptor", source, at)
    event_id = str(field(descriptor, "event_id", source, f"{at}.event_descriptor"))
    status = descriptor.get("event_status")
    active = _unwrap(field(event, "active_period", source, at), "properties")
    dtstart = _unwrap(field(active, "dtstart", source, f"{at}.active_period"), "date_time")
    cursor: datetime = parse_time(dtstart, source, f"{at}.active_period.dtstart")
    start_of_event = cursor
    sites = [site_ids.get(t, t) for t in _targets(event, source, at)] or (
        [default_site] if default_site is not None else []
    )
    if not sites:
        raise SignalFormatError(source, f"{at}.targets", "no ven_id or resource_id target")
    mapped: list[tuple[FlexKind, tuple[FlexInterval, ...], str | None]] = []
    signals = _listed(field(event, "event_signals", source, at), "event_signal")
    for s_index, signal in enumerate(signals):
        sa = f"{at}.event_signals[{s_index}]"
        name = as_str(field(signal, "signal_name", source, sa), source, f"{sa}.signal_name")
        kind = _SIGNALS.get((name.upper(), str(signal.get("signal_type"))))
        if kind is None:
            continue
        factor, unit = _signal_factor(signal, kind)
        cursor = start_of_event
        intervals = []
        for i, interval in enumerate(_listed(field(signal, "intervals", source, sa), "interval")):
            ia = f"{sa}.intervals[{i}]"
            if interval.get("dtstart") is not None:
                cursor = parse_time(
                    _unwrap(interval["dtstart"], "date_time"), source, f"{ia}.dtstart"
                )
            duration: timedelta = parse_duration(
                _unwrap(field(interval, "duration", source, ia), "duration"),
                source,
                f"{ia}.duration",
            )
            payload = _unwrap(
                field(interval, "signal_payload", source, ia), "payload_float", "value"
            )
            value = as_number(payload, source, f"{ia}.signal_payload") * factor
            if signal.get("signal_type") == "delta":
                value = -value
            intervals.append(FlexInterval(cursor, cursor + duration, value))
            cursor += duration
        mapped.append((kind, tuple(intervals), unit))
    if not mapped:
        raise SignalFormatError(source, f"{at}.event_signals", "no signal this system maps")
    events = []
    for number, (kind, steps, unit) in enumerate(mapped):
        for site in sites:
            fields = {
                "site_id": site,
                "event_id": event_id if len(mapped) == 1 else f"{event_id}:{number}",
                "kind": kind,
                "intervals": steps,
                "priority": _integer(descriptor, "priority", 0, source, f"{at}.event_descriptor"),
                "modification_number": _integer(
                    descriptor, "modification_number", 0, source, f"{at}.event_descriptor"
                ),
                "cancelled": status == "cancelled",
                "unit": unit,
            }
            events.append(_flex_event(fields, source, at))
    return events


def parse_openadr_events(
    text: str | bytes,
    *,
    site_ids: Mapping[str, str] | None = None,
    default_site: str | None = None,
    source: str = "openadr",
) -> list[FlexEvent]:
    """:class:`FlexEvent` records from OpenADR 2.0b events (mapping above).

    Accepts an ``oadrDistributeEvent`` payload (``{"events": [...]}``), a list
    of events, or one event, each optionally wrapped in ``oadrEvent`` /
    ``eiEvent``. Raises :class:`SignalFormatError` for broken JSON, missing
    descriptor, period, signals or targets, bad times, durations or payloads,
    negative caps; nothing is returned then.
    """
    document = _unwrap(_normalised(load_json(text, source)), "payload", "signed_object")
    document = _unwrap(document, "distribute_event")
    if isinstance(document, dict) and isinstance(document.get("event"), list):
        document = document["event"]  # the XML form: oadrDistributeEvent/oadrEvent[]
    events: list[FlexEvent] = []
    for index, raw in enumerate(_events_of(document, source)):
        event = _unwrap(raw, "event")
        if not isinstance(event, dict):
            raise SignalFormatError(source, f"events[{index}]", "expected an object")
        events.extend(_openadr_one(event, index, source, site_ids or {}, default_site))
    return events
