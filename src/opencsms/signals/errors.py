"""The one error every signal adapter raises, and the small readers they share.

Adapters parse outside formats whole before they return anything: a file
that is broken anywhere raises :class:`SignalFormatError` and yields nothing,
so a bad upload can never replace good signals with half of a forecast.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from opencsms.domain.smart_charging.rates import Rate, RateError, normalise


class SignalFormatError(ValueError):
    """A signal file that cannot be read: which source, where in it (a JSON
    path, an XML element path, a CSV line) and what is wrong."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        location = f"{source}: {where}" if where else source
        super().__init__(f"{location}: {problem}")


def load_json(text: str | bytes, source: str) -> Any:
    try:
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise SignalFormatError(source, "", f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SignalFormatError(
            source, f"line {exc.lineno} column {exc.colno}", f"broken JSON: {exc.msg}"
        ) from None


def field(obj: Any, name: str, source: str, where: str) -> Any:
    """``obj[name]``, or a :class:`SignalFormatError` naming ``where.name``."""
    if not isinstance(obj, Mapping):
        raise SignalFormatError(source, where, f"expected an object, got {type(obj).__name__}")
    if name not in obj:
        raise SignalFormatError(source, f"{where}.{name}" if where else name, "missing")
    return obj[name]


def as_list(value: Any, source: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SignalFormatError(source, where, f"expected a list, got {type(value).__name__}")
    return value


def as_str(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise SignalFormatError(source, where, f"expected a string, got {type(value).__name__}")
    return value


def as_number(value: Any, source: str, where: str) -> float:
    """A finite JSON number (bools are not numbers; numeric strings are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalFormatError(source, where, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SignalFormatError(source, where, f"not a finite number: {value!r}")
    return float(value)


def parse_number(text: str, source: str, where: str, divisor: float = 1.0) -> float:
    """A finite number written as text (CSV cells, XML element text), divided
    by ``divisor`` in decimal so that ``-9.95`` EUR/MWh is exactly the float
    nearest -0.00995 EUR/kWh (binary division would be one ulp off)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise SignalFormatError(source, where, f"not a number: {text!r}") from None
    if not value.is_finite():
        raise SignalFormatError(source, where, f"not a finite number: {text!r}")
    return float(value / Decimal(divisor)) if divisor != 1.0 else float(value)


def parse_time(value: Any, source: str, where: str) -> datetime:
    """An ISO 8601 timestamp with a time zone: ``Z`` or an offset, seconds
    optional (the Carbon Intensity API and ENTSO-E write ``2018-01-20T12:00Z``).
    A naive time is refused: guessing its zone would shift a whole forecast."""
    text = as_str(value, source, where)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SignalFormatError(source, where, f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise SignalFormatError(source, where, f"time without a time zone: {text!r}")
    return moment


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: Any, source: str, where: str) -> timedelta:
    """An ISO 8601 duration in days, hours, minutes and seconds (``PT15M``,
    ``P1D``, ``PT1H30M``) or a number of seconds. Years, months and weeks are
    refused: their length depends on the calendar, and signals never use them."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = as_number(value, source, where)
        if seconds <= 0:
            raise SignalFormatError(source, where, f"duration must be > 0, got {value!r}")
        return timedelta(seconds=seconds)
    text = as_str(value, source, where).strip()
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise SignalFormatError(source, where, f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    duration = timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    if duration <= timedelta(0):
        raise SignalFormatError(source, where, f"duration must be > 0, got {text!r}")
    return duration


# Accepted units and how they map to the canonical ones rates carry:
# ``(canonical unit, divisor)`` so that ``canonical value = value / divisor``
# (see :func:`parse_number` for why the division is decimal).
UNITS: dict[str, tuple[str, float]] = {
    "p/kWh": ("p/kWh", 1.0),
    "GBP/kWh": ("GBP/kWh", 1.0),
    "GBP/MWh": ("GBP/kWh", 1000.0),
    "EUR/kWh": ("EUR/kWh", 1.0),
    "EUR/MWh": ("EUR/kWh", 1000.0),
    "ct/kWh": ("ct/kWh", 1.0),
    "gCO2/kWh": ("gCO2/kWh", 1.0),
    "kgCO2/MWh": ("gCO2/kWh", 1.0),
}


def canonical_unit(unit: str, source: str, where: str) -> tuple[str, float]:
    found = UNITS.get(unit.strip())
    if found is None:
        known = ", ".join(UNITS)
        raise SignalFormatError(source, where, f"unknown unit {unit!r} (known: {known})")
    return found


def finish(rates: Iterable[Rate], source: str) -> list[Rate]:
    """:func:`normalise` with its :class:`RateError` (overlaps, mixed units,
    reversed intervals) reported as the file's fault."""
    try:
        return normalise(rates)
    except RateError as exc:
        raise SignalFormatError(source, "", str(exc)) from None
