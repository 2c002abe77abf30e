"""The what-if case: a self-contained JSON file the planner can be asked about.

``opencsms plan CASE.json`` and the tests read one; the live system feeds the
same planner from its stores. Format (times ISO 8601 with a zone; ``Z`` ok)::

    {
      "objective": "price",            # price | co2 | price+co2 | price_then_co2
      "lambda": 0.0,                   # price units per gram, for price+co2
      "control_interval_minutes": 15,
      "price": {"unit": "p/kWh", "start": "2026-01-15T16:00:00Z",
                "slot_minutes": 30, "values": [28.1, 31.5]},
      "co2":   {"unit": "gCO2/kWh", "rates": [{"start": "…", "end": "…", "value": 231}]},
      "sites": [{"site_id": "depot", "limit_kw": 22,
                 "events": [{"event_id": "e1", "kind": "cap_kw",
                             "intervals": [{"start": "…", "end": "…", "value": 11}]}]}],
      "cars":  [{"car_id": "F1", "plug_in": "…", "departure": "…", "max_power_kw": 7.4,
                 "energy_kwh": 20, "site_id": null, "precondition_minutes": 0,
                 "continuous": false}]
    }

A series is either ``start`` + ``slot_minutes`` + ``values`` or a list of
``rates``; ``co2``, ``sites`` and events are optional. Site limits and events
go through :mod:`~opencsms.domain.smart_charging.grid` (caps combine by
minimum, ``price_adder`` events raise the site's prices). A bad case raises
:class:`CaseError` naming the field; nothing is half-loaded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from opencsms.domain.smart_charging.grid import (
    FlexEvent,
    FlexInterval,
    FlexKind,
    GridError,
    SiteLimit,
    add_price_adders,
    effective_cap,
)
from opencsms.domain.smart_charging.planner import (
    OBJECTIVE_MODES,
    CarPlan,
    ChargeRequest,
    Objective,
    ObjectiveMode,
    plan_car,
)
from opencsms.domain.smart_charging.profiles import min_charging_kw
from opencsms.domain.smart_charging.rates import Rate, RateError, normalise
from opencsms.domain.smart_charging.site_planner import plan_site


class CaseError(ValueError):
    """A case that cannot be planned; the message names the field and why."""


@dataclass(frozen=True, slots=True)
class Site:
    limit: SiteLimit
    events: tuple[FlexEvent, ...]


@dataclass(frozen=True, slots=True)
class Case:
    price: list[Rate]
    co2: list[Rate]
    cars: tuple[ChargeRequest, ...]
    sites: Mapping[str, Site]
    objective: Objective
    control_interval: timedelta


def load_case(path: Path) -> Case:
    """Read and validate a case file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CaseError(f"{path}: {error}") from error
    return parse_case(data)


def parse_case(data: Any) -> Case:
    """Validate a decoded case (see the module docstring for the format)."""
    root = _object(data, "case")
    try:
        mode = root.get("objective", "price")
        if mode not in OBJECTIVE_MODES:
            raise CaseError(f"objective: one of {', '.join(OBJECTIVE_MODES)}, not {mode!r}")
        objective = Objective(cast(ObjectiveMode, mode), _number(root.get("lambda", 0.0), "lambda"))
        interval = _number(root.get("control_interval_minutes", 15), "control_interval_minutes")
        if interval <= 0:
            raise CaseError("control_interval_minutes: must be positive")
        price = _series(root.get("price"), "price")
        co2 = _series(root["co2"], "co2") if root.get("co2") is not None else []
        sites = {
            site.limit.site_id: site
            for site in (
                _site(s, f"sites[{i}]") for i, s in enumerate(_list(root.get("sites", []), "sites"))
            )
        }
        cars = tuple(
            _car(c, f"cars[{i}]", sites) for i, c in enumerate(_list(root.get("cars"), "cars"))
        )
        if not cars:
            raise CaseError("cars: at least one car")
        if len({car.car_id for car in cars}) != len(cars):
            raise CaseError("cars: car_id must be unique")
    except (RateError, GridError) as error:
        raise CaseError(str(error)) from error
    return Case(price, co2, cars, sites, objective, timedelta(minutes=interval))


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CaseError(f"{where}: expected an object")
    return cast(dict[str, Any], value)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CaseError(f"{where}: expected a list")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaseError(f"{where}: expected a number, not {value!r}")
    return float(value)


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise CaseError(f"{where}: expected an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise CaseError(f"{where}: {error}") from error
    if moment.tzinfo is None:
        raise CaseError(f"{where}: {value!r} has no time zone")
    return moment


def _series(value: Any, where: str) -> list[Rate]:
    series = _object(value, where)
    unit = series.get("unit")
    if not isinstance(unit, str) or not unit:
        raise CaseError(f"{where}.unit: expected a unit such as 'p/kWh' or 'gCO2/kWh'")
    if "rates" in series:
        rates = [
            Rate(
                _time(r.get("start"), f"{where}.rates[{i}].start"),
                _time(r.get("end"), f"{where}.rates[{i}].end"),
                _number(r.get("value"), f"{where}.rates[{i}].value"),
                unit,
            )
            for i, r in enumerate(
                _object(x, f"{where}.rates[{i}]")
                for i, x in enumerate(_list(series["rates"], f"{where}.rates"))
            )
        ]
    else:
        start = _time(series.get("start"), f"{where}.start")
        minutes = _number(series.get("slot_minutes"), f"{where}.slot_minutes")
        if minutes <= 0:
            raise CaseError(f"{where}.slot_minutes: must be positive")
        step = timedelta(minutes=minutes)
        values = _list(series.get("values"), f"{where}.values")
        rates = [
            Rate(start + i * step, start + (i + 1) * step, _number(v, f"{where}.values[{i}]"), unit)
            for i, v in enumerate(values)
        ]
    if not rates:
        raise CaseError(f"{where}: no values")
    return normalise(rates)


def _site(value: Any, where: str) -> Site:
    site = _object(value, where)
    site_id = site.get("site_id")
    if not isinstance(site_id, str) or not site_id:
        raise CaseError(f"{where}.site_id: expected a name")
    limit = SiteLimit(site_id, _number(site.get("limit_kw"), f"{where}.limit_kw"))
    events = []
    for i, raw in enumerate(_list(site.get("events", []), f"{where}.events")):
        event = _object(raw, f"{where}.events[{i}]")
        intervals = tuple(
            FlexInterval(
                _time(x.get("start"), f"{where}.events[{i}].start"),
                _time(x.get("end"), f"{where}.events[{i}].end"),
                _number(x.get("value"), f"{where}.events[{i}].value"),
            )
            for x in (
                _object(y, f"{where}.events[{i}].intervals")
                for y in _list(event.get("intervals"), f"{where}.events[{i}].intervals")
            )
        )
        events.append(
            FlexEvent(
                site_id,
                str(event.get("event_id", i)),
                cast(FlexKind, event.get("kind")),
                intervals,
                int(event.get("priority", 0)),
            )
        )
    return Site(limit, tuple(events))


def _car(value: Any, where: str, sites: Mapping[str, Site]) -> ChargeRequest:
    car = _object(value, where)
    car_id = car.get("car_id")
    if not isinstance(car_id, str) or not car_id:
        raise CaseError(f"{where}.car_id: expected a name")
    plug_in, departure = (
        _time(car.get("plug_in"), f"{where}.plug_in"),
        _time(car.get("departure"), f"{where}.departure"),
    )
    if departure <= plug_in:
        raise CaseError(f"{where}.departure: must be after plug_in")
    power, need = (
        _number(car.get("max_power_kw"), f"{where}.max_power_kw"),
        _number(car.get("energy_kwh"), f"{where}.energy_kwh"),
    )
    if power <= 0 or need < 0:
        raise CaseError(f"{where}: max_power_kw must be positive and energy_kwh not negative")
    site_id = car.get("site_id")
    if site_id is not None and site_id not in sites:
        raise CaseError(f"{where}.site_id: no site {site_id!r}")
    precondition = _number(car.get("precondition_minutes", 0), f"{where}.precondition_minutes")
    continuous = car.get("continuous", False)
    if not isinstance(continuous, bool):
        raise CaseError(f"{where}.continuous: expected true or false")
    return ChargeRequest(
        car_id, plug_in, departure, power, need, int(precondition), continuous, site_id
    )


@dataclass(frozen=True, slots=True)
class CaseResult:
    """Plans in the case's car order, and how each site's plans were found."""

    plans: tuple[CarPlan, ...]
    methods: Mapping[str, str]


def plan_case(
    case: Case, objective: Objective | None = None, time_limit_s: float = 10.0
) -> CaseResult:
    """What the planner would do: every car at its plug-in, alone
    (:func:`plan_car`) or jointly with the cars of its site (:func:`plan_site`,
    the site's limit and events as caps, its price adders on its prices)."""
    objective = objective or case.objective
    plans: dict[str, CarPlan] = {}
    methods: dict[str, str] = {}
    for car in case.cars:
        if car.site_id is None:
            plans[car.car_id] = plan_car(
                car,
                case.price,
                case.co2,
                objective=objective,
                control_interval=case.control_interval,
            )
    for site_id, site in case.sites.items():
        cars = [car for car in case.cars if car.site_id == site_id]
        if not cars:
            continue
        start, end = min(c.plug_in for c in cars), max(c.departure for c in cars)
        cap = effective_cap(site.limit, site.events, start, end)
        price = add_price_adders(case.price, site.events, site_id)
        result = plan_site(
            cars,
            price,
            case.co2,
            cap,
            objective=objective,
            time_limit_s=time_limit_s,
            floor_kw=min_charging_kw(),  # as the live system plans a site
        )
        methods[site_id] = f"{result.method} ({result.reason})"
        plans.update((plan.car_id, plan) for plan in result.plans)
    return CaseResult(tuple(plans[car.car_id] for car in case.cars), methods)
