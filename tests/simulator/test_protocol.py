"""A SimulatedStation against a tiny test CSMS over a real WSS socket on 127.0.0.1.

The station runs on a FakeClock: meter intervals, heartbeats and backoff
pass when the test advances it; network round trips are real and awaited.
"""

from __future__ import annotations

import asyncio
from typing import Any

from opencsms.simulator import EV, ConnectionSettings, FakeClock, SimulatedStation

from .conftest import KEY, MiniCsms, eventually

Csms = tuple[MiniCsms, ConnectionSettings]
SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def station(identity: str, clock: FakeClock, **config: str) -> SimulatedStation:
    values = {"MeterValueSampleInterval": "60", "MeterValuesSampledData": SAMPLED}
    values.update(config)
    return SimulatedStation(identity, clock=clock, authorization_key=KEY, config=values)


def values_of(meter_values: dict[str, Any]) -> dict[str, str]:
    sampled = meter_values["meterValue"][0]["sampledValue"]
    return {v["measurand"] + v.get("phase", ""): v["value"] for v in sampled}


async def test_boot_session_with_meter_values(csms: Csms, clock: FakeClock) -> None:
    server, settings = csms
    st = station("CP-1", clock)
    await st.connect(settings)
    try:
        await server.wait_for("StatusNotification", 2)  # connectors 0 and 1
        boot = server.got("BootNotification")[0]
        assert boot["chargePointVendor"] == "OpenCSMS" and boot["chargePointSerialNumber"]
        await st.plug_in(1, EV(battery_kwh=40, soc=50, max_power_w=11_000, reports_soc=True))
        assert await st.present_tag("TAG-1") == "Accepted"
        start = (await server.wait_for("StartTransaction"))[0]
        assert start["connectorId"] == 1 and start["meterStart"] == 0
        begin = (await server.wait_for("MeterValues"))[0]
        assert begin["transactionId"] == 101
        assert begin["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
        await clock.advance(60)
        periodic = (await server.wait_for("MeterValues", 2))[1]
        sample = values_of(periodic)
        # 11 kW for 60 s = 183.3 Wh; 11000 W / (3 * 230 V) = 15.94 A per phase
        assert sample["Energy.Active.Import.Register"] == "183"
        assert sample["Power.Active.Import"] == "11000.0"
        assert sample["Current.ImportL1"] == "15.94"
        assert sample["VoltageL2-N"] == "230.0"
        assert sample["SoC"] == "50"  # 183 Wh of 40 kWh is +0.46 %
        assert periodic["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
        await st.unplug(1)
        stop = (await server.wait_for("StopTransaction"))[0]
        assert stop["transactionId"] == 101 and stop["reason"] == "EVDisconnected"
        assert stop["meterStop"] == 183
        assert stop["transactionData"][0]["sampledValue"][0]["context"] == "Transaction.End"
        await eventually(lambda: server.got("StatusNotification")[-1]["status"] == "Available")
        statuses = [(p["connectorId"], p["status"]) for p in server.got("StatusNotification")]
        assert statuses == [
            (0, "Available"),
            (1, "Available"),
            (1, "Preparing"),
            (1, "Charging"),
            (1, "Available"),
        ]
        assert [a for _, a, _ in server.received if a != "StatusNotification"] == [
            "BootNotification",
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
    finally:
        await st.close()


async def test_power_follows_the_charging_profile(csms: Csms, clock: FakeClock) -> None:
    server, settings = csms
    st = station("CP-2", clock)
    await st.connect(settings)
    try:
        await server.wait_for("StatusNotification", 2)
        await st.plug_in(1, EV(soc=20, max_power_w=22_000))
        await st.present_tag("TAG-2")
        await server.wait_for("StartTransaction")
        await eventually(lambda: st.transaction_id() == 101)
        assert st.power_w() == 22_000
        profile = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 10},
                    {"startPeriod": 600, "limit": 0},
                ],
            },
        }
        reply = await server.call(
            "CP-2", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
        )
        assert reply == {"status": "Accepted"}
        await eventually(lambda: st.power_w() == 10 * 230 * 3)
        composite = await server.call(
            "CP-2",
            "GetCompositeSchedule",
            {"connectorId": 1, "duration": 1200, "chargingRateUnit": "W"},
        )
        assert composite["status"] == "Accepted"
        assert composite["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 6900.0},
            {"startPeriod": 600, "limit": 0.0},
        ]
        await clock.advance(600)
        assert st.power_w() == 0 and st.status() == "SuspendedEVSE"
        await eventually(lambda: server.got("StatusNotification")[-1]["status"] == "SuspendedEVSE")
        bad = {**profile, "chargingProfilePurpose": "ChargePointMaxProfile"}
        reply = await server.call(
            "CP-2", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": bad}
        )
        assert reply == {"status": "Rejected"}  # ChargePointMaxProfile only on connector 0
        reply = await server.call("CP-2", "ClearChargingProfile", {"id": 1})
        assert reply == {"status": "Accepted"}
        await eventually(lambda: st.power_w() == 22_000 and st.status() == "Charging")
    finally:
        await st.close()


async def test_trigger_and_configuration(csms: Csms, clock: FakeClock) -> None:
    server, settings = csms
    st = station("CP-3", clock)
    await st.connect(settings)
    try:
        await server.wait_for("StatusNotification", 2)
        for message in (
            "StatusNotification",
            "MeterValues",
            "Heartbeat",
            "BootNotification",
            "FirmwareStatusNotification",
            "DiagnosticsStatusNotification",
        ):
            reply = await server.call(
                "CP-3", "TriggerMessage", {"requestedMessage": message, "connectorId": 1}
            )
            assert reply == {"status": "Accepted"}
        await server.wait_for("StatusNotification", 3)
        await server.wait_for("DiagnosticsStatusNotification")
        assert values_of(server.got("MeterValues")[0])  # context Trigger
        assert server.got("MeterValues")[0]["meterValue"][0]["sampledValue"][0]["context"] == (
            "Trigger"
        )
        assert len(server.got("BootNotification")) == 2
        everything = await server.call("CP-3", "GetConfiguration", {})
        keys = {k["key"]: k for k in everything["configurationKey"]}
        assert keys["SupportedFeatureProfiles"]["readonly"] is True
        assert "AuthorizationKey" not in keys
        one = await server.call("CP-3", "GetConfiguration", {"key": ["AuthorizationKey", "X"]})
        assert one == {"configurationKey": [], "unknownKey": ["AuthorizationKey", "X"]}
        assert (
            await server.call(
                "CP-3", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "10"}
            )
        ) == {"status": "Accepted"}
        assert (
            await server.call(
                "CP-3", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "2"}
            )
        ) == {"status": "Rejected"}
        heartbeats = len(server.got("Heartbeat"))
        await clock.advance(10)
        await server.wait_for("Heartbeat", heartbeats + 1)
    finally:
        await st.close()


async def test_offline_transaction_replayed_in_order(csms: Csms, clock: FakeClock) -> None:
    server, settings = csms
    settings.backoff_initial = settings.backoff_max = 1000.0
    settings.jitter = 0.0
    st = station("CP-4", clock, AllowOfflineTxForUnknownId="true")
    await st.connect(settings)
    try:
        await server.wait_for("StatusNotification", 2)
        assert st.connection is not None
        await st.drop_connection(close_frame=False)
        await eventually(lambda: not st.connection.connected.is_set())  # type: ignore[union-attr]
        started = clock.now()
        await st.plug_in(1, EV(soc=10, max_power_w=7_000))
        assert await st.present_tag("OFFLINE-TAG") == "Accepted"
        assert st.status() == "Charging"
        await clock.advance(60)
        await clock.advance(60)
        await st.unplug(1)
        assert [m.action for m in st.cp.queue] == [
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
        assert not server.got("StartTransaction")
        await clock.advance(1000)  # the backoff ends: reconnect and replay
        await server.wait_for("StopTransaction")
        replay = [
            (a, p)
            for _, a, p in server.received
            if a in ("StartTransaction", "MeterValues", "StopTransaction")
        ]
        assert [a for a, _ in replay] == [
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
        assert replay[0][1]["timestamp"].startswith(started.strftime("%Y-%m-%dT%H:%M:%S"))
        stamps = [p["meterValue"][0]["timestamp"] for a, p in replay if a == "MeterValues"]
        assert stamps == sorted(stamps) and len(set(stamps)) == 3
        assert {p["transactionId"] for _, p in replay[1:]} == {101}  # provisional id fixed up
        # 7 kW for 120 s = 233.3 Wh, stamped when it happened, not when delivered
        assert replay[-1][1]["meterStop"] == 233
        assert st.connection.connects == 2  # type: ignore[union-attr]
    finally:
        await st.close()


async def test_boot_pending_interval_honoured(csms: Csms, clock: FakeClock) -> None:
    server, settings = csms
    server.boot_status, server.interval = "Pending", 30
    st = station("CP-5", clock)
    await st.connect(settings)
    try:
        await server.wait_for("BootNotification")
        await clock.advance(29)
        await asyncio.sleep(0.05)
        assert len(server.got("BootNotification")) == 1 and not server.got("StatusNotification")
        server.boot_status = "Accepted"
        await clock.advance(1)
        await server.wait_for("BootNotification", 2)
        await server.wait_for("StatusNotification", 2)
    finally:
        await st.close()
