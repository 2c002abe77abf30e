"""Provisioning on connect, end to end: the real central system, simulated
stations over WSS with Basic Auth, the station's configuration store deciding
what it accepts (and, with quirks, what needs a reboot or is not supported).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from opencsms.app import CentralSystem
from opencsms.domain.model import ProvisioningItem, ProvisioningState
from opencsms.simulator import ConnectionSettings, FakeClock, Quirks, SimulatedStation

INTERVAL = "MeterValueSampleInterval"
MEASURANDS = "MeterValuesSampledData"
POWER = "Energy.Active.Import.Register,Power.Active.Import"
FALLBACK = "Energy.Active.Import.Register,Current.Import,Voltage"
OUT_OF_DATE = {INTERVAL: "300", MEASURANDS: "Energy.Active.Import.Register"}


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    """Poll (real time, bounded) for what round trips bring about."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


async def settled_items(
    central: CentralSystem,
    station_id: str,
    done: Callable[[dict[str, ProvisioningItem]], bool],
    clock: FakeClock | None = None,
    step: float = 0.5,
    within: float = 15.0,
) -> dict[str, ProvisioningItem]:
    """The station's items once ``done`` holds and no provisioning pass runs;
    with ``clock``, station time moves on meanwhile (reboots, reconnects)."""
    async with asyncio.timeout(within):
        while True:
            items = {i.key: i for i in await central.services.provisioning.items(station_id)}
            if done(items) and not central.services.provisioning.running(station_id):
                return items
            if clock is not None:
                await clock.advance(step)
            await asyncio.sleep(0.02)


def settings_for(central: CentralSystem) -> ConnectionSettings:
    return ConnectionSettings(
        url=central.ocpp_url,
        ca_file=str(central.ca_file),
        response_timeout=5,
        backoff_initial=0.5,
        jitter=0,
        reboot_delay=1,
    )


@contextlib.asynccontextmanager
async def station_online(
    central: CentralSystem,
    station_id: str,
    key: str,
    *,
    config: dict[str, str] | None = None,
    quirks: Quirks | None = None,
    clock: FakeClock | None = None,
) -> AsyncIterator[SimulatedStation]:
    station = SimulatedStation(
        station_id,
        clock=clock or FakeClock(),
        authorization_key=key,
        config=config,
        quirks=quirks,
    )
    await station.connect(settings_for(central))
    try:
        await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
        yield station
    finally:
        await station.close()


def changes(station: SimulatedStation, key: str) -> list[str]:
    return [p["value"] for p in station.journal.calls("received", "ChangeConfiguration")
            if p["key"] == key]  # fmt: skip


def accepted(*keys: str) -> Callable[[dict[str, ProvisioningItem]], bool]:
    return lambda items: all(
        k in items and items[k].state is ProvisioningState.ACCEPTED for k in keys
    )


async def test_a_fresh_station_reaches_the_desired_configuration(central: CentralSystem) -> None:
    key = await central.services.stations.register("PROV-1")
    with central.events.subscribe(lambda e: e.type == "provisioning.changed") as events:
        async with station_online(central, "PROV-1", key, config=OUT_OF_DATE) as station:
            items = await settled_items(central, "PROV-1", accepted(INTERVAL, MEASURANDS))
            assert station.cp.config.get(INTERVAL) == "60"
            assert station.cp.config.get(MEASURANDS) == POWER
            assert changes(station, INTERVAL) == ["60"]
            assert changes(station, MEASURANDS) == [POWER]
            assert station.journal.calls("received", "GetConfiguration") == [{}]
        async with asyncio.timeout(5):
            published = [await events.get() for _ in range(2)]
    assert {(e.data["key"], e.data["state"]) for e in published} == {
        (INTERVAL, "accepted"),
        (MEASURANDS, "accepted"),
    }
    assert items[INTERVAL].desired_value == "60" and items[INTERVAL].attempts == 1
    assert items[MEASURANDS].detail is None

    view = await central.services.provisioning.configuration("PROV-1")
    snapshot = {e.key: e.value for e in view.entries}
    assert snapshot[INTERVAL] == "60" and snapshot[MEASURANDS] == POWER  # updated on Accepted
    assert "AuthorizationKey" not in snapshot  # write-only: never reported
    caps = view.capabilities
    assert set(caps.feature_profiles) >= {"Core", "SmartCharging", "Reservation"}
    assert caps.charging_rate_units == ("Current", "Power")
    assert caps.charge_profile_max_stack_level == 10
    assert caps.charging_schedule_max_periods == 24
    assert caps.number_of_connectors == 1
    assert caps.local_auth_list_enabled is True
    assert caps.reserve_connector_zero_supported is True
    assert caps.sampled_measurands == ("Energy.Active.Import.Register", "Power.Active.Import")

    commands = await central.services.commands.list("PROV-1")
    assert {c.requested_by for c in commands} == {"provisioning"}


async def test_a_station_already_configured_gets_no_change(central: CentralSystem) -> None:
    key = await central.services.stations.register("PROV-OK")
    async with station_online(central, "PROV-OK", key) as station:  # defaults match
        items = await settled_items(central, "PROV-OK", accepted(INTERVAL, MEASURANDS))
        assert station.journal.calls("received", "ChangeConfiguration") == []
    assert items[INTERVAL].attempts == 0


async def test_a_value_changed_behind_our_back_is_put_back_on_reconnect(
    central: CentralSystem,
) -> None:
    key = await central.services.stations.register("PROV-2")
    clock = FakeClock()
    async with station_online(central, "PROV-2", key, config=OUT_OF_DATE, clock=clock) as station:
        await settled_items(central, "PROV-2", accepted(INTERVAL, MEASURANDS))
        station.cp.config.set_internal(INTERVAL, "900")  # someone at the station
        await station.drop_connection()
        await eventually(lambda: central.registry.get("PROV-2") is None)
        # it reconnects without a reboot: its first message (a heartbeat) makes it ready

        def back(items: dict[str, ProvisioningItem]) -> bool:
            return items[INTERVAL].attempts == 2 and station.cp.config.get(INTERVAL) == "60"

        items = await settled_items(central, "PROV-2", back, clock=clock, step=30, within=30)
        assert changes(station, INTERVAL) == ["60", "60"]
        assert changes(station, MEASURANDS) == [POWER]  # still right: left alone
        assert len(station.journal.calls("sent", "BootNotification")) == 1
        assert items[INTERVAL].state is ProvisioningState.ACCEPTED


async def test_a_station_that_needs_a_reboot_gets_there(central: CentralSystem) -> None:
    key = await central.services.stations.register("PROV-3")
    clock = FakeClock()
    quirks = Quirks(reboot_required_keys=frozenset({INTERVAL}))
    with central.events.subscribe(
        lambda e: e.type == "provisioning.changed" and e.data["key"] == INTERVAL
    ) as events:
        async with station_online(
            central, "PROV-3", key, config=OUT_OF_DATE, quirks=quirks, clock=clock
        ) as station:
            async with asyncio.timeout(10):
                first = await events.get()
            assert first.data["state"] == "reboot_required"
            assert first.data["detail"] == "RebootRequired: soft Reset sent"

            def rebooted(items: dict[str, ProvisioningItem]) -> bool:
                return len(station.journal.calls("sent", "BootNotification")) == 2 and accepted(
                    INTERVAL, MEASURANDS
                )(items)

            items = await settled_items(central, "PROV-3", rebooted, clock=clock, within=30)
            assert station.journal.calls("received", "Reset") == [{"type": "Soft"}]
            assert changes(station, INTERVAL) == ["60"]  # not sent again after the reboot
            assert station.cp.config.get(INTERVAL) == "60"
        async with asyncio.timeout(5):
            second = await events.get()
    assert second.data["state"] == "accepted"
    assert items[INTERVAL].attempts == 1 and items[INTERVAL].detail is None


async def test_reboot_can_be_left_to_the_operator(start_central: Callable[..., Any]) -> None:
    central: CentralSystem = await start_central(provisioning_reboot=False)
    key = await central.services.stations.register("PROV-4")
    quirks = Quirks(reboot_required_keys=frozenset({INTERVAL}))
    async with station_online(central, "PROV-4", key, config=OUT_OF_DATE, quirks=quirks) as st:
        items = await settled_items(central, "PROV-4", lambda i: INTERVAL in i and MEASURANDS in i)
        assert items[INTERVAL].state is ProvisioningState.REBOOT_REQUIRED
        assert items[INTERVAL].detail == "RebootRequired: waiting for a reboot"
        assert st.journal.calls("received", "Reset") == []


async def test_power_refused_falls_back_to_current_and_voltage(central: CentralSystem) -> None:
    key = await central.services.stations.register("PROV-5")
    quirks = Quirks(unsupported_measurands=frozenset({"Power.Active.Import"}))
    async with station_online(central, "PROV-5", key, config=OUT_OF_DATE, quirks=quirks) as st:
        items = await settled_items(central, "PROV-5", accepted(INTERVAL, MEASURANDS))
        assert changes(st, MEASURANDS) == [POWER, FALLBACK]
        assert st.cp.config.get(MEASURANDS) == FALLBACK
    item = items[MEASURANDS]
    assert item.desired_value == FALLBACK and item.attempts == 1
    assert item.detail == "fallback: Power.Active.Import answered Rejected"

    # the next connection keeps to the fallback instead of asking for power again
    async with station_online(central, "PROV-5", key, config=OUT_OF_DATE, quirks=quirks) as st:
        items = await settled_items(
            central, "PROV-5", lambda i: i[MEASURANDS].attempts == 2 and accepted(MEASURANDS)(i)
        )
        assert changes(st, MEASURANDS) == [FALLBACK]
    assert items[MEASURANDS].detail == "fallback: Power.Active.Import answered Rejected"
    caps = (await central.services.provisioning.configuration("PROV-5")).capabilities
    assert caps.sampled_measurands == ("Energy.Active.Import.Register", "Current.Import", "Voltage")


async def test_configuration_api_shows_snapshot_items_and_capabilities(
    central: CentralSystem, api_client: httpx.AsyncClient, reader_client: httpx.AsyncClient
) -> None:
    key = await central.services.stations.register("PROV-API")
    async with station_online(central, "PROV-API", key, config=OUT_OF_DATE) as station:
        await settled_items(central, "PROV-API", accepted(INTERVAL, MEASURANDS))
        response = await reader_client.get("/api/v1/stations/PROV-API/configuration")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["station_id"] == "PROV-API"
        keys = {e["key"]: e for e in body["configuration"]}
        assert keys[INTERVAL]["value"] == "60" and keys["NumberOfConnectors"]["readonly"] is True
        provisioning = {i["key"]: i for i in body["provisioning"]}
        assert provisioning[INTERVAL] == {
            "key": INTERVAL,
            "desired_value": "60",
            "actual_value": "60",
            "state": "accepted",
            "attempts": 1,
            "detail": None,
            "updated_at": provisioning[INTERVAL]["updated_at"],
        }
        assert body["capabilities"]["charging_rate_units"] == ["Current", "Power"]

        # refresh: a value changed at the station shows after GetConfiguration
        station.cp.config.set_internal("HeartbeatInterval", "77")
        assert (
            await reader_client.post("/api/v1/stations/PROV-API/configuration/refresh")
        ).status_code == 403
        response = await api_client.post("/api/v1/stations/PROV-API/configuration/refresh")
        assert response.status_code == 200, response.text
        keys = {e["key"]: e["value"] for e in response.json()["configuration"]}
        assert keys["HeartbeatInterval"] == "77"
        gets = station.journal.calls("received", "GetConfiguration")
        assert len(gets) == 2

    missing = await reader_client.get("/api/v1/stations/NOPE/configuration")
    assert missing.status_code == 404
    offline = await api_client.post("/api/v1/stations/PROV-API/configuration/refresh")
    assert offline.status_code == 409
