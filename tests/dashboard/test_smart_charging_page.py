"""The smart-charging page over real HTTPS: signals and their coverage, a
site with its cap now (after a flexibility event) and its load chart, the
7-day savings as the API's ``/savings`` computes them, and the admin-only
signal import (the parser's message on a bad file, nothing stored)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event

from dashboard.conftest import DashboardClient
from dashboard.test_sessions import V1, Charging, charging_session, iso
from opencsms.app import CentralSystem
from opencsms.domain.model import Station, TagStatus, TransactionStart
from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.grid import FlexEvent, FlexInterval, SiteLimit
from opencsms.domain.smart_charging.records import Site

PAGE = "/dashboard/smart-charging"


@pytest.fixture
async def car(central: CentralSystem, api_client: httpx.AsyncClient) -> AsyncIterator[Charging]:
    async for session in charging_session(central, api_client):
        yield session


GOOD_CSV = (
    b"start,end,value,unit\n"
    b"2027-03-01T00:00Z,2027-03-01T00:30Z,12.5,p/kWh\n"
    b"2027-03-01T00:30Z,2027-03-01T01:00Z,11.0,p/kWh\n"
)


async def add_site(api_client: httpx.AsyncClient, car: Charging) -> None:
    put = await api_client.put(
        f"{V1}/sites/depot", json={"name": "North depot", "limit": {"value": 22, "unit": "kW"}}
    )
    assert put.status_code == 200, put.text
    assign = await api_client.put(f"{V1}/stations/CP1/site", json={"site_id": "depot"})
    assert assign.status_code == 200, assign.text
    event = {
        "site_id": "depot",
        "event_id": "dso-cap-1",
        "kind": "cap_kw",
        "intervals": [
            {
                "start": iso(car.now - timedelta(hours=1)),
                "end": iso(car.now + timedelta(hours=2)),
                "value": 11.0,
            }
        ],
    }
    stored = await api_client.post(f"{V1}/sites/depot/events", json=event)
    assert stored.status_code == 200, stored.text


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


async def test_the_page_shows_signals_sites_and_savings(
    car: Charging,
    reader_page: DashboardClient,
    api_client: httpx.AsyncClient,
) -> None:
    await add_site(api_client, car)
    page = await reader_page.get(PAGE)
    assert page.status_code == 200, page.text
    html = page.text

    signals = section(html, "signals-h")
    summaries = (await api_client.get(f"{V1}/signals")).json()
    assert [s["series"] for s in summaries] == ["co2", "price"]
    for summary in summaries:
        assert summary["series"] in signals and summary["unit"] in signals
        until = summary["last_end"].replace("T", " ").replace("Z", " UTC")
        assert until.replace("+00:00", " UTC") in signals  # covered until, to the second
    assert 'data-chart-src="/dashboard/smart-charging/signals.json"' in signals

    sites = section(html, "sites-h")
    assert "depot" in sites and "North depot" in sites
    assert "22.0 kW" in sites  # the limit
    assert re.search(r'class="cap-now">11\.00 kW<', sites)  # the event's cap, in force now
    assert "dso-cap-1" in sites and "(now)" in sites
    assert 'data-chart-src="/dashboard/smart-charging/sites/depot/load.json"' in sites

    start, end = car.now - timedelta(days=7), car.now + timedelta(seconds=5)
    report = (
        await api_client.get(f"{V1}/savings", params={"start": iso(start), "end": iso(end)})
    ).json()
    assert 'hx-get="/dashboard/smart-charging/savings" hx-trigger="load"' in html
    fragment = await reader_page.get(f"{PAGE}/savings", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    savings = fragment.text
    assert report["total"]["sessions"] == 1
    assert f"{report['total']['cost']:,.2f} p" in savings
    assert f"{report['total']['baseline_cost']:,.2f} p" in savings
    assert f"{report['total']['energy_kwh']:,.1f} kWh" in savings
    # a read-only operator sees no import form
    assert "Import a signal file" not in html
    # without htmx (no script): the savings as a page of their own
    page = await reader_page.get(f"{PAGE}/savings")
    assert "<html" in page.text and f"{report['total']['cost']:,.2f} p" in page.text


async def test_the_charts_json(
    car: Charging, reader_page: DashboardClient, api_client: httpx.AsyncClient
) -> None:
    await add_site(api_client, car)
    load = (await reader_page.get(f"{PAGE}/sites/depot/load.json")).json()
    assert [s["label"] for s in load["series"]] == ["Planned", "Cap"]
    assert all(s["stepped"] for s in load["series"])
    times, planned, cap = load["data"]
    assert 0 < len(times) <= 500 and len(planned) == len(cap) == len(times)
    assert cap[0] == 11.0 and 22.0 in cap  # the event's cap now, the site's limit after it
    assert max(v for v in planned if v is not None) > 0  # CP1's plan, under the cap
    assert all(p <= c + 1e-6 for p, c in zip(planned, cap, strict=True) if p is not None)

    signals = (await reader_page.get(f"{PAGE}/signals.json")).json()
    assert [s["unit"] for s in signals["series"]] == ["p/kWh", "gCO2/kWh"]
    assert len(signals["data"]) == 3 and 0 < len(signals["data"][0]) <= 500

    assert (await reader_page.get(f"{PAGE}/sites/ghost/load.json")).status_code == 404


async def test_an_empty_system(reader_page: DashboardClient) -> None:
    page = await reader_page.get(PAGE)
    assert page.status_code == 200, page.text
    assert "No signal is stored" in page.text and "No site is defined" in page.text
    signals = (await reader_page.get(f"{PAGE}/signals.json")).json()
    assert signals == {"series": [], "data": [[]]}


async def test_sites_are_paged(central: CentralSystem, reader_page: DashboardClient) -> None:
    for n in range(25):
        await central.services.smart_charging.put_site(Site(f"site-{n:02d}"))
    first = await reader_page.get(PAGE)
    shown = re.findall(r"<h3 id=\"site-\d+\">(site-\d+)", first.text)
    assert shown == [f"site-{n:02d}" for n in range(20)]
    after = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert after is not None
    second = await reader_page.get(after.group(1).replace("&amp;", "&"))
    shown = re.findall(r"<h3 id=\"site-\d+\">(site-\d+)", second.text)
    assert shown == [f"site-{n:02d}" for n in range(20, 25)]
    assert 'rel="next"' not in second.text


async def test_admins_import_a_signal_file(
    admin_page: DashboardClient, reader_page: DashboardClient, central: CentralSystem
) -> None:
    page = await admin_page.get(PAGE)
    assert "Import a signal file" in page.text and 'name="csrf_token"' in page.text

    def form(body: bytes, series: str = "price") -> dict[str, object]:
        return {
            "data": {"series": series, "format": "csv", "csrf_token": admin_page.csrf},
            "files": {"file": ("rates.csv", body, "text/csv")},
        }

    bad = await admin_page.post(
        f"{PAGE}/signals",
        htmx=False,
        **form(b"start,end,value,unit\n2027-03-01T00:00Z,2027-03-01T00:30Z,abc,p/kWh\n"),
    )
    assert bad.status_code == 422, bad.text
    assert "line 2" in bad.text and 'role="alert"' in bad.text
    assert await central.services.smart_charging.signal_summaries() == []
    bad_name = await admin_page.post(f"{PAGE}/signals", htmx=False, **form(GOOD_CSV, "a b"))
    assert bad_name.status_code == 422 and "series:" in bad_name.text

    good = await admin_page.post(f"{PAGE}/signals", htmx=False, **form(GOOD_CSV))
    assert good.status_code == 200, good.text
    assert "Stored 2 rates in price (p/kWh)" in good.text
    [summary] = await central.services.smart_charging.signal_summaries()
    assert (summary.series, summary.count) == ("price", 2)

    # read-only: refused; no CSRF token: refused
    await reader_page.get(PAGE)
    refused = await reader_page.post(
        f"{PAGE}/signals",
        htmx=False,
        data={"series": "price", "format": "csv"},
        files={"file": ("rates.csv", GOOD_CSV, "text/csv")},
    )
    assert refused.status_code == 403 and "read-only" in refused.text
    forged = await admin_page.http.post(
        f"{PAGE}/signals",
        data={"series": "co2", "format": "csv"},
        files={"file": ("rates.csv", GOOD_CSV, "text/csv")},  # its temporary file is closed
    )
    assert forged.status_code == 403
    assert len(await central.services.smart_charging.signal_summaries()) == 1


async def test_a_site_row_reads_none_of_its_members_sessions(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    """The row's cap now comes from the site's limit and events: the page
    reads no member's sessions or plans (``site_load`` read two queries per
    member: ~1.7 s for 20 sites of 50 stations, bench/dashboard.py), and the
    cap is still the event's while it is in force."""
    now = central.services.smart_charging.now()
    await central.services.smart_charging.put_site(
        Site("depot", "Depot", limit=SiteLimit("depot", 22.0))
    )
    await central.services.smart_charging.put_events(
        [
            FlexEvent(
                "depot",
                "dso-1",
                "cap_kw",
                (FlexInterval(now - timedelta(hours=1), now + timedelta(hours=1), 11.0),),
            )
        ]
    )

    async def fleet(repos: Repositories) -> None:
        for n in range(30):
            await repos.stations.add(Station(f"CP{n:02d}", None, now))
            await repos.sites.set_site_of(f"CP{n:02d}", "depot")
            start = TransactionStart(f"CP{n:02d}", 1, "TAG", 0, now - timedelta(minutes=5))
            await repos.transactions.create(start, TagStatus.ACCEPTED)

    await central.services.uow.run(fleet)
    statements: list[str] = []

    def seen(conn: object, cursor: object, sql: str, *args: object) -> None:
        statements.append(sql)

    engine = central.services.uow.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = await reader_page.get(PAGE)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200, page.text
    sites = section(page.text, "sites-h")
    assert re.search(r'class="cap-now">11\.00 kW<', sites)
    assert re.search(r"<dt>Stations</dt><dd>30</dd>", sites)
    assert statements, "the page's reads were seen"
    member_reads = [s for s in statements if "charging_plans" in s or "FROM transactions" in s]
    assert member_reads == []
