"""Plain CSV rates, for any tariff or carbon series the other adapters do not read.

Format (UTF-8, comma-separated, one header line)::

    start,end,value,unit
    2024-01-15T00:00:00Z,2024-01-15T00:30:00Z,14.91,p/kWh
    2024-01-15T00:30:00+00:00,2024-01-15T01:00:00+00:00,-2.21,p/kWh

- ``start`` and ``end`` are ISO 8601 times **with** a zone (``Z`` or an
  offset; seconds optional); rows in increasing ``start`` order, not
  overlapping (gaps are allowed: time the signal does not cover).
- ``value`` is a decimal number (negative prices are fine).
- ``unit`` is optional as a column; without it, pass ``unit=`` to the parser.
  Known units: ``p/kWh``, ``GBP/kWh``, ``GBP/MWh``, ``EUR/kWh``, ``EUR/MWh``,
  ``ct/kWh``, ``gCO2/kWh``, ``kgCO2/MWh`` (per-MWh units are converted to
  per-kWh). One unit per file.
- Blank lines are skipped; extra columns are refused (a typo in the header
  should not silently drop the data it names).
"""

from __future__ import annotations

import csv
import io

from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals.errors import (
    SignalFormatError,
    canonical_unit,
    finish,
    parse_number,
    parse_time,
)

_REQUIRED = ["start", "end", "value"]


def parse_csv_rates(
    text: str | bytes, *, unit: str | None = None, source: str = "csv"
) -> list[Rate]:
    """Normalised rates from a CSV text in the format above.

    Raises :class:`SignalFormatError` (with the line number) for a wrong
    header, a missing or extra cell, a bad time or number, an unknown or
    missing unit, mixed units, rows out of order or overlapping.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SignalFormatError(source, "", f"not UTF-8 text ({exc.reason})") from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip() for cell in next(reader, [])]
    if header not in (_REQUIRED, [*_REQUIRED, "unit"]):
        raise SignalFormatError(
            source, "line 1", f"header must be start,end,value[,unit], got {header}"
        )
    has_unit = len(header) == 4
    if not has_unit and unit is None:
        raise SignalFormatError(source, "line 1", "no unit column: pass unit=")
    rates: list[Rate] = []
    for row in reader:
        line = f"line {reader.line_num}"
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SignalFormatError(source, line, f"expected {len(header)} cells, got {len(row)}")
        start = parse_time(row[0], source, f"{line} start")
        end = parse_time(row[1], source, f"{line} end")
        canonical, divisor = canonical_unit(
            row[3] if has_unit else str(unit), source, f"{line} unit"
        )
        value = parse_number(row[2], source, f"{line} value", divisor)
        if end <= start:
            raise SignalFormatError(source, f"{line} end", "not after start")
        if rates and start < rates[-1].end:
            raise SignalFormatError(source, f"{line} start", "before the previous row ends")
        rates.append(Rate(start, end, value, canonical))
    return finish(rates, source)
