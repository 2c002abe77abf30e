"""Smart charging at a glance (``/dashboard/smart-charging``): the stored
signals and how far they reach, each site with its cap now, its
flexibility events and its planned load for the next 24 h, and what smart
charging saved over the last 7 days (a fragment loaded after the page).
Admins can import a signal file.

The figures are the API's: the same service calls as ``GET /signals``,
``GET /sites/{id}/load`` and ``GET /savings``. Sites are paged by id
(:data:`SITES_PER_PAGE`): each one shown costs a few queries (its members,
its events), and an operator with many sites should not wait for all of
them. A site's planned load (every member's sessions and plans) is read by
its chart only.

The signal import posts the file as a plain multipart form (the page comes
back with the outcome: htmx would not swap a 422) and goes through the
parsers ``POST /api/v1/signals/{series}`` uses, with each format's
defaults: a file they refuse answers 422 with their message and nothing is
stored.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import FormData, UploadFile

from opencsms.api.context import ApiContext, api_context
from opencsms.api.routes.signals import MAX_SIGNAL_BYTES, SERIES_PATTERN
from opencsms.dashboard.auth import Admin, Viewer, principal
from opencsms.dashboard.pages.chart_series import Series, Step, chart
from opencsms.dashboard.templating import render
from opencsms.domain.smart_charging.accounting import SavingsReport
from opencsms.domain.smart_charging.grid import FlexEvent, GridError, effective_cap
from opencsms.domain.smart_charging.rates import Rate
from opencsms.domain.smart_charging.records import (
    DEFAULT_CO2_SERIES,
    DEFAULT_PRICE_SERIES,
    SeriesSummary,
    Site,
)
from opencsms.domain.smart_charging.service import InvalidRequest
from opencsms.signals import parse_agile, parse_carbon_intensity, parse_csv_rates, parse_entsoe

router = APIRouter()
Context = Annotated[ApiContext, Depends(api_context)]

SITES_PER_PAGE = 20
HORIZON = timedelta(hours=24)
SAVINGS_PERIOD = timedelta(days=7)
SignalFormat = Literal["agile", "carbon_intensity", "entsoe", "csv"]
FORMATS: tuple[str, ...] = get_args(SignalFormat)


@dataclass(frozen=True, slots=True)
class SiteRow:
    site: Site
    members: int
    cap_now_kw: float | None
    """The effective cap now, after events (None: no shared limit)."""
    events: list[FlexEvent]
    """Not cancelled, in force now or to come."""


async def _site_row(ctx: ApiContext, site: Site, now: datetime) -> SiteRow:
    """The cap now is the site's limit under its events (what ``site_load``
    gives as its first cap step), computed from the events read here anyway:
    ``site_load`` would also read every member's active sessions and plans,
    two queries per member, for a figure the row does not show (20 sites of
    50 stations: ~1.7 s a page)."""
    service = ctx.services.smart_charging
    members = len(await service.site_members(site.site_id))
    stored = await service.events(site.site_id)
    cap: float | None = None
    if site.limit is not None:
        try:
            steps = effective_cap(site.limit, stored, now, now + timedelta(seconds=1))
        except GridError as error:
            raise InvalidRequest(str(error)) from error
        cap = steps[0].value if steps else None
    events = [e for e in stored if e.intervals and e.intervals[-1].end > now]
    return SiteRow(site, members, cap, events)


async def _page(ctx: ApiContext, after: str | None) -> dict[str, Any]:
    service = ctx.services.smart_charging
    now = service.now()
    summaries: list[SeriesSummary] = sorted(
        await service.signal_summaries(), key=lambda s: s.series
    )
    sites = sorted(await service.list_sites(), key=lambda s: s.site_id)
    if after:
        sites = [s for s in sites if s.site_id > after]
    shown = sites[:SITES_PER_PAGE]
    rows = [await _site_row(ctx, site, now) for site in shown]
    return {
        "now": now,
        "summaries": summaries,
        "sites": rows,
        "next_after": shown[-1].site_id if len(sites) > SITES_PER_PAGE else None,
        "first": not after,
        "formats": FORMATS,
        "series_pattern": SERIES_PATTERN[1:-1],
        "import_result": None,
    }


@router.get("/smart-charging", response_class=HTMLResponse)
async def smart_charging_page(
    request: Request, operator: Viewer, ctx: Context, after: str | None = None
) -> HTMLResponse:
    return render(request, "smart_charging.html", await _page(ctx, after), nav="smart")


@router.get("/smart-charging/savings", response_class=HTMLResponse)
async def savings_fragment(request: Request, operator: Viewer, ctx: Context) -> HTMLResponse:
    """The last 7 days' savings, loaded after the page (htmx ``load``): the
    report prices every session of the period, which takes a while in a big
    fleet, and the rest of the page need not wait for it."""
    service = ctx.services.smart_charging
    now = service.now()
    savings: SavingsReport | None
    try:
        savings = await service.savings(now - SAVINGS_PERIOD, now)
    except InvalidRequest:
        savings = None  # e.g. sessions priced in different currencies: not summable
    fragment = request.headers.get("hx-request") == "true"
    return render(
        request,
        "smart_savings.html" if fragment else "smart_savings_page.html",
        {"savings": savings, "savings_days": SAVINGS_PERIOD.days},
        nav="smart",
    )


def _steps(rates: list[Rate]) -> list[Step]:
    return [Step(r.start, r.end, r.value) for r in rates]


@router.get("/smart-charging/signals.json")
async def signals_chart(operator: Viewer, ctx: Context) -> JSONResponse:
    """The default price and CO2 series over the next 24 h."""
    service = ctx.services.smart_charging
    now = service.now()
    series = []
    for label, name in (("Price", DEFAULT_PRICE_SERIES), ("CO2", DEFAULT_CO2_SERIES)):
        rates = await service.signal_window(name, now, now + HORIZON)
        if rates:
            series.append(Series(f"{label} ({name})", rates[0].unit, steps=_steps(rates)))
    return JSONResponse(chart(series))


@router.get("/smart-charging/sites/{site_id}/load.json")
async def site_load_chart(site_id: str, operator: Viewer, ctx: Context) -> JSONResponse:
    """The site's planned load against its effective cap over the next 24 h, kW."""
    service = ctx.services.smart_charging
    if await service.get_site(site_id) is None:
        raise HTTPException(404, f"no site {site_id}")
    now = service.now()
    load = await service.site_load(site_id, now, now + HORIZON)
    series = [Series("Planned", "kW", steps=_steps(load.planned_kw))]
    if load.cap_kw:
        series.append(Series("Cap", "kW", steps=_steps(load.cap_kw), dash=True))
    return JSONResponse(chart(series))


def _parse(fmt: str, data: bytes, source: str) -> list[Rate]:
    """Each format with its defaults, as ``POST /api/v1/signals`` parses it."""
    if fmt == "agile":
        return parse_agile([data], source=source)
    if fmt == "carbon_intensity":
        return parse_carbon_intensity(data, source=source)
    if fmt == "entsoe":
        return parse_entsoe(data, source=source)
    return parse_csv_rates(data, source=source)


async def _read_signal(form: FormData) -> tuple[str, list[Rate]]:
    """The series name and the parsed rates of an import form; ValueError
    (a :class:`SignalFormatError` from the parser) with the message to show."""
    series, fmt, upload = form.get("series"), form.get("format"), form.get("file")
    if not isinstance(series, str) or re.fullmatch(SERIES_PATTERN, series) is None:
        raise ValueError("series: letters, digits and . _ : - only (e.g. price, co2)")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ValueError(f"format: one of {', '.join(FORMATS)}")
    if not isinstance(upload, UploadFile):
        raise ValueError("file: choose a file to import")
    data = await upload.read(MAX_SIGNAL_BYTES + 1)
    if len(data) > MAX_SIGNAL_BYTES:
        raise ValueError(f"the file is larger than {MAX_SIGNAL_BYTES} bytes")
    if not data.strip():
        raise ValueError("the file is empty")
    source = f"{series} ({fmt})"
    rates = await asyncio.to_thread(_parse, fmt, data, source)
    if not rates:
        raise ValueError(f"{source}: the file holds no rates")
    return series, rates


@router.post("/smart-charging/signals", response_class=HTMLResponse)
async def import_signal(request: Request, operator: Admin, ctx: Context) -> HTMLResponse:
    """Import a signal file (admin): the page with the outcome, 422 with the
    parser's message for a file it refuses (nothing stored then)."""
    form = await request.form()  # parsed (and cached) by the CSRF check without the header
    try:
        series, rates = await _read_signal(form)
    except ValueError as error:
        result = {"ok": False, "text": str(error)}
    else:
        stored = await ctx.services.smart_charging.import_signal(
            series, rates, requested_by=principal(operator).label
        )
        result = {
            "ok": True,
            "text": f"Stored {stored} rates in {series} ({rates[0].unit}), "
            f"{rates[0].start:%Y-%m-%d %H:%M} to {rates[-1].end:%Y-%m-%d %H:%M} UTC.",
        }
    finally:
        await form.close()  # its file part was spooled to a temporary file
    page = await _page(ctx, None)
    page["import_result"] = result
    return render(
        request,
        "smart_charging.html",
        page,
        status_code=200 if result["ok"] else 422,
        nav="smart",
    )
