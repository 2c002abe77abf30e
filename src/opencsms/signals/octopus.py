"""Octopus Energy tariff JSON (Agile and the other unit-rate endpoints) → rates.

The Octopus API (``/v1/products/<product>/electricity-tariffs/<tariff>/
standard-unit-rates/``) answers in pages of ``{"count", "next", "previous",
"results": [...]}``, newest rate first; each result has ``valid_from``,
``valid_to``, ``value_exc_vat``, ``value_inc_vat`` (pence per kWh, negative
when Agile pays you to consume) and ``payment_method`` (null for Agile,
``DIRECT_DEBIT`` / ``NON_DIRECT_DEBIT`` for fixed tariffs, which then list
every rate twice). The result is ``p/kWh`` rates, VAT included by default.

Decisions (why):

- **Pages**: pass every page you fetched (each a JSON text, or one text that
  is a JSON list of pages), in any order; rates repeated at page edges are
  dropped and true overlaps are an error. ``next`` links are not followed
  (no network here) and a missing later page is not an error: the first page
  alone is the newest ~2 days, often all a planner needs.
- **valid_to: null** (an open-ended rate, as fixed tariffs write their current
  price) ends where the next rate starts. When it is the latest rate it ends
  at ``open_until`` if the caller gives one (e.g. now + 48 h), otherwise it is
  **dropped**: a rate needs an end, and the planner plans only over time the
  signals cover — inventing a horizon here would promise a price nobody gave.
- **payment_method**: with ``payment_method=X`` only results for X and those
  with a null method (valid for all) are kept. Without it, a file that mixes
  several methods is refused rather than one being picked silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opencsms.domain.smart_charging.rates import Rate
from opencsms.signals.errors import (
    SignalFormatError,
    as_list,
    as_number,
    as_str,
    field,
    finish,
    load_json,
    parse_time,
)

UNIT = "p/kWh"


@dataclass(frozen=True, slots=True)
class _Row:
    start: datetime
    end: datetime | None
    value: float
    payment_method: str | None
    source: str
    where: str


def _pages(texts: Sequence[str | bytes], source: str) -> list[tuple[str, Any]]:
    pages: list[tuple[str, Any]] = []
    for number, text in enumerate(texts):
        name = f"{source}[page {number + 1}]" if len(texts) > 1 else source
        document = load_json(text, name)
        if isinstance(document, list):
            pages.extend((f"{name}[{i}]", page) for i, page in enumerate(document))
        else:
            pages.append((name, document))
    return pages


def _rows(page: Any, name: str, value_field: str) -> list[_Row]:
    rows = []
    for index, item in enumerate(as_list(field(page, "results", name, ""), name, "results")):
        where = f"results[{index}]"
        start = parse_time(field(item, "valid_from", name, where), name, f"{where}.valid_from")
        raw_end = field(item, "valid_to", name, where)
        end = None if raw_end is None else parse_time(raw_end, name, f"{where}.valid_to")
        value = as_number(field(item, value_field, name, where), name, f"{where}.{value_field}")
        method = item.get("payment_method")
        if method is not None:
            method = as_str(method, name, f"{where}.payment_method")
        rows.append(_Row(start, end, value, method, name, where))
    return rows


def parse_agile(
    pages: Sequence[str | bytes],
    *,
    payment_method: str | None = None,
    include_vat: bool = True,
    open_until: datetime | None = None,
    source: str = "octopus",
) -> list[Rate]:
    """Normalised ``p/kWh`` rates from one or more Octopus result pages.

    Raises :class:`SignalFormatError` for broken JSON, a missing or mistyped
    field, a naive time, overlapping rates, mixed payment methods without a
    ``payment_method`` filter, or an ``open_until`` before the open rate's
    start; nothing is returned then.
    """
    if not pages:
        raise SignalFormatError(source, "", "no pages given")
    value_field = "value_inc_vat" if include_vat else "value_exc_vat"
    rows = [row for name, page in _pages(pages, source) for row in _rows(page, name, value_field)]
    if payment_method is not None:
        rows = [r for r in rows if r.payment_method in (None, payment_method)]
    else:
        methods = sorted({r.payment_method for r in rows if r.payment_method is not None})
        if len(methods) > 1:
            raise SignalFormatError(
                source, "payment_method", f"several payment methods {methods}: choose one"
            )
    rows.sort(key=lambda r: r.start)
    rates: list[Rate] = []
    for index, row in enumerate(rows):
        end = row.end
        if end is None:
            later = [r.start for r in rows[index + 1 :] if r.start > row.start]
            if later:
                end = later[0]
            elif open_until is None:
                continue  # the latest rate is open-ended: dropped, see the module docstring
            else:
                if open_until.tzinfo is None:
                    raise SignalFormatError(source, "open_until", "needs a time zone")
                end = open_until.astimezone(UTC)
                if end <= row.start:
                    raise SignalFormatError(
                        row.source, row.where, f"open-ended rate starts after open_until {end}"
                    )
        if end <= row.start:
            raise SignalFormatError(row.source, row.where, "valid_to is not after valid_from")
        rates.append(Rate(row.start, end, row.value, UNIT))
    return finish(rates, source)
