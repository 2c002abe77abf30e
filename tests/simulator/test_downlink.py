"""Every downlink message of the six 1.6 profiles, against a SimulatedStation over WSS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from opencsms.chargepoint.clock import ocpp_time
from opencsms.ocpp.session import CallTimeout
from opencsms.simulator import EV, ConnectionSettings, FakeClock, Quirks, SimulatedStation

from .conftest import KEY, MiniCsms, eventually

Csms = tuple[MiniCsms, ConnectionSettings]


class Rig:
    def __init__(self, server: MiniCsms, station: SimulatedStation, clock: FakeClock) -> None:
        self.server, self.st, self.clock = server, station, clock

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.server.call(self.st.identity, action, payload)

    async def charging(self, tag: str = "TAG", ev: EV | None = None) -> None:
        await self.st.plug_in(1, ev or EV(soc=20))
        await self.st.present_tag(tag)
        await eventually(lambda: self.st.transaction_id() is not None)

    def statuses(self, connector: int = 1) -> list[str]:
        return [
            p["status"]
            for p in self.server.got("StatusNotification")
            if p["connectorId"] == connector
        ]


async def make_rig(
    csms: Csms, clock: FakeClock, quirks: Quirks | None = None, **config: str
) -> Rig:
    server, settings = csms
    st = SimulatedStation(
        "CP-D",
        clock=clock,
        authorization_key=KEY,
        quirks=quirks,
        config={"MeterValueSampleInterval": "60", **config},
    )
    await st.connect(settings)
    await server.wait_for("StatusNotification", 2)
    return Rig(server, st, clock)


@pytest.fixture
async def rig(csms: Csms, clock: FakeClock) -> AsyncIterator[Rig]:
    made = await make_rig(csms, clock)
    try:
        yield made
    finally:
        await made.st.close()


async def test_remote_start_with_profile_and_remote_stop(rig: Rig) -> None:
    await rig.st.plug_in(1, EV(soc=20, max_power_w=22_000))
    profile = {
        "chargingProfileId": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}],
        },
    }
    assert await rig.call(
        "RemoteStartTransaction", {"idTag": "REMOTE", "connectorId": 1, "chargingProfile": profile}
    ) == {"status": "Accepted"}
    start = (await rig.server.wait_for("StartTransaction"))[0]
    assert start["idTag"] == "REMOTE"
    await eventually(lambda: rig.st.power_w() == 8 * 230 * 3)
    await eventually(lambda: rig.st.transaction_id() == 101)
    assert await rig.call("RemoteStopTransaction", {"transactionId": 999}) == {"status": "Rejected"}
    assert await rig.call("RemoteStopTransaction", {"transactionId": 101}) == {"status": "Accepted"}
    stop = (await rig.server.wait_for("StopTransaction"))[0]
    assert stop["reason"] == "Remote"
    await eventually(lambda: rig.statuses()[-1] == "Finishing")
    assert rig.st.cp.profiles.installed == []  # the TxProfile ended with its transaction


async def test_reset_stops_reboots_and_boots_again(rig: Rig) -> None:
    await rig.charging()
    assert await rig.call("Reset", {"type": "Soft"}) == {"status": "Accepted"}
    stop = (await rig.server.wait_for("StopTransaction"))[0]
    assert stop["reason"] == "SoftReset"
    await eventually(lambda: not rig.st.connection.connected.is_set())  # type: ignore[union-attr]
    await rig.clock.advance(2)  # reboot delay
    await rig.server.wait_for("BootNotification", 2)
    assert rig.server.connections == 2


async def test_unlock_connector_ends_the_transaction(rig: Rig) -> None:
    await rig.charging()
    assert await rig.call("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert (await rig.server.wait_for("StopTransaction"))[0]["reason"] == "UnlockCommand"
    rig.st.outlets[0].lock_fails = True
    assert await rig.call("UnlockConnector", {"connectorId": 1}) == {"status": "UnlockFailed"}


async def test_change_availability_scheduled_then_applied(rig: Rig) -> None:
    await rig.charging()
    reply = await rig.call("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert reply == {"status": "Scheduled"}
    await rig.st.unplug(1)
    await eventually(lambda: rig.statuses()[-1] == "Unavailable")
    reply = await rig.call("ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert reply == {"status": "Accepted"}
    await eventually(lambda: rig.statuses()[-1] == "Available")
    reply = await rig.call("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    await eventually(lambda: rig.statuses(0)[-1] == "Unavailable")


async def test_cache_and_data_transfer(rig: Rig) -> None:
    await rig.charging("CACHED")
    assert "CACHED" in rig.st.cp.cache.entries
    assert await rig.call("ClearCache", {}) == {"status": "Accepted"}
    assert rig.st.cp.cache.entries == {}
    reply = await rig.call("DataTransfer", {"vendorId": "acme", "messageId": "x"})
    assert reply == {"status": "UnknownVendorId"}


async def test_update_firmware_statuses_and_reboot(rig: Rig) -> None:
    retrieve = ocpp_time(rig.clock.now() + timedelta(seconds=10))
    assert (
        await rig.call(
            "UpdateFirmware", {"location": "https://fw.example/2.0.1", "retrieveDate": retrieve}
        )
        == {}
    )
    await rig.clock.advance(10)  # retrieveDate
    await rig.server.wait_for("FirmwareStatusNotification")
    await rig.clock.advance(30)  # download
    await rig.server.wait_for("FirmwareStatusNotification", 3)
    await rig.clock.advance(60)  # install
    await rig.server.wait_for("FirmwareStatusNotification", 4)
    assert [p["status"] for p in rig.server.got("FirmwareStatusNotification")] == [
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]
    await eventually(lambda: not rig.st.connection.connected.is_set())  # type: ignore[union-attr]
    await rig.clock.advance(2)
    boots = await rig.server.wait_for("BootNotification", 2)
    assert boots[-1]["firmwareVersion"] == "2.0.1"


async def test_get_diagnostics_uploads(rig: Rig) -> None:
    reply = await rig.call("GetDiagnostics", {"location": "ftp://logs.example/"})
    assert reply["fileName"].startswith("CP-D-")
    await rig.server.wait_for("DiagnosticsStatusNotification")
    await rig.clock.advance(10)
    await rig.server.wait_for("DiagnosticsStatusNotification", 2)
    assert [p["status"] for p in rig.server.got("DiagnosticsStatusNotification")] == [
        "Uploading",
        "Uploaded",
    ]


async def test_local_list_versions(rig: Rig) -> None:
    assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 0}
    full = {
        "listVersion": 3,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "B", "idTagInfo": {"status": "Blocked"}},
        ],
    }
    assert await rig.call("SendLocalList", full) == {"status": "Accepted"}
    diff = {
        "listVersion": 3,
        "updateType": "Differential",
        "localAuthorizationList": [{"idTag": "B"}],
    }
    assert await rig.call("SendLocalList", diff) == {"status": "VersionMismatch"}
    diff["listVersion"] = 4
    assert await rig.call("SendLocalList", diff) == {"status": "Accepted"}
    assert await rig.call("GetLocalListVersion", {}) == {"listVersion": 4}
    assert set(rig.st.cp.local_list.entries) == {"A"}


async def test_reservation_reserved_status_and_reservation_id(rig: Rig) -> None:
    expiry = ocpp_time(rig.clock.now() + timedelta(minutes=15))
    reply = await rig.call(
        "ReserveNow", {"connectorId": 1, "expiryDate": expiry, "idTag": "MINE", "reservationId": 7}
    )
    assert reply == {"status": "Accepted"}
    await eventually(lambda: rig.statuses()[-1] == "Reserved")
    assert await rig.st.present_tag("OTHER", 1) == "Blocked"
    assert await rig.call("CancelReservation", {"reservationId": 8}) == {"status": "Rejected"}
    await rig.st.plug_in(1, EV())
    await rig.st.present_tag("MINE", 1)
    start = (await rig.server.wait_for("StartTransaction"))[0]
    assert start["reservationId"] == 7
    # a second reservation, left to expire
    await rig.st.unplug(1)
    expiry = ocpp_time(rig.clock.now() + timedelta(minutes=1))
    await rig.call(
        "ReserveNow", {"connectorId": 1, "expiryDate": expiry, "idTag": "X", "reservationId": 9}
    )
    await eventually(lambda: rig.statuses()[-1] == "Reserved")
    await rig.clock.advance(60)
    await eventually(lambda: rig.statuses()[-1] == "Available")


async def test_faulted_with_error_code(rig: Rig) -> None:
    await rig.charging()
    await rig.st.fault(1, "GroundFailure", "RCD tripped")
    stop = (await rig.server.wait_for("StopTransaction"))[0]
    assert stop["reason"] == "Other"
    await eventually(lambda: rig.statuses()[-1] == "Faulted")
    faulted = rig.server.got("StatusNotification")[-1]
    assert faulted["errorCode"] == "GroundFailure" and faulted["info"] == "RCD tripped"
    await rig.st.clear_fault(1)
    await eventually(lambda: rig.statuses()[-1] == "Finishing")  # the cable is still in


def tx_profile(
    limit: float, *, stack: int = 0, unit: str = "A", kind: str = "Relative"
) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": stack,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": kind,
            "chargingSchedule": {
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


async def test_vendor_quirks_reject_profiles(csms: Csms, clock: FakeClock) -> None:
    quirks = Quirks(
        only_stack_level_0=True, rejected_units=frozenset({"W"}), required_kind="Absolute"
    )
    rig = await make_rig(csms, clock, quirks)
    try:
        assert await rig.call("SetChargingProfile", tx_profile(10, stack=1, kind="Absolute")) == {
            "status": "Rejected"
        }
        assert await rig.call(
            "SetChargingProfile", tx_profile(5000, unit="W", kind="Absolute")
        ) == {"status": "Rejected"}
        assert await rig.call("SetChargingProfile", tx_profile(10)) == {"status": "Rejected"}
        assert await rig.call("SetChargingProfile", tx_profile(10, kind="Absolute")) == {
            "status": "Accepted"
        }
    finally:
        await rig.st.close()


async def test_quirk_ignores_first_limit_after_pause(csms: Csms, clock: FakeClock) -> None:
    rig = await make_rig(csms, clock, Quirks(ignore_first_limit_after_pause=True))
    try:
        await rig.charging()
        assert await rig.call("SetChargingProfile", tx_profile(0)) == {"status": "Accepted"}
        await eventually(lambda: rig.st.status() == "SuspendedEVSE")
        assert await rig.call("SetChargingProfile", tx_profile(16)) == {"status": "Accepted"}
        await eventually(lambda: rig.st.status() == "Charging")
        assert rig.st.power_w() == 0  # the car never heard the 16 A
        assert await rig.call("SetChargingProfile", tx_profile(10)) == {"status": "Accepted"}
        await eventually(lambda: rig.st.power_w() == 10 * 230 * 3)
    finally:
        await rig.st.close()


async def test_link_quirks_duplicates_and_missing_replies(csms: Csms, clock: FakeClock) -> None:
    rig = await make_rig(csms, clock, Quirks(duplicate_calls=True, drop_replies=True))
    try:
        assert len(rig.server.got("BootNotification")) == 1  # the CSMS ignored the duplicate
        session = rig.server.sessions["CP-D"]
        with pytest.raises(CallTimeout):
            await session.call("ClearCache", {}, timeout=0.2)
    finally:
        await rig.st.close()
