"""UK Carbon Intensity API JSON (api.carbonintensity.org.uk) → ``gCO2/kWh`` rates.

Three shapes come back from the API, all accepted:

- **national** (``/intensity/...``): ``{"data": [{"from", "to", "intensity":
  {"forecast", "actual", "index"}}]}``;
- **one region over time** (``/regional/intensity/.../regionid/N`` and
  ``.../postcode/P``): ``{"data": {"regionid", "shortname", "data": [...]}}``
  or the same region object inside a one-element ``data`` list;
- **all regions at one time** (``/regional``, ``/regional/intensity/...`` for
  every region): ``{"data": [{"from", "to", "regions": [{"regionid",
  "intensity": {...}}]}]}``.

Where several regions are present, ``region_id`` picks one (refused otherwise:
averaging regions is not a forecast anyone published). Timestamps come
without seconds (``2018-01-20T12:00Z``). ``actual`` is null for the future and
absent in regional data: the value is ``actual`` where known (past intervals,
for accounting) and ``forecast`` otherwise; ``prefer_forecast=True`` takes the
forecast throughout (to replay what the planner knew). The API lists
intervals in time order; a file that goes backwards is refused.
"""

from __future__ import annotations

from typing import Any

from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals.errors import (
    SignalFormatError,
    as_list,
    as_number,
    field,
    finish,
    load_json,
    parse_time,
)

UNIT = "gCO2/kWh"


def _value(item: Any, source: str, where: str, prefer_forecast: bool) -> float:
    intensity = field(item, "intensity", source, where)
    if not isinstance(intensity, dict):
        raise SignalFormatError(source, f"{where}.intensity", "expected an object")
    actual = None if prefer_forecast else intensity.get("actual")
    if actual is not None:
        return as_number(actual, source, f"{where}.intensity.actual")
    forecast = field(intensity, "forecast", source, f"{where}.intensity")
    return as_number(forecast, source, f"{where}.intensity.forecast")


def _series(items: list[Any], source: str, where: str, prefer_forecast: bool) -> list[Rate]:
    rates: list[Rate] = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        start = parse_time(field(item, "from", source, at), source, f"{at}.from")
        end = parse_time(field(item, "to", source, at), source, f"{at}.to")
        if end <= start:
            raise SignalFormatError(source, f"{at}.to", "interval ends before it starts")
        if rates and start < rates[-1].start:
            raise SignalFormatError(source, f"{at}.from", "intervals are not in time order")
        rates.append(Rate(start, end, _value(item, source, at, prefer_forecast), UNIT))
    return rates


def _pick_region(
    regions: list[Any], region_id: int | None, source: str, where: str
) -> tuple[int, Any]:
    ids = []
    for index, region in enumerate(regions):
        rid = field(region, "regionid", source, f"{where}[{index}]")
        if isinstance(rid, bool) or not isinstance(rid, int):
            raise SignalFormatError(
                source, f"{where}[{index}].regionid", f"not an integer: {rid!r}"
            )
        ids.append(rid)
        if rid == region_id:
            return index, region
    if region_id is None and len(regions) == 1:
        return 0, regions[0]
    if region_id is None:
        raise SignalFormatError(source, where, f"several regions {ids}: choose one with region_id")
    raise SignalFormatError(source, where, f"region {region_id} not in the file (has {ids})")


def parse_carbon_intensity(
    text: str | bytes,
    *,
    region_id: int | None = None,
    prefer_forecast: bool = False,
    source: str = "carbon-intensity",
) -> list[Rate]:
    """Normalised ``gCO2/kWh`` rates from one Carbon Intensity API answer.

    Raises :class:`SignalFormatError` for broken JSON, a missing or mistyped
    field, an interval out of time order, several regions without
    ``region_id`` or a ``region_id`` not in the file.
    """
    data = field(load_json(text, source), "data", source, "")
    if isinstance(data, dict):  # one region, nested: data.data[]
        if region_id is not None and data.get("regionid") != region_id:
            raise SignalFormatError(source, "data.regionid", f"not region {region_id}")
        items = as_list(field(data, "data", source, "data"), source, "data.data")
        return finish(_series(items, source, "data.data", prefer_forecast), source)
    entries = as_list(data, source, "data")
    if entries and isinstance(entries[0], dict) and "regionid" in entries[0]:
        index, region = _pick_region(entries, region_id, source, "data")
        where = f"data[{index}].data"
        items = as_list(field(region, "data", source, f"data[{index}]"), source, where)
        return finish(_series(items, source, where, prefer_forecast), source)
    if entries and isinstance(entries[0], dict) and "regions" in entries[0]:
        flat = []
        for index, entry in enumerate(entries):
            at = f"data[{index}]"
            regions = as_list(field(entry, "regions", source, at), source, f"{at}.regions")
            _, region = _pick_region(regions, region_id, source, f"{at}.regions")
            flat.append(
                {
                    "from": field(entry, "from", source, at),
                    "to": field(entry, "to", source, at),
                    "intensity": field(region, "intensity", source, f"{at}.regions"),
                }
            )
        return finish(_series(flat, source, "data", prefer_forecast), source)
    if region_id is not None:
        raise SignalFormatError(source, "data", f"national data has no region {region_id}")
    return finish(_series(entries, source, "data", prefer_forecast), source)
