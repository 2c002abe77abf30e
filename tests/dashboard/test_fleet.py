"""The fleet page (``/dashboard/``) over real HTTPS, with simulated stations
connected over WSS: two charging, one faulted, one that came and went, one
registered that never connected (the real central system, SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard.conftest import DashboardClient
from integration.conftest import api_client_for
from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag, ProvisioningItem, ProvisioningState
from opencsms.domain.ports import Repositories
from opencsms.domain.smart_charging.records import ProfileRecord, ProfileState, Site
from opencsms.simulator import EV, ConnectionSettings, FakeClock, SimulatedStation

ROW = re.compile(r'<th scope="row"><a href="/dashboard/stations/([^"]+)">')


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.05)


def text(page: str) -> str:
    return html.unescape(page)


def table_ids(page: str) -> list[str]:
    """The station ids of the station table, in order."""
    table = page.split('id="fleet-table"', 1)[1]
    return ROW.findall(table)


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</div>", start)]


@contextlib.asynccontextmanager
async def connected(
    central: CentralSystem, clock: FakeClock, station_id: str, **kwargs: Any
) -> AsyncIterator[SimulatedStation]:
    key = await central.services.stations.register(station_id)
    station = SimulatedStation(
        station_id, clock=clock, authorization_key=key, connectors=2, **kwargs
    )
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )

    async def up() -> bool:
        return station.cp.online and central.registry.get(station_id) is not None

    await eventually(up)
    try:
        yield station
    finally:
        await station.close()


async def charge(central: CentralSystem, station: SimulatedStation) -> None:
    tag = f"TAG-{station.identity}"
    await central.services.tags.put(IdTag(tag))
    await station.plug_in(1, EV(soc=20))
    assert await station.present_tag(tag, 1) == "Accepted"


def latest_power_sent(station: SimulatedStation) -> float:
    """The station's last Power.Active.Import reading, in W, as it sent it."""
    sent = station.journal.calls("sent", "MeterValues")[-1]
    for value in sent["meterValue"][-1]["sampledValue"]:
        if value.get("measurand") == "Power.Active.Import":
            return float(value["value"]) * (1000.0 if value.get("unit") == "kW" else 1.0)
    raise AssertionError(f"no power reading in {sent}")


@pytest.fixture
async def fleet(
    central: CentralSystem,
) -> AsyncIterator[dict[str, SimulatedStation]]:
    """CH-1 and CH-2 charging, FLT-1 with connector 1 faulted, GONE-1 seen
    and gone, NEW-1 registered only."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    await central.services.stations.register("NEW-1")
    async with connected(central, clock, "GONE-1"):

        async def reported() -> bool:  # its connectors' Available is stored, then it goes
            detail = await central.services.fleet.station("GONE-1")
            return detail is not None and {1, 2} <= {c.connector_id for c in detail.connectors}

        await eventually(reported)

    async def gone() -> bool:
        return central.registry.get("GONE-1") is None

    await eventually(gone)
    async with contextlib.AsyncExitStack() as stack:
        stations = {
            sid: await stack.enter_async_context(connected(central, clock, sid, **make))
            for sid, make in (
                ("CH-1", {"vendor": "ACME Chargers", "model": "Volt-22"}),
                ("CH-2", {"vendor": "ACME Chargers", "model": "Volt-11"}),
                ("FLT-1", {"vendor": "Borealis", "model": "Wallbox"}),
            )
        }
        await charge(central, stations["CH-1"])
        await charge(central, stations["CH-2"])
        await stations["FLT-1"].fault(1, "GroundFailure")
        await clock.advance(61)  # a MeterValueSampleInterval: power readings go out

        async def sampled() -> bool:
            return all(stations[s].journal.calls("sent", "MeterValues") for s in ("CH-1", "CH-2"))

        await eventually(sampled)
        yield stations


async def test_cards_problems_and_table_show_the_fleet(
    central: CentralSystem, fleet: dict[str, SimulatedStation], admin_page: DashboardClient
) -> None:
    watts = latest_power_sent(fleet["CH-1"]) + latest_power_sent(fleet["CH-2"])
    assert watts > 0
    power = f"{watts / 1000:,.1f} kW"

    async def settled() -> bool:
        cards = text((await admin_page.get("/dashboard/fleet/cards")).text)
        return all(
            expected in cards
            for expected in (
                power,
                '<span class="value">1</span> Faulted',
                '<span class="value">2</span> Charging',
                '<span class="value">5</span> Available',
            )
        )

    await eventually(settled)
    response = await admin_page.get("/dashboard/")
    assert response.status_code == 200
    page = text(response.text)
    assert 'aria-current="page"' in page and ">Fleet<" in page
    cards = page[page.index('id="fleet-cards"') : page.index("</section>")]
    for card, value in (
        ("stations", "5"),
        ("online", "3"),
        ("offline", "2"),
        ("sessions", "2"),
        ("power", power),
    ):
        assert f'id="card-{card}">{value}<' in cards, (card, value, cards)
    assert '<span class="value">2</span> Charging' in cards
    assert '<span class="value">1</span> Faulted' in cards
    # connector 2 of CH-1, CH-2, FLT-1, and both of GONE-1 (its last report stands)
    assert '<span class="value">5</span> Available' in cards
    assert '<span class="value">0</span> SuspendedEVSE' in cards  # every status has a card
    assert 'data-live="connector.status station.connected station.disconnected' in cards

    faulted = section(page, "problems-faulted")
    assert "/dashboard/stations/FLT-1" in faulted and "GroundFailure" in faulted
    assert "CH-1" not in faulted
    offline = section(page, "problems-offline")
    assert "/dashboard/stations/GONE-1" in offline
    assert "NEW-1" not in offline  # never seen: not a station that went away
    assert "problems-provisioning" not in page and "problems-profiles" not in page

    assert table_ids(page) == ["CH-1", "CH-2", "FLT-1", "GONE-1", "NEW-1"]
    row = page.split('href="/dashboard/stations/CH-1"', 1)[1].split("</tr>", 1)[0]
    assert "Online" in row and "ACME Chargers / Volt-22" in row
    assert "status-charging" in row and "status-available" in row
    assert f"{latest_power_sent(fleet['CH-1']) / 1000:,.2f} kW" in row
    new = page.split('href="/dashboard/stations/NEW-1"', 1)[1].split("</tr>", 1)[0]
    assert "Offline" in new and "never booted" in new and "never" in new
    table = (
        page.split('id="fleet-table"', 1)[0].rsplit("<div", 1)[1]
        + page.split('id="fleet-table"', 1)[1].split(">", 1)[0]
    )
    assert 'hx-trigger="live"' in table and "/dashboard/fleet/table?" in table


async def test_filters_narrow_the_table(
    central: CentralSystem, fleet: dict[str, SimulatedStation], admin_page: DashboardClient
) -> None:
    await central.services.uow.run(lambda r: r.sites.put(Site("depot", "Depot")))
    await central.services.uow.run(lambda r: r.sites.set_site_of("CH-2", "depot"))

    async def faulted_stored() -> bool:
        faulted = await admin_page.get("/dashboard/?status=Faulted")
        charging = await admin_page.get("/dashboard/?status=Charging")
        return table_ids(faulted.text) == ["FLT-1"] and len(table_ids(charging.text)) == 2

    await eventually(faulted_stored)

    async def ids(query: str) -> list[str]:
        response = await admin_page.get(f"/dashboard/?{query}")
        assert response.status_code == 200, response.text
        return table_ids(response.text)

    assert await ids("online=online") == ["CH-1", "CH-2", "FLT-1"]
    assert await ids("online=offline") == ["GONE-1", "NEW-1"]
    assert await ids("status=Charging") == ["CH-1", "CH-2"]
    assert await ids("status=Charging&online=offline") == []
    assert await ids("site=depot") == ["CH-2"]
    assert await ids("q=ch") == ["CH-1", "CH-2"]  # prefix of the id, any case
    assert await ids("q=borealis") == ["FLT-1"]  # vendor
    assert await ids("q=volt-11") == ["CH-2"]  # model
    assert await ids("q=nothing-like-it") == []
    page = (await admin_page.get("/dashboard/?online=offline&status=Faulted")).text
    assert '<option value="offline" selected>' in page
    assert '<option value="Faulted" selected>' in page
    assert '<option value="depot">Depot</option>' in page
    for name in ("q", "online", "status", "site"):
        assert f'<label for="f-{name}">' in page


async def test_bad_filters_answer_422_with_the_reason(admin_page: DashboardClient) -> None:
    response = await admin_page.get("/dashboard/?status=Broken&online=maybe")
    assert response.status_code == 422
    body = text(response.text)
    assert "'Broken' is not an OCPP 1.6 status" in body
    assert "'maybe' is not online or offline" in body
    assert 'role="alert"' in body
    long = await admin_page.get("/dashboard/fleet/table?q=" + "x" * 65)
    assert long.status_code == 422 and "at most 64 characters" in long.text


async def test_pages_of_fifty_over_120_stations(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    for i in range(120):
        await central.services.stations.register(f"PG-{i:03d}")
    first = await admin_page.get("/dashboard/")
    ids = table_ids(first.text)
    assert ids == [f"PG-{i:03d}" for i in range(50)]
    assert "First page" not in first.text
    after = re.search(r'rel="next" href="/dashboard/\?after=([^"]+)"', first.text)
    assert after is not None and after.group(1) == "PG-049"
    second = await admin_page.get("/dashboard/?after=PG-049")
    assert table_ids(second.text) == [f"PG-{i:03d}" for i in range(50, 100)]
    assert "First page" in second.text
    third = await admin_page.get("/dashboard/?after=PG-099")
    assert table_ids(third.text) == [f"PG-{i:03d}" for i in range(100, 120)]
    assert 'rel="next"' not in third.text
    # the filters travel with the pager, and the cursor with the live refresh
    offline = await admin_page.get("/dashboard/?online=offline&q=pg-0")
    assert len(table_ids(offline.text)) == 50
    assert 'href="/dashboard/?q=pg-0&amp;online=offline&amp;after=PG-049"' in offline.text
    assert 'hx-get="/dashboard/fleet/table?q=pg-0&amp;online=offline&amp;after=PG-049"' in (
        (await admin_page.get("/dashboard/?q=pg-0&online=offline&after=PG-049")).text
    )
    last = await admin_page.get("/dashboard/?online=offline&q=pg-0&after=PG-049")
    assert table_ids(last.text) == [f"PG-{i:03d}" for i in range(50, 100)]


async def test_problems_list_failed_provisioning_and_profiles(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    await central.services.stations.register("PRV-1")
    now = datetime.now(UTC)

    async def failures(r: Repositories) -> None:
        await r.configuration.put_item(
            ProvisioningItem(
                "PRV-1", "HeartbeatInterval", "300", ProvisioningState.REJECTED, 2, now
            )
        )
        await r.charging.put_profile(
            ProfileRecord(
                "PRV-1",
                1,
                "TxProfile",
                9,
                {},
                ProfileState.FAILED,
                "flip_unit",
                7,
                now,
                detail="limit not in effect",
            )
        )

    await central.services.uow.run(failures)
    page = text((await reader_page.get("/dashboard/")).text)
    provisioning = section(page, "problems-provisioning")
    assert "/dashboard/stations/PRV-1" in provisioning
    assert "HeartbeatInterval = 300" in provisioning and "rejected" in provisioning
    profiles = section(page, "problems-profiles")
    assert "/dashboard/stations/PRV-1" in profiles
    assert "TxProfile" in profiles and "failed" in profiles and "limit not in effect" in profiles


async def test_read_only_operator_sees_the_page(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    await central.services.stations.register("RO-1")
    response = await reader_page.get("/dashboard/")
    assert response.status_code == 200
    assert table_ids(response.text) == ["RO-1"]
    assert "viewer" in response.text


async def test_not_logged_in_goes_to_the_login_page(central: CentralSystem) -> None:
    async with api_client_for(central, None) as http:
        for path in (
            "/dashboard/?status=Faulted",
            "/dashboard/fleet/table",
            "/dashboard/fleet/cards",
        ):
            response = await http.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/dashboard/login?next=")
        fragment = await http.get("/dashboard/fleet/table", headers={"HX-Request": "true"})
        assert fragment.status_code == 401 and "HX-Redirect" in fragment.headers


async def test_htmx_requests_get_only_the_table(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    await central.services.stations.register("HX-1")
    await central.services.stations.register("HX-2")
    for path in ("/dashboard/fleet/table?q=hx-2", "/dashboard/?q=hx-2"):
        response = await admin_page.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 200
        body = response.text
        assert body.lstrip().startswith('<div id="fleet-table"'), body[:200]
        assert "<html" not in body and "fleet-cards" not in body and "<form" not in body
        assert table_ids(body) == ["HX-2"]
    # a history restore needs the whole page
    restore = await admin_page.get(
        "/dashboard/?q=hx-2",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text and "fleet-cards" in restore.text
    cards = await admin_page.get("/dashboard/fleet/cards", headers={"HX-Request": "true"})
    assert cards.text.lstrip().startswith('<section id="fleet-cards"')
    assert 'id="card-stations">2<' in cards.text
    problems = await admin_page.get("/dashboard/fleet/problems", headers={"HX-Request": "true"})
    assert problems.text.lstrip().startswith('<section id="fleet-problems"')
    assert "No problems" in problems.text
