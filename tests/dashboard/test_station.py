"""The station page and its commands, over real HTTPS, with a simulated
station connected over WSS (the real central system, SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.conftest import DashboardClient
from opencsms.app import CentralSystem
from opencsms.dashboard.pages.station import power_series
from opencsms.domain.commands import StationOffline
from opencsms.domain.model import IdTag, SampledValue, StoredMeterValue
from opencsms.domain.smart_charging.records import ProfileRecord, ProfileState
from opencsms.simulator import EV, ConnectionSettings, FakeClock, SimulatedStation


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def online(central: CentralSystem, station_id: str) -> AsyncIterator[SimulatedStation]:
    key = await central.services.stations.register(station_id)
    station = SimulatedStation(
        station_id,
        clock=FakeClock(datetime.now(UTC).replace(microsecond=0)),
        authorization_key=key,
        connectors=2,
        vendor="ACME Chargers",
        model="Volt-22",
    )
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
    try:
        yield station
    finally:
        await station.close()


async def configured(central: CentralSystem, station_id: str) -> None:
    """Provisioning's GetConfiguration answered and its snapshot stored."""
    async with asyncio.timeout(10):
        while not (await central.services.provisioning.configuration(station_id)).entries:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def text(page: str) -> str:
    return html.unescape(page)


async def test_the_page_shows_the_station_its_connectors_and_configuration(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    async with online(central, "CP-PAGE") as station:
        await configured(central, "CP-PAGE")
        await station.fault(2, "GroundFailure")
        await eventually(lambda: station.journal.calls("sent", "StatusNotification"))
        await asyncio.sleep(0.2)
        page = await admin_page.get("/dashboard/stations/CP-PAGE")
        frames = text((await admin_page.get("/dashboard/stations/CP-PAGE/messages")).text)
    assert page.status_code == 200
    body = text(page.text)
    for expected in ("ACME Chargers", "Volt-22", "SIM-CP-PAGE", "1.0.0", "Online"):
        assert expected in body, expected
    assert "GroundFailure" in body and "Faulted" in body
    assert "HeartbeatInterval" in body  # a key the station reported
    assert "Core" in body  # its feature profiles
    assert 'aria-current="page"' in page.text and ">Fleet<" in page.text
    assert 'aria-live="polite"' in page.text and 'id="command-result"' in page.text
    assert "not a durable log" in body
    boot = next(row for row in frames.split("<tr>") if '"BootNotification",{' in row)
    assert "station → us" in boot and "ACME Chargers" in boot and "Volt-22" in boot
    answer = next(
        r for r in frames.split("<tr>") if "<td>result</td>" in r and "BootNotification" in r
    )
    assert "us → station" in answer  # our reply, named after the CALL it answers
    assert '"status":"Accepted"' in answer.replace(" ", "")
    assert "disabled" not in page.text.split('class="station-actions"')[1][:40]


async def test_reset_from_the_dashboard_reaches_the_station_and_is_listed(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    async with online(central, "CP-RESET") as station:
        await configured(central, "CP-RESET")
        await admin_page.get("/dashboard/stations/CP-RESET")
        result = await admin_page.post(
            "/dashboard/stations/CP-RESET/commands/reset", data={"type": "Soft"}
        )
        assert result.status_code == 200, result.text
        assert "Reset" in result.text and "Accepted" in result.text
        assert result.headers["HX-Trigger"] == "station-command"
        assert station.journal.calls("received", "Reset") == [{"type": "Soft"}]

    commands = await admin_page.get("/dashboard/stations/CP-RESET/commands")
    row = next(r for r in commands.text.split("<tr>") if ">Reset<" in r)
    assert "operator:ops" in row and "answered" in row and "Accepted" in row
    page = await admin_page.get("/dashboard/stations/CP-RESET")
    assert "operator:ops" in page.text


async def test_remote_start_with_an_id_tag_starts_a_transaction(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    await central.services.tags.put(IdTag("DASH-TAG"))
    async with online(central, "CP-START") as station:
        await station.plug_in(1, EV(soc=30))
        await admin_page.get("/dashboard/stations/CP-START")
        result = await admin_page.post(
            "/dashboard/stations/CP-START/commands/remote-start",
            data={"connector": "1", "id_tag": "DASH-TAG"},
        )
        assert "RemoteStartTransaction" in result.text and "Accepted" in result.text
        await eventually(lambda: station.transaction_id(1) is not None)
        transaction_id = station.transaction_id(1)
        await station.advance(180)  # three MeterValues at the default 60 s interval
        await eventually(lambda: len(station.journal.calls("sent", "MeterValues")) >= 2)
        await asyncio.sleep(0.3)  # stored (the group commit) before we read
        connectors = await admin_page.get("/dashboard/stations/CP-START/connectors")
        assert f'href="/dashboard/sessions/{transaction_id}"' in connectors.text
        assert "DASH-TAG" in connectors.text

        chart = (await admin_page.get("/dashboard/stations/CP-START/power.json")).json()
        assert [s["label"] for s in chart["series"]] == ["Drawn", "Limit"]
        times, drawn = chart["data"][0], chart["data"][1]
        assert len(times) >= 1 and len(times) == len(drawn) == len(chart["data"][2])
        assert max(v for v in drawn if v is not None) > 1.0  # kW: the car charges
        assert "kW" in connectors.text

        stop = await admin_page.post(
            "/dashboard/stations/CP-START/commands/remote-stop",
            data={"transaction_id": str(transaction_id)},
        )
        assert "RemoteStopTransaction" in stop.text and "Accepted" in stop.text


async def test_read_only_operators_see_disabled_buttons_and_get_403(
    central: CentralSystem, reader_page: DashboardClient
) -> None:
    async with online(central, "CP-RO") as station:
        page = await reader_page.get("/dashboard/stations/CP-RO")
        assert page.status_code == 200
        assert "read-only operator" in page.text
        assert 'class="station-actions" disabled' in page.text
        denied = await reader_page.post(
            "/dashboard/stations/CP-RO/commands/reset", data={"type": "Hard"}
        )
        assert denied.status_code == 403
        assert station.journal.calls("received", "Reset") == []


async def test_without_the_csrf_token_a_command_is_refused(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    await central.services.stations.register("CP-CSRF")
    refused = await admin_page.http.post(
        "/dashboard/stations/CP-CSRF/commands/reset",
        data={"type": "Soft"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403
    assert await central.services.commands.list("CP-CSRF") == []


async def test_unknown_station_is_a_404_page(admin_page: DashboardClient) -> None:
    page = await admin_page.get("/dashboard/stations/NOPE")
    assert page.status_code == 404 and "NOPE" in text(page.text) and "<html" in page.text
    assert (await admin_page.get("/dashboard/stations/NOPE/power.json")).status_code == 404
    posted = await admin_page.post("/dashboard/stations/NOPE/commands/reset", data={"type": "Soft"})
    assert posted.status_code == 404


async def test_an_offline_station_gets_a_clear_message_and_bad_input_a_422(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    await central.services.stations.register("CP-OFF")
    page = await admin_page.get("/dashboard/stations/CP-OFF")
    assert "Offline" in page.text and "No frames kept" in page.text
    result = await admin_page.post(
        "/dashboard/stations/CP-OFF/commands/reset", data={"type": "Soft"}
    )
    assert result.status_code == 200
    assert "offline" in result.text
    [command] = await central.services.commands.list("CP-OFF")
    assert (command.state.value, command.requested_by) == ("failed", "operator:ops")

    for name, data, reason in [
        ("reset", {"type": "Sideways"}, "Reset type must be one of Soft, Hard"),
        ("remote-start", {"id_tag": ""}, "Id tag is required"),
        ("unlock", {"connector": "0"}, "Connector must be at least 1"),
        ("limit", {"limit": "lots", "unit": "kW"}, "Limit must be a number"),
        ("trigger", {"message": "Reset"}, "Message must be one of"),
    ]:
        bad = await admin_page.post(f"/dashboard/stations/CP-OFF/commands/{name}", data=data)
        assert bad.status_code == 422, name
        assert reason in text(bad.text), (name, bad.text)
    assert len(await central.services.commands.list("CP-OFF")) == 1  # nothing more stored
    unknown = await admin_page.post("/dashboard/stations/CP-OFF/commands/x", data={})
    assert unknown.status_code == 404


async def test_set_limit_sends_a_charge_point_max_profile(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    async with online(central, "CP-LIM") as station:
        await admin_page.get("/dashboard/stations/CP-LIM")
        result = await admin_page.post(
            "/dashboard/stations/CP-LIM/commands/limit", data={"limit": "7.5", "unit": "kW"}
        )
        assert "SetChargingProfile" in result.text and "Accepted" in result.text
        [sent] = station.journal.calls("received", "SetChargingProfile")[-1:]
        chart = (await admin_page.get("/dashboard/stations/CP-LIM/power.json")).json()
        assert chart["data"][2][-1] == 7.5  # the limit in force, in kW

        cleared = await admin_page.post("/dashboard/stations/CP-LIM/commands/clear-limit", data={})
        assert "ClearChargingProfile" in cleared.text and "Accepted" in cleared.text
        assert station.journal.calls("received", "ClearChargingProfile")[-1:] == [{"id": 9290}]
        chart = (await admin_page.get("/dashboard/stations/CP-LIM/power.json")).json()
        assert chart["data"][2][-1:] != [7.5]  # no manual limit in force any more
    profile = sent["csChargingProfiles"]
    assert sent["connectorId"] == 0
    assert profile["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert profile["chargingSchedule"]["chargingRateUnit"] == "W"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7500.0}
    ]


def _sample(
    at: datetime, connector: int, measurand: str, value: str, unit: str
) -> StoredMeterValue:
    return StoredMeterValue(
        "CP", connector, None, None, at, at, SampledValue(value, measurand=measurand, unit=unit)
    )


def test_power_series_sums_connectors_and_is_downsampled() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    samples = []
    for minute in range(360 * 2):  # two readings a minute for 6 hours on connector 1
        at = start + timedelta(seconds=30 * minute)
        samples.append(_sample(at, 1, "Power.Active.Import", "7.4", "kW"))
    samples.append(_sample(start + timedelta(hours=1), 2, "Current.Import", "10", "A"))
    samples.append(_sample(start + timedelta(hours=1), 2, "Voltage", "230", "V"))
    samples.sort(key=lambda s: s.timestamp)
    times, drawn, limit = power_series("CP", samples, [], start, start + timedelta(hours=6))
    assert len(times) <= 500 and len(times) == len(drawn) == len(limit)
    assert times == sorted(times)
    assert set(limit) == {None}
    hour = int((start + timedelta(hours=1)).timestamp())
    at_hour = times.index(next(t for t in times if t >= hour))
    assert drawn[at_hour] is not None and abs(drawn[at_hour] - (7.4 + 2.3)) < 0.3
    assert drawn[-1] == 7.4  # connector 2's reading is older than the hold


async def test_the_charging_switch_is_stored_and_said(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    async with online(central, "CP-SW"):
        await admin_page.get("/dashboard/stations/CP-SW")
        result = await admin_page.post(
            "/dashboard/stations/CP-SW/commands/charging", data={"mode": "off"}
        )
        assert result.status_code == 200 and "switched to" in result.text and ">off<" in result.text
        assert (await central.services.smart_charging.mode("CP-SW")).value == "off"
        page = await admin_page.get("/dashboard/stations/CP-SW")
        assert "<option selected>off</option>" in page.text
        bad = await admin_page.post(
            "/dashboard/stations/CP-SW/commands/charging", data={"mode": "maybe"}
        )
        assert bad.status_code == 422 and "Mode must be one of smart, on, off" in bad.text


async def test_the_command_list_pages_newest_first(
    central: CentralSystem, admin_page: DashboardClient
) -> None:
    await central.services.stations.register("CP-MANY")
    for _ in range(25):  # offline: each attempt is recorded as failed
        with contextlib.suppress(StationOffline):
            await central.services.commands.execute(
                "CP-MANY", "ClearCache", {}, requested_by="apikey:ops"
            )
    ids = [c.id for c in await central.services.commands.list("CP-MANY", limit=100)]
    first = await admin_page.get("/dashboard/stations/CP-MANY/commands")
    shown = [int(m) for m in re.findall(r'<th scope="row" class="num">(\d+)</th>', first.text)]
    assert shown == ids[:20]
    link = re.search(r'href="(/dashboard/stations/CP-MANY\?before=(\d+))#commands"', first.text)
    assert link is not None and int(link.group(2)) == ids[19]
    older = await admin_page.get(link.group(1))
    rest = [int(m) for m in re.findall(r'<th scope="row" class="num">(\d+)</th>', older.text)]
    assert (
        rest == ids[20:] and "Newest commands" in older.text and "Older commands" not in older.text
    )


def test_the_limit_is_the_smart_charging_cap_stepped() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    cap = ProfileRecord(
        station_id="CP",
        connector_id=0,
        purpose="ChargePointMaxProfile",
        profile_id=9200,
        payload={
            "chargingProfileId": 9200,
            "stackLevel": 1,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "startSchedule": "2030-01-01T01:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 11000.0},
                    {"startPeriod": 3600, "limit": 3680.0},
                ],
            },
        },
        state=ProfileState.ACCEPTED,
        step="plain",
        attempts=1,
        updated_at=start + timedelta(hours=1),
    )
    samples = [
        _sample(start + timedelta(minutes=m), 1, "Power.Active.Import", "3000", "W")
        for m in range(0, 360, 30)
    ]
    times, drawn, limit = power_series("CP", samples, [cap], start, start + timedelta(hours=6))
    by_time = dict(zip(times, limit, strict=True))
    hour = int(start.timestamp()) + 3600
    assert by_time[hour - 1800] is None  # before the cap was sent
    assert by_time[hour] == 11.0 and by_time[hour + 3600] == 3.68 and limit[-1] == 3.68
    assert set(drawn) == {3.0}
