"""The session pages over real HTTPS: a real station charging with meter
values, a need, a plan and signals; the list (filters, keyset pages), the
detail (figures equal to the API's ``/plan``), the charts' JSON, 404s."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import ChargePoint, call

from dashboard.conftest import DashboardClient
from integration.stations import ocpp_station
from opencsms.app import CentralSystem
from opencsms.domain.model import IdTag, TransactionStart, TransactionStop

V1 = "/api/v1"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def rates_csv(start: datetime, hours: int, unit: str, dear: float, cheap: float) -> bytes:
    """Half-hourly rates from ``start``: ``dear`` for four hours, then ``cheap``."""
    lines = ["start,end,value,unit"]
    for slot in range(hours * 2):
        begin = start + timedelta(minutes=30 * slot)
        value = dear if slot < 8 else cheap
        lines.append(f"{iso(begin)},{iso(begin + timedelta(minutes=30))},{value},{unit}")
    return ("\n".join(lines) + "\n").encode()


def reading(at: datetime, wh: int, watts: float) -> dict[str, Any]:
    return {
        "timestamp": iso(at),
        "sampledValue": [
            {"measurand": "Energy.Active.Import.Register", "value": str(wh), "unit": "Wh"},
            {"measurand": "Power.Active.Import", "value": str(watts), "unit": "W"},
        ],
    }


@dataclass
class Charging:
    station: ChargePoint
    transaction_id: int
    now: datetime


async def upload_signals(api_client: httpx.AsyncClient, hour: datetime) -> None:
    for series, unit, dear, cheap in (("price", "p/kWh", 30.0, 5.0), ("co2", "gCO2/kWh", 300, 80)):
        body = rates_csv(hour - timedelta(hours=2), 26, unit, dear, cheap)
        response = await api_client.post(
            f"{V1}/signals/{series}", params={"format": "csv"}, content=body
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def charging(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> AsyncIterator[Charging]:
    async for session in charging_session(central, api_client):
        yield session


async def charging_session(
    central: CentralSystem, api_client: httpx.AsyncClient
) -> AsyncIterator[Charging]:
    """CP1 charging CARD1's car: 2 kWh metered over 20 min, a need, a plan, signals."""
    now = datetime.now(UTC).replace(microsecond=0)
    await upload_signals(api_client, now.replace(minute=0, second=0))
    await central.services.tags.put(IdTag("CARD1"))
    key = await central.services.stations.register("CP1")
    async with ocpp_station(central, "CP1", key) as station:
        await station.call(call.BootNotification(charge_point_vendor="A", charge_point_model="B"))
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        started = await station.call(
            call.StartTransaction(
                connector_id=1,
                id_tag="CARD1",
                meter_start=0,
                timestamp=iso(now - timedelta(minutes=30)),
            )
        )
        tx = started.transaction_id
        await station.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        await station.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    reading(now - timedelta(minutes=20), 1000, 6000.0),
                    reading(now - timedelta(minutes=10), 2000, 7200.0),
                ],
            )
        )
        need = await api_client.put(
            f"{V1}/transactions/{tx}/need",
            json={
                "energy_kwh": 10,
                "departure": iso(now + timedelta(hours=8)),
                "max_power_kw": 7.4,
            },
        )
        assert need.status_code == 200, need.text
        replanned = await api_client.post(f"{V1}/stations/CP1/replan")
        assert replanned.status_code == 200, replanned.text
        yield Charging(station, tx, now)


def text_of(html: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (tags dropped, spaces squeezed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(dd|p|span)>', html, re.S)
    assert match is not None, f"no #{element_id} in the page"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def money(value: float, unit: str) -> str:
    return f"{value:,.2f} {unit}"


async def test_the_list_shows_the_charging_session(
    charging: Charging, admin_page: DashboardClient
) -> None:
    page = await admin_page.get("/dashboard/sessions")
    assert page.status_code == 200, page.text
    tx = charging.transaction_id
    assert f'href="/dashboard/sessions/{tx}"' in page.text
    row = page.text[page.text.index(f"#{tx}") :].split("</tr>")[0]
    assert "CP1" in row and "CARD1" in row
    assert "2.00 kWh" in row  # the latest register reading
    assert "7.20 kW" in row  # the latest power reading
    assert "Charging" in row
    assert 'data-live="transaction.started transaction.stopped"' in page.text

    filtered = await admin_page.get("/dashboard/sessions", params={"station": "CP2"})
    assert f"#{tx}" not in filtered.text and "No session matches." in filtered.text
    today = charging.now.date().isoformat()
    dated = await admin_page.get(
        "/dashboard/sessions", params={"tag": "CARD1", "active": "1", "from": today, "to": today}
    )
    assert f"#{tx}" in dated.text
    bad = await admin_page.get("/dashboard/sessions", params={"from": "yesterday"})
    assert bad.status_code == 422 and "is not a date" in bad.text
    bad = await admin_page.get("/dashboard/sessions", params={"after": "x1"})
    assert bad.status_code == 422 and "is not a session id" in bad.text

    fragment = await admin_page.get("/dashboard/sessions", headers={"HX-Request": "true"})
    assert (
        fragment.status_code == 200 and "<html" not in fragment.text and f"#{tx}" in fragment.text
    )


async def test_the_detail_shows_the_domain_figures(
    charging: Charging, admin_page: DashboardClient, api_client: httpx.AsyncClient
) -> None:
    tx = charging.transaction_id
    page = await admin_page.get(f"/dashboard/sessions/{tx}")
    assert page.status_code == 200, page.text
    plan = (await api_client.get(f"{V1}/transactions/{tx}/plan")).json()
    account = plan["account"]
    assert account is not None and account["cost_unit"] == "p"
    html = page.text
    assert text_of(html, "account-energy") == f"{account['energy_kwh']:,.3f} kWh"
    assert text_of(html, "account-cost") == money(account["cost"], "p")
    assert text_of(html, "account-baseline") == money(account["baseline_cost"], "p")
    assert text_of(html, "session-energy") == "2.00 kWh"
    assert text_of(html, "session-power") == "7.20 kW"
    assert text_of(html, "need-energy").startswith("10.00 kWh (set by apikey:")
    assert 'href="/dashboard/stations/CP1"' in html
    assert plan["plan"]["method"] in html and "This session has no plan" not in html
    # the profile sent for the session, with its state as text
    [profile] = plan["profiles"]
    assert profile["purpose"] in html and f">{profile['state']}<" in html
    for chart in ("power", "energy", "signals"):
        assert f'data-chart-src="/dashboard/sessions/{tx}/{chart}.json"' in html
    assert 'data-live="meter.values" data-live-station="CP1"' in html
    assert f'hx-get="/dashboard/sessions/{tx}/facts" hx-trigger="live"' in html

    # a new reading: the live-refreshed facts panel shows it
    await charging.station.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx,
            meter_value=[reading(charging.now - timedelta(minutes=5), 3000, 7400.0)],
        )
    )
    facts = await admin_page.get(f"/dashboard/sessions/{tx}/facts", headers={"HX-Request": "true"})
    assert facts.status_code == 200 and "<html" not in facts.text
    assert text_of(facts.text, "session-energy") == "3.00 kWh"
    assert text_of(facts.text, "session-power") == "7.40 kW"


def check_chart(document: dict[str, Any], labels: list[str]) -> list[list[Any]]:
    assert [s["label"] for s in document["series"]] == labels
    data = document["data"]
    assert len(data) == len(labels) + 1
    assert 0 < len(data[0]) <= 500 and all(len(column) == len(data[0]) for column in data)
    assert data[0] == sorted(data[0])
    return data  # type: ignore[no-any-return]


async def test_the_charts_json(
    charging: Charging, reader_page: DashboardClient, api_client: httpx.AsyncClient
) -> None:
    tx = charging.transaction_id
    plan = (await api_client.get(f"{V1}/transactions/{tx}/plan")).json()

    power = (await reader_page.get(f"/dashboard/sessions/{tx}/power.json")).json()
    drawn, planned = check_chart(power, ["Drawn", "Planned"])[1:]
    assert [s["unit"] for s in power["series"]] == ["kW", "kW"]
    assert power["series"][1]["stepped"] and power["series"][1]["dash"]
    assert 6.0 in drawn and 7.2 in drawn
    assert max(v for v in planned if v is not None) == pytest.approx(
        max(s["power_kw"] for s in plan["plan"]["segments"]), abs=1e-3
    )

    energy = (await reader_page.get(f"/dashboard/sessions/{tx}/energy.json")).json()
    delivered, planned_kwh = check_chart(energy, ["Delivered", "Planned"])[1:]
    assert [v for v in delivered if v is not None][-1] == pytest.approx(plan["metered_kwh"])
    assert [v for v in planned_kwh if v is not None][-1] == pytest.approx(
        plan["metered_kwh"]
        + sum(
            s["energy_kwh"]
            for s in plan["plan"]["segments"]
            if datetime.fromisoformat(s["start"])
            >= datetime.fromisoformat(plan["plan"]["created_at"])
        ),
        abs=0.05,
    )

    signals = (await reader_page.get(f"/dashboard/sessions/{tx}/signals.json")).json()
    check_chart(signals, ["Price (price)", "CO2 (co2)"])
    assert [s["unit"] for s in signals["series"]] == ["p/kWh", "gCO2/kWh"]
    assert {30.0, 5.0} <= set(signals["data"][1]) and {300.0, 80.0} <= set(signals["data"][2])


async def test_a_session_without_plan_or_signals(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    await central.services.stations.register("CP9")
    at = datetime(2027, 1, 1, 8, tzinfo=UTC)
    tx, _ = await central.services.transactions.start(TransactionStart("CP9", 1, "T", 100, at))
    await central.services.transactions.stop(
        TransactionStop("CP9", tx, 5100, at + timedelta(hours=1))
    )
    page = await reader_page.get(f"/dashboard/sessions/{tx}")
    assert page.status_code == 200, page.text
    assert "This session has no plan" in page.text
    assert "No price or CO2 signal covers this session" in page.text
    assert text_of(page.text, "session-energy") == "5.00 kWh"
    assert "Finished" in page.text and 'data-live="meter.values"' not in page.text
    for chart in ("power", "energy", "signals"):
        document = (await reader_page.get(f"/dashboard/sessions/{tx}/{chart}.json")).json()
        assert set(document) == {"series", "data"}
        assert len(document["data"]) == len(document["series"]) + 1


async def test_unknown_sessions_are_404_pages(reader_page: DashboardClient) -> None:
    page = await reader_page.get("/dashboard/sessions/999")
    assert page.status_code == 404 and "no session 999" in page.text and "<html" in page.text
    for part in ("power.json", "energy.json", "signals.json", "facts"):
        assert (await reader_page.get(f"/dashboard/sessions/999/{part}")).status_code == 404


async def test_keyset_pages_through_many_sessions(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    """120 sessions, 40 of them sharing a start second: every one shown once, newest first."""
    await central.services.stations.register("CP1")
    base = datetime(2027, 1, 1, tzinfo=UTC)
    expected: list[tuple[datetime, int]] = []
    for n in range(120):
        at = base + timedelta(minutes=n) if n < 80 else base + timedelta(hours=5)
        tx, _ = await central.services.transactions.start(
            TransactionStart("CP1", 1 + n % 2, f"TAG{n}", 0, at)
        )
        expected.append((at, tx))
    expected.sort(reverse=True)

    seen: list[int] = []
    url: str | None = "/dashboard/sessions?station=CP1"
    pages = 0
    while url is not None:
        page = await reader_page.get(url)
        assert page.status_code == 200, page.text
        ids = [int(i) for i in re.findall(r'href="/dashboard/sessions/(\d+)"', page.text)]
        assert len(ids) == (50 if pages < 2 else 20)
        seen.extend(ids)
        pages += 1
        after = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = after.group(1).replace("&amp;", "&") if after else None
        if url is not None:
            assert "station=CP1" in url
    assert pages == 3
    assert seen == [tx for _, tx in expected]
