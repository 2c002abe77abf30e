"""The fleet: ``/dashboard/``, the dashboard's home page.

Three parts, each also served alone as a fragment so it can refresh live
(``data-live`` + ``hx-trigger="live"``, see ``static/dashboard.js``):

* summary cards (``/dashboard/fleet/cards``): stations registered, online on
  this node, offline, connectors by status, power now, active sessions;
* problems (``/dashboard/fleet/problems``): faulted connectors, offline
  stations, configuration keys that failed, profiles that never took;
* the station list (``/dashboard/fleet/table``): filtered by presence,
  connector status, site and a search on id, vendor or model; keyset pages
  of :data:`PAGE_SIZE`.

The filters are a plain GET form on ``/dashboard/`` (works without
JavaScript); htmx sends the same form on change and swaps only the table
(``/dashboard/`` answers an htmx request with the table fragment, so the
pushed URL is the full page's). Reads go through
:class:`~opencsms.domain.fleet_overview.FleetOverview`: aggregates and
bounded pages, never the whole fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Viewer
from opencsms.dashboard.single_flight import SingleFlight
from opencsms.dashboard.templating import render
from opencsms.domain.fleet_overview import CONNECTOR_STATUSES, FleetOverview, FleetSummary
from opencsms.domain.ports import StationQuery

router = APIRouter()
Context = Annotated[ApiContext, Depends(api_context)]

PAGE_SIZE = 50
PROBLEMS_LIMIT = 20
MAX_TEXT = 64
LIVE_TABLE = "connector.status station.connected station.disconnected"
LIVE_CARDS = LIVE_TABLE + " transaction.started transaction.stopped"
LIVE_PROBLEMS = LIVE_TABLE + " provisioning.changed"
PRESENCE = ("online", "offline")


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters as the form sent them, checked."""

    q: str = ""
    online: str = ""
    status: str = ""
    site: str = ""

    def query(self) -> StationQuery:
        return StationQuery(
            text=self.q or None,
            connector_status=self.status or None,
            site_id=self.site or None,
        )

    def presence(self) -> bool | None:
        return None if not self.online else self.online == "online"

    def encoded(self) -> str:
        """The query string that reproduces the filters (for the pager and refreshes)."""
        pairs = {"q": self.q, "online": self.online, "status": self.status, "site": self.site}
        return urlencode({k: v for k, v in pairs.items() if v})


def _filters(q: str, online: str, status: str, site: str) -> tuple[Filters, str | None]:
    """The filters and what is wrong with them (None when nothing): a bad value
    is dropped, so the page still shows the list with the rest applied."""
    form = Filters(q.strip(), online.strip(), status.strip(), site.strip())
    errors = []
    if len(form.q) > MAX_TEXT:
        errors.append(f"search: at most {MAX_TEXT} characters")
        form = Filters("", form.online, form.status, form.site)
    if form.online and form.online not in PRESENCE:
        errors.append(f"presence: {form.online!r} is not online or offline")
        form = Filters(form.q, "", form.status, form.site)
    if form.status and form.status not in CONNECTOR_STATUSES:
        errors.append(f"connector status: {form.status!r} is not an OCPP 1.6 status")
        form = Filters(form.q, form.online, "", form.site)
    return form, "; ".join(errors) or None


async def _table(ctx: ApiContext, form: Filters, after: str | None) -> dict[str, Any]:
    found = await FleetOverview(ctx.services.uow).stations(
        form.query(), PAGE_SIZE, after, ctx.registry.connected(), form.presence()
    )
    query = form.encoded()
    here = query if after is None else f"{query}{'&' if query else ''}{urlencode({'after': after})}"
    return {
        "rows": found.rows,
        "next_after": found.next_after,
        "first": after is None,
        "query": query,
        "here": here,
        "live_table": LIVE_TABLE,
    }


async def _cards(request: Request, ctx: ApiContext) -> dict[str, Any]:
    """The cards, read once for all the pages that ask at the same moment."""
    state = request.app.state
    shared: SingleFlight[FleetSummary] | None = getattr(state, "fleet_summary", None)
    if shared is None:
        shared = state.fleet_summary = SingleFlight()
    overview = FleetOverview(ctx.services.uow)
    summary = await shared.get(lambda: overview.summary(ctx.registry.connected()))
    return {"summary": summary, "live_cards": LIVE_CARDS}


async def _problems(ctx: ApiContext) -> dict[str, Any]:
    problems = await FleetOverview(ctx.services.uow).problems(
        ctx.registry.connected(), PROBLEMS_LIMIT
    )
    return {"problems": problems, "live_problems": LIVE_PROBLEMS}


def _fragment_wanted(request: Request) -> bool:
    """An htmx swap of the table; not a history restore, which needs the whole page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


@router.get("/", response_class=HTMLResponse)
async def fleet_page(
    request: Request,
    operator: Viewer,
    ctx: Context,
    q: str = "",
    online: str = "",
    status: str = "",
    site: str = "",
    after: str | None = None,
) -> HTMLResponse:
    if _fragment_wanted(request):
        return await fleet_table(request, operator, ctx, q, online, status, site, after)
    form, error = _filters(q, online, status, site)
    code = 422 if error else 200
    page = {**await _table(ctx, form, after), "form": form, "error": error}
    page.update(await _cards(request, ctx))
    page.update(await _problems(ctx))
    page["sites"] = await FleetOverview(ctx.services.uow).sites()
    page["statuses"] = CONNECTOR_STATUSES
    return render(request, "fleet.html", page, status_code=code, nav="fleet")


@router.get("/fleet/table", response_class=HTMLResponse)
async def fleet_table(
    request: Request,
    operator: Viewer,
    ctx: Context,
    q: str = "",
    online: str = "",
    status: str = "",
    site: str = "",
    after: str | None = None,
) -> HTMLResponse:
    form, error = _filters(q, online, status, site)
    page = {**await _table(ctx, form, after), "form": form, "error": error}
    return render(request, "fleet_table.html", page, status_code=422 if error else 200, nav="fleet")


@router.get("/fleet/cards", response_class=HTMLResponse)
async def fleet_cards(request: Request, operator: Viewer, ctx: Context) -> HTMLResponse:
    return render(request, "fleet_cards.html", await _cards(request, ctx), nav="fleet")


@router.get("/fleet/problems", response_class=HTMLResponse)
async def fleet_problems(request: Request, operator: Viewer, ctx: Context) -> HTMLResponse:
    return render(request, "fleet_problems.html", await _problems(ctx), nav="fleet")
