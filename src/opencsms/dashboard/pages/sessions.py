"""Charging sessions: the filtered list (``/dashboard/sessions``), one
session with its need, plan, cost and profiles (``/dashboard/sessions/{id}``),
and that session's charts as JSON (``power.json``, ``energy.json``,
``signals.json``).

The detail reads what ``GET /api/v1/transactions/{id}`` and ``GET
/api/v1/transactions/{id}/plan`` read (:meth:`FleetView.transaction`,
:meth:`SmartChargingService.session`), so the figures an operator sees are
the API's. The list is keyset-paginated (:mod:`opencsms.domain.session_list`).
The list's filters come from a plain GET form: an unparsable date is
answered with the page and a message (422), not a bare error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Viewer
from opencsms.dashboard.pages.chart_series import Series, Step, chart
from opencsms.dashboard.templating import render
from opencsms.domain.fleet_view import TransactionDetail, TransactionFilter
from opencsms.domain.session_list import SessionList
from opencsms.domain.smart_charging.estimates import power_readings_w
from opencsms.domain.smart_charging.planner import Segment
from opencsms.domain.smart_charging.service import SessionPlanView
from opencsms.domain.smart_charging.session_view import energy_between, metered_between

router = APIRouter()
Context = Annotated[ApiContext, Depends(api_context)]

PAGE_SIZE = 50
LIVE_LIST = "transaction.started transaction.stopped"


def _day(name: str, value: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _filter(
    station: str, tag: str, active: bool, start: str, end: str
) -> tuple[TransactionFilter, dict[str, str]]:
    """The domain filter and the query string that reproduces it (for the pager).
    Dates are UTC days; ``to`` includes its day."""
    first, last = _day("from", start), _day("to", end)
    if first is not None and last is not None and last < first:
        raise ValueError("to must not be before from")
    where = TransactionFilter(
        station_id=station.strip() or None,
        id_tag=tag.strip() or None,
        started_from=None
        if first is None
        else datetime(first.year, first.month, first.day, tzinfo=UTC),
        started_before=(
            None
            if last is None
            else datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        ),
        active_only=active,
    )
    query = {
        "station": station.strip(),
        "tag": tag.strip(),
        "from": start.strip(),
        "to": end.strip(),
    }
    kept = {k: v for k, v in query.items() if v}
    if active:
        kept["active"] = "1"
    return where, kept


@router.get("/sessions", response_class=HTMLResponse)
async def session_list(
    request: Request,
    operator: Viewer,
    ctx: Context,
    station: str = "",
    tag: str = "",
    active: str = "",
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    after: str = "",
) -> HTMLResponse:
    """Query parameters are read as text and checked here, so a bad one gets
    this page with a message (422) rather than a bare validation error."""
    only_active = active.lower() in ("1", "true", "on", "yes")
    form = {"station": station, "tag": tag, "active": only_active, "from": start, "to": end}
    page: dict[str, Any] = {
        "form": form,
        "error": None,
        "rows": [],
        "query": "",
        "after": after,
        "next_after": None,
        "first": not after,
        "live": LIVE_LIST,
    }
    try:
        where, query = _filter(station, tag, only_active, start, end)
        if after and not after.isdigit():
            raise ValueError(f"after: {after!r} is not a session id")
    except ValueError as error:
        page["error"] = str(error)
        return render(request, "sessions.html", page, status_code=422, nav="sessions")
    found = await SessionList(ctx.services.uow).page(
        where, PAGE_SIZE, int(after) if after else None
    )
    page.update(rows=found.rows, query=urlencode(query), next_after=found.next_after)
    if request.headers.get("hx-request") == "true":
        return render(request, "sessions_rows.html", page, nav="sessions")
    return render(request, "sessions.html", page, nav="sessions")


async def _session(
    ctx: ApiContext, transaction_id: int
) -> tuple[TransactionDetail, SessionPlanView]:
    detail = await ctx.services.fleet.transaction(transaction_id)
    if detail is None:
        raise HTTPException(404, f"no session {transaction_id}")
    return detail, await ctx.services.smart_charging.session(transaction_id)


@router.get("/sessions/{transaction_id}", response_class=HTMLResponse)
async def session_page(
    request: Request, transaction_id: int, operator: Viewer, ctx: Context
) -> HTMLResponse:
    detail, view = await _session(ctx, transaction_id)
    need = view.need or view.assumed_need
    return render(
        request,
        "session.html",
        {
            "t": detail.transaction,
            "detail": detail,
            "view": view,
            "need": need,
            "need_assumed": view.need is None,
            "account": view.account,
            "estimate": view.estimate,
            "plan": view.plan,
            "profiles": view.profiles,
            "base": f"/dashboard/sessions/{transaction_id}",
        },
        nav="sessions",
    )


@router.get("/sessions/{transaction_id}/facts", response_class=HTMLResponse)
async def session_facts(
    request: Request, transaction_id: int, operator: Viewer, ctx: Context
) -> HTMLResponse:
    """The facts panel alone: refreshed live while the session is active."""
    detail = await ctx.services.fleet.transaction(transaction_id)
    if detail is None:
        raise HTTPException(404, f"no session {transaction_id}")
    return render(
        request, "session_facts.html", {"t": detail.transaction, "detail": detail}, nav="sessions"
    )


def _window_end(detail: TransactionDetail, view: SessionPlanView, now: datetime) -> datetime:
    """Where a session's charts end: its stop, else the later of now, the
    departure and its plan's end."""
    t = detail.transaction
    if t.stopped_at is not None:
        return t.stopped_at
    ends = [now, view.assumed_need.departure]
    if view.plan is not None and view.plan.segments:
        ends.append(view.plan.segments[-1].end)
    return max(ends)


@router.get("/sessions/{transaction_id}/power.json")
async def power_chart(transaction_id: int, operator: Viewer, ctx: Context) -> JSONResponse:
    """Power drawn against the newest plan's power, kW."""
    detail, view = await _session(ctx, transaction_id)
    drawn = [(at, w / 1000.0) for at, w in power_readings_w(detail.transaction, detail.samples)]
    series = [Series("Drawn", "kW", points=drawn)]
    if view.plan is not None:
        start = detail.transaction.started_at
        series.append(
            Series("Planned", "kW", steps=_with_pauses(view.plan.segments, start), dash=True)
        )
    return JSONResponse(chart(series))


def _with_pauses(segments: Sequence[Segment], start: datetime) -> list[Step]:
    """The plan's segments with its pauses as 0 kW steps, from the session's
    start: a plan that waits for cheap hours shows the wait, not a gap."""
    steps: list[Step] = []
    at = start
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.start > at:
            steps.append(Step(at, segment.start, 0.0))
        steps.append(Step(segment.start, segment.end, segment.power_kw))
        at = max(at, segment.end)
    return steps


@router.get("/sessions/{transaction_id}/energy.json")
async def energy_chart(transaction_id: int, operator: Viewer, ctx: Context) -> JSONResponse:
    """Energy delivered (cumulative, from the register) against the newest
    plan's, which starts from what was metered when it was made."""
    detail, view = await _session(ctx, transaction_id)
    delivered: list[tuple[datetime, float]] = []
    total = 0.0
    for interval in view.actual:
        if not delivered:
            delivered.append((interval.start, 0.0))
        total += interval.kwh
        delivered.append((interval.end, total))
    series = [Series("Delivered", "kWh", points=delivered)]
    plan = view.plan
    if plan is not None and plan.segments:
        made = max(plan.created_at, detail.transaction.started_at)
        base = metered_between(view.actual, detail.transaction.started_at, made)
        times = sorted({made} | {t for s in plan.segments for t in (s.start, s.end) if t > made})
        planned = [(t, base + energy_between(plan.segments, made, t)) for t in times]
        series.append(Series("Planned", "kWh", points=planned, dash=True))
    return JSONResponse(chart(series))


@router.get("/sessions/{transaction_id}/signals.json")
async def signals_chart(transaction_id: int, operator: Viewer, ctx: Context) -> JSONResponse:
    """The price and CO2 signals the session is priced with, over its window."""
    detail, view = await _session(ctx, transaction_id)
    service = ctx.services.smart_charging
    start = detail.transaction.started_at
    end = _window_end(detail, view, service.now())
    series: list[Series] = []
    if end > start:
        price_series, co2_series = await service.station_series(detail.transaction.station_id)
        for label, name in (("Price", price_series), ("CO2", co2_series)):
            rates = await service.signal_window(name, start, end)
            if rates:
                steps = [Step(r.start, r.end, r.value) for r in rates]
                series.append(Series(f"{label} ({name})", rates[0].unit, steps=steps))
    return JSONResponse(chart(series))
