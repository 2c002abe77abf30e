"""ENTSO-E Transparency Platform day-ahead prices (XML, document type A44) → rates.

A ``Publication_MarketDocument`` holds ``TimeSeries`` with a currency
(``currency_Unit.name``), a price unit (``price_Measure_Unit.name``, MWH) and a
``curveType``; each has ``Period``s with a UTC ``timeInterval`` (``start``,
``end``), a ``resolution`` (PT15M, PT30M, PT60M) and ``Point``s numbered from
1 (``position``, ``price.amount``). The slot of point *n* starts at
``start + (n − 1) × resolution``: because everything is counted in UTC from
the interval, the 23-hour and 25-hour days at daylight-saving changes come
out with 23 and 25 hourly slots without any time-zone arithmetic here.

Decisions (why):

- **A03** (variable-sized blocks, the curve the platform has used since 2024):
  a missing position repeats the previous point's price, as the
  Implementation Guide defines; position 1 must be present. **A01**: every
  position must be present. Each slot becomes its own rate either way, so the
  slot grid stays regular for the planner.
- **Units**: EUR/MWh becomes ``EUR/kWh`` (÷ 1000); the currency is kept from
  the file; a price unit other than MWH/KWH is refused.
- **Several resolutions** for the same day (since the 15-minute day-ahead
  market, the platform may publish a PT15M series and an hourly one): the
  finest is kept unless ``resolution`` names one; overlaps that remain are an
  error. An ``Acknowledgement_MarketDocument`` (the platform's "no matching
  data") raises with its reason text.
- XML is parsed with defusedxml (no entity expansion, no external entities):
  these files come from outside. Element names are matched without their
  namespace, so the 7:0 and 7:3 schema versions both read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals.errors import (
    SignalFormatError,
    canonical_unit,
    finish,
    parse_duration,
    parse_number,
    parse_time,
)

_MEASURE_UNITS = {"MWH": "MWh", "KWH": "kWh"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _text(element: ET.Element, name: str, source: str, where: str) -> str:
    found = _children(element, name)
    if not found or found[0].text is None or not found[0].text.strip():
        raise SignalFormatError(source, f"{where}/{name}", "missing")
    return found[0].text.strip()


def _parse_xml(text: str | bytes, source: str) -> ET.Element:
    try:
        root: ET.Element = SafeET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise SignalFormatError(source, f"line {line} column {column}", "broken XML") from None
    except DefusedXmlException as exc:
        raise SignalFormatError(source, "", f"refused XML: {exc!r}") from None
    return root


def _period_rates(
    period: ET.Element, unit: str, divisor: float, curve: str, source: str, where: str
) -> tuple[timedelta, list[Rate]]:
    interval = _children(period, "timeInterval")
    if not interval:
        raise SignalFormatError(source, f"{where}/timeInterval", "missing")
    start = parse_time(
        _text(interval[0], "start", source, f"{where}/timeInterval"),
        source,
        f"{where}/timeInterval/start",
    )
    end = parse_time(
        _text(interval[0], "end", source, f"{where}/timeInterval"),
        source,
        f"{where}/timeInterval/end",
    )
    step = parse_duration(_text(period, "resolution", source, where), source, f"{where}/resolution")
    if end <= start:
        raise SignalFormatError(source, f"{where}/timeInterval", "ends before it starts")
    slots, remainder = divmod(end - start, step)
    if remainder:
        raise SignalFormatError(source, f"{where}/resolution", f"does not divide {start}–{end}")
    prices: dict[int, float] = {}
    last = 0
    for index, point in enumerate(_children(period, "Point")):
        at = f"{where}/Point[{index + 1}]"
        position_text = _text(point, "position", source, at)
        if not position_text.isdigit():
            raise SignalFormatError(source, f"{at}/position", f"not a position: {position_text!r}")
        position = int(position_text)
        if position <= last:
            raise SignalFormatError(source, f"{at}/position", "positions do not increase")
        if position > slots:
            raise SignalFormatError(
                source, f"{at}/position", f"beyond the {slots} slots of the period"
            )
        prices[position] = parse_number(
            _text(point, "price.amount", source, at), source, f"{at}/price.amount", divisor
        )
        last = position
    if 1 not in prices:
        raise SignalFormatError(source, where, "no point at position 1")
    rates = []
    price = prices[1]
    for position in range(1, slots + 1):
        if position in prices:
            price = prices[position]
        elif curve != "A03":
            raise SignalFormatError(
                source, where, f"position {position} missing in an {curve} curve"
            )
        slot_start: datetime = start + (position - 1) * step
        rates.append(Rate(slot_start, slot_start + step, price, unit))
    return step, rates


def parse_entsoe(
    text: str | bytes, *, resolution: str | None = None, source: str = "entsoe"
) -> list[Rate]:
    """Normalised ``<currency>/kWh`` rates from one A44 document.

    Raises :class:`SignalFormatError` for broken or refused XML, a document
    that is not A44, a missing element, an unknown unit or curve type,
    positions that do not increase or overrun the period, a gap in an A01
    curve, or series that overlap; nothing is returned then.
    """
    root = _parse_xml(text, source)
    kind = _local(root.tag)
    if kind == "Acknowledgement_MarketDocument":
        reasons = [r.text or "" for r in root.iter() if _local(r.tag) == "text"]
        raise SignalFormatError(source, kind, "no data: " + ("; ".join(reasons) or "no reason"))
    if kind != "Publication_MarketDocument":
        raise SignalFormatError(source, kind, "not a Publication_MarketDocument")
    doc_type = _text(root, "type", source, kind)
    if doc_type != "A44":
        raise SignalFormatError(source, f"{kind}/type", f"{doc_type}, not A44 (day-ahead prices)")
    by_step: dict[timedelta, list[Rate]] = {}
    for s_index, series in enumerate(_children(root, "TimeSeries")):
        where = f"TimeSeries[{s_index + 1}]"
        currency = _text(series, "currency_Unit.name", source, where)
        measure = _text(series, "price_Measure_Unit.name", source, where)
        if measure not in _MEASURE_UNITS:
            raise SignalFormatError(
                source, f"{where}/price_Measure_Unit.name", f"unknown unit {measure!r}"
            )
        unit, divisor = canonical_unit(f"{currency}/{_MEASURE_UNITS[measure]}", source, where)
        curves = _children(series, "curveType")
        curve = (curves[0].text or "").strip() if curves else "A01"
        if curve not in ("A01", "A03"):
            raise SignalFormatError(source, f"{where}/curveType", f"unknown curve type {curve!r}")
        for p_index, period in enumerate(_children(series, "Period")):
            step, rates = _period_rates(
                period, unit, divisor, curve, source, f"{where}/Period[{p_index + 1}]"
            )
            by_step.setdefault(step, []).extend(rates)
    if not by_step:
        raise SignalFormatError(source, kind, "no TimeSeries with a Period")
    if resolution is not None:
        wanted = parse_duration(resolution, source, "resolution")
        if wanted not in by_step:
            raise SignalFormatError(source, "resolution", f"no {resolution} series in the file")
        return finish(by_step[wanted], source)
    return finish(by_step[min(by_step)], source)
