"""Every CSMS-initiated command end to end: CommandService -> WSS -> SimulatedStation.

The real central system (SQLite in its data directory, dev TLS) and simulated
stations over WSS with Basic Auth. Each command must reach the station, its
answer must be recorded (state, status, response) and readable back; the
offline queue must deliver in order after a reconnect and after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from opencsms.app import CentralSystem
from opencsms.domain.commands import (
    CommandService,
    InvalidCommand,
    StationOffline,
    UnknownStation,
)
from opencsms.domain.events import Event
from opencsms.domain.model import Command, CommandState, IdTag
from opencsms.simulator import EV, ConnectionSettings, FakeClock, Quirks, SimulatedStation
from opencsms.simulator.journal import Entry
from opencsms.stations.link import RegistryLink

from .conftest import CentralFactory

NOW = "2030-01-01T00:00:00Z"
WHO = "apikey:ops"


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    """Poll (real time, bounded) for state that round trips will bring about."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - nothing announces it
            await asyncio.sleep(0.02)


async def until_command(central: CentralSystem, command_id: int, within: float = 10.0) -> Command:
    """The command once it is final (polled from the database)."""
    async with asyncio.timeout(within):
        while True:
            command = await central.services.commands.get(command_id)
            assert command is not None
            if command.state.final:
                return command
            await asyncio.sleep(0.02)


def settings_for(central: CentralSystem) -> ConnectionSettings:
    return ConnectionSettings(
        url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5
    )


async def register(central: CentralSystem, station_id: str) -> str:
    return await central.services.stations.register(station_id)


async def bring_online(
    central: CentralSystem, station_id: str, key: str, quirks: Quirks | None = None
) -> SimulatedStation:
    station = SimulatedStation(
        station_id, clock=FakeClock(), authorization_key=key, quirks=quirks, connectors=2
    )
    await station.connect(settings_for(central))
    await eventually(lambda: station.cp.online and central.registry.get(station_id) is not None)
    return station


@contextlib.asynccontextmanager
async def online(
    central: CentralSystem, station_id: str, quirks: Quirks | None = None
) -> AsyncIterator[SimulatedStation]:
    station = await bring_online(central, station_id, await register(central, station_id), quirks)
    try:
        yield station
    finally:
        await station.close()


def received(station: SimulatedStation, action: str) -> list[dict[str, Any]]:
    return station.journal.calls("received", action)


def answer_to(station: SimulatedStation, action: str, payload: dict[str, Any]) -> Entry:
    """The station's reply to the CALL of ``action`` with ``payload`` (provisioning
    sends its own commands on the same connection meanwhile)."""
    entries = station.journal.entries
    [call] = [e for e in entries if e.direction == "received" and e.kind == 2
              and e.action == action and e.payload == payload]  # fmt: skip
    [reply] = [e for e in entries if e.direction == "sent" and e.unique_id == call.unique_id]
    return reply


def ours(commands: list[Command]) -> list[Command]:
    """Those this test asked for (not the provisioning's)."""
    return [c for c in commands if c.requested_by == WHO]


def tx_default_profile() -> dict[str, Any]:
    return {
        "chargingProfileId": 11,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    }


# Reset last: it reboots the station.
COMMANDS: list[tuple[str, dict[str, Any], str | None]] = [
    ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, "Accepted"),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "600"}, "Accepted"),
    ("ClearCache", {}, "Accepted"),
    ("DataTransfer", {"vendorId": "ACME", "messageId": "hello", "data": "x"}, None),
    ("GetConfiguration", {"key": ["HeartbeatInterval"]}, None),
    ("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1}, "Accepted"),
    ("UnlockConnector", {"connectorId": 2}, None),
    ("UpdateFirmware", {"location": "https://example.org/fw.bin", "retrieveDate": NOW}, None),
    ("GetDiagnostics", {"location": "https://example.org/upload"}, None),
    (
        "SendLocalList",
        {
            "listVersion": 5,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
        },
        "Accepted",
    ),
    ("GetLocalListVersion", {}, None),
    (
        "ReserveNow",
        {"connectorId": 2, "expiryDate": NOW, "idTag": "TAG-2", "reservationId": 77},
        None,
    ),
    ("CancelReservation", {"reservationId": 77}, None),
    (
        "SetChargingProfile",
        {"connectorId": 0, "csChargingProfiles": tx_default_profile()},
        "Accepted",
    ),
    ("GetCompositeSchedule", {"connectorId": 0, "duration": 3600}, None),
    ("ClearChargingProfile", {"id": 11}, None),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, "Accepted"),
    ("RemoteStopTransaction", {"transactionId": 0}, "Accepted"),  # id filled in below
    ("Reset", {"type": "Soft"}, "Accepted"),
]


async def test_every_command_reaches_the_station_and_its_answer_is_recorded(
    central: CentralSystem,
) -> None:
    assert {action for action, _, _ in COMMANDS} == {
        "ChangeAvailability", "ChangeConfiguration", "ClearCache", "DataTransfer",
        "GetConfiguration", "RemoteStartTransaction", "RemoteStopTransaction", "Reset",
        "UnlockConnector", "UpdateFirmware", "GetDiagnostics", "SendLocalList",
        "GetLocalListVersion", "ReserveNow", "CancelReservation", "SetChargingProfile",
        "ClearChargingProfile", "GetCompositeSchedule", "TriggerMessage",
    }  # fmt: skip
    await central.services.tags.put(IdTag("TAG-1"))
    events = central.events.subscribe(
        lambda e: e.type == "command.finished" and e.data["requested_by"] == WHO
    )
    async with online(central, "CMD-ALL") as station:
        await station.plug_in(1, EV(soc=30))
        ids: list[int] = []
        for action, payload, expected_status in COMMANDS:
            if action == "RemoteStopTransaction":
                await eventually(lambda: station.transaction_id(1) is not None)
                payload = {"transactionId": station.transaction_id(1)}
            command = await central.services.commands.execute(
                "CMD-ALL", action, payload, requested_by=WHO
            )
            ids.append(command.id)
            answer = answer_to(station, action, payload).payload
            assert command.state is CommandState.ANSWERED, (action, command.error)
            assert command.response == answer, action
            assert command.status == answer.get("status"), action
            if expected_status is not None:
                assert command.status == expected_status, action
            assert command.requested_by == WHO and command.payload == payload
            assert command.sent_at is not None and command.finished_at is not None
            assert command.created_at <= command.sent_at <= command.finished_at
            assert await central.services.commands.get(command.id) == command

    listed = ours(await central.services.commands.list(station_id="CMD-ALL", limit=100))
    assert [c.id for c in listed] == ids[::-1]
    assert [c.action for c in listed[::-1]] == [action for action, _, _ in COMMANDS]
    assert [c.id for c in ours(await central.services.commands.list(action="Reset"))] == [ids[-1]]
    got: list[Event] = [await events.get() for _ in COMMANDS]
    assert [e.data["id"] for e in got] == ids
    assert all(e.data["state"] == "answered" and e.station_id == "CMD-ALL" for e in got)
    assert all(isinstance(e.data["latency_s"], float) and e.data["latency_s"] >= 0 for e in got)


async def test_tx_profile_and_remote_stop_need_an_active_transaction(
    central: CentralSystem,
) -> None:
    await central.services.tags.put(IdTag("TAG-TX"))
    commands = central.services.commands
    async with online(central, "CMD-TX") as station:
        await station.plug_in(1, EV(soc=30))
        await station.present_tag("TAG-TX", 1)
        await eventually(lambda: station.transaction_id(1) is not None)
        tx = station.transaction_id(1)
        assert tx is not None
        profile = {**tx_default_profile(), "chargingProfilePurpose": "TxProfile",
                   "transactionId": tx}  # fmt: skip
        before = ours(await commands.list())
        for connector, transaction in ((2, tx), (1, tx + 1000)):
            with pytest.raises(InvalidCommand, match="not an active transaction"):
                await commands.execute(
                    "CMD-TX", "SetChargingProfile",
                    {"connectorId": connector,
                     "csChargingProfiles": {**profile, "transactionId": transaction}},
                    requested_by=WHO,
                )  # fmt: skip
        with pytest.raises(InvalidCommand, match="not an active transaction"):
            await commands.execute(
                "CMD-TX", "RemoteStopTransaction", {"transactionId": tx + 1000}, requested_by=WHO
            )
        assert ours(await commands.list()) == before
        assert received(station, "SetChargingProfile") == []

        set_profile = await commands.execute(
            "CMD-TX", "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": profile}, requested_by=WHO,
        )  # fmt: skip
        assert (set_profile.state, set_profile.status) == (CommandState.ANSWERED, "Accepted")
        stop = await commands.execute(
            "CMD-TX", "RemoteStopTransaction", {"transactionId": tx}, requested_by=WHO
        )
        assert (stop.state, stop.status) == (CommandState.ANSWERED, "Accepted")
        await eventually(lambda: station.transaction_id(1) is None)
        await eventually(lambda: len(station.journal.replies("received", "StopTransaction")) == 1)
        # now stopped: a second RemoteStop is refused before anything is stored
        with pytest.raises(InvalidCommand):
            await commands.execute(
                "CMD-TX", "RemoteStopTransaction", {"transactionId": tx}, requested_by=WHO
            )


async def test_invalid_commands_and_unknown_stations_store_nothing(
    central: CentralSystem,
) -> None:
    commands = central.services.commands
    await register(central, "CMD-BAD")
    bad: list[tuple[str, dict[str, Any]]] = [
        ("Reset", {"type": "Hard", "when": "now"}),
        ("Reset", {}),
        ("Explode", {}),
        ("Heartbeat", {}),
        (
            "SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    **tx_default_profile(),
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                },
            },
        ),
        ("TriggerMessage", {"requestedMessage": "StartTransaction"}),
    ]
    for action, payload in bad:
        with pytest.raises(InvalidCommand):
            await commands.execute("CMD-BAD", action, payload, requested_by=WHO)
        with pytest.raises(InvalidCommand):  # also when it would be queued
            await commands.execute(
                "CMD-BAD", action, payload, requested_by=WHO, queue_ttl=timedelta(hours=1)
            )
    with pytest.raises(InvalidCommand, match="queue_ttl"):
        await commands.execute(
            "CMD-BAD", "ClearCache", {}, requested_by=WHO, queue_ttl=timedelta(0)
        )
    with pytest.raises(UnknownStation):
        await commands.execute("NOBODY", "ClearCache", {}, requested_by=WHO)
    with pytest.raises(UnknownStation):
        await commands.execute(
            "NOBODY", "ClearCache", {}, requested_by=WHO, queue_ttl=timedelta(hours=1)
        )
    assert await commands.list() == []


async def test_offline_without_queue_fails_at_once_and_is_recorded(
    central: CentralSystem,
) -> None:
    await register(central, "CMD-OFF")
    seen: list[Command] = []

    async def listener(command: Command) -> None:
        seen.append(command)

    central.services.commands.on_finished("ClearCache", listener)
    events = central.events.subscribe(lambda e: e.type == "command.finished")
    with pytest.raises(StationOffline) as caught:
        await central.services.commands.execute("CMD-OFF", "ClearCache", {}, requested_by=WHO)
    failed = caught.value.command
    assert failed is not None
    assert failed.state is CommandState.FAILED and failed.error == "station offline"
    assert failed.sent_at is None and failed.finished_at is not None
    assert await central.services.commands.get(failed.id) == failed
    assert seen == [failed]
    event = await events.get()
    assert event.data["id"] == failed.id and event.data["latency_s"] is None


async def test_queued_commands_are_delivered_in_order_after_reconnect(
    central: CentralSystem,
) -> None:
    key = await register(central, "CMD-Q")
    commands = central.services.commands
    seen: list[int] = []

    async def listener(command: Command) -> None:
        seen.append(command.id)

    commands.on_finished("ChangeConfiguration", listener)
    queued = [
        await commands.execute(
            "CMD-Q",
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": str(v)},
            requested_by=WHO,
            queue_ttl=timedelta(hours=1),
        )
        for v in (100, 200, 300)
    ]
    assert all(c.state is CommandState.QUEUED and c.sent_at is None for c in queued)
    assert all(c.expires_at == c.created_at + timedelta(hours=1) for c in queued)
    station = await bring_online(central, "CMD-Q", key)
    try:
        done = [await until_command(central, c.id) for c in queued]
        assert [c.state for c in done] == [CommandState.ANSWERED] * 3
        assert [c.status for c in done] == ["Accepted"] * 3
        assert [p["value"] for p in received(station, "ChangeConfiguration")
                if p["key"] == "HeartbeatInterval"] == ["100", "200", "300"]  # fmt: skip
        assert station.cp.config.get("HeartbeatInterval") == "300"
        assert seen == [c.id for c in queued]
        # the queue is empty; a new queued command to an online station goes at once
        now = await commands.execute(
            "CMD-Q", "ClearCache", {}, requested_by=WHO, queue_ttl=timedelta(hours=1)
        )
        assert now.state is CommandState.ANSWERED

        # offline again: queue, then reconnect (the station boots again on reconnect)
        await station.close()
        await eventually(lambda: central.registry.get("CMD-Q") is None)
        later = await commands.execute(
            "CMD-Q", "TriggerMessage", {"requestedMessage": "Heartbeat"},
            requested_by=WHO, queue_ttl=timedelta(minutes=5),
        )  # fmt: skip
        assert later.state is CommandState.QUEUED
    finally:
        await station.close()
    again = await bring_online(central, "CMD-Q", key, Quirks(boot_on_reconnect=True))
    try:
        assert (await until_command(central, later.id)).status == "Accepted"
    finally:
        await again.close()


async def test_queued_commands_survive_a_restart(
    start_central: CentralFactory,
) -> None:
    first = await start_central()
    key = await register(first, "CMD-R")
    queued = [
        await first.services.commands.execute(
            "CMD-R",
            "GetConfiguration",
            {"key": [k]},
            requested_by=WHO,
            queue_ttl=timedelta(hours=1),
        )
        for k in ("HeartbeatInterval", "MeterValueSampleInterval")
    ]
    # a command the stopped node had on the wire: its answer is lost for good
    lost = await first.services.uow.run(
        lambda r: r.commands.add("CMD-R", "ClearCache", {}, WHO, queued[0].created_at,
                                 CommandState.QUEUED)
    )  # fmt: skip
    await first.services.uow.run(lambda r: r.commands.mark_sent(lost.id, lost.created_at))
    await first.stop()

    second = await start_central()
    failed = await second.services.commands.get(lost.id)
    assert failed is not None and failed.state is CommandState.FAILED
    assert failed.error == "node stopped before the reply"
    for command in queued:
        still = await second.services.commands.get(command.id)
        assert still is not None and still.state is CommandState.QUEUED
    station = await bring_online(second, "CMD-R", key)
    try:
        done = [await until_command(second, c.id) for c in queued]
        assert [c.state for c in done] == [CommandState.ANSWERED] * 2
        keys = [[e["key"] for e in c.response["configurationKey"]] for c in done]  # type: ignore[index, union-attr]
        assert keys == [["HeartbeatInterval"], ["MeterValueSampleInterval"]]
        assert [p["key"] for p in received(station, "GetConfiguration") if "key" in p] == [
            ["HeartbeatInterval"], ["MeterValueSampleInterval"],
        ]  # fmt: skip
    finally:
        await station.close()


async def test_queued_commands_expire_and_are_never_sent(
    start_central: CentralFactory,
) -> None:
    central = await start_central(command_sweep_interval=0.05)
    key = await register(central, "CMD-TTL")
    commands = central.services.commands
    short = await commands.execute(
        "CMD-TTL", "ClearCache", {}, requested_by=WHO, queue_ttl=timedelta(milliseconds=200)
    )
    long = await commands.execute(
        "CMD-TTL", "TriggerMessage", {"requestedMessage": "Heartbeat"},
        requested_by=WHO, queue_ttl=timedelta(hours=1),
    )  # fmt: skip
    expired = await until_command(central, short.id)
    assert expired.state is CommandState.EXPIRED and expired.sent_at is None
    station = await bring_online(central, "CMD-TTL", key)
    try:
        assert (await until_command(central, long.id)).state is CommandState.ANSWERED
        assert received(station, "ClearCache") == []
    finally:
        await station.close()


async def test_a_station_that_never_answers_times_out(
    start_central: CentralFactory,
) -> None:
    central = await start_central(response_timeout=0.5)
    async with online(central, "CMD-MUTE", Quirks(drop_replies=True)) as station:
        command = await central.services.commands.execute(
            "CMD-MUTE", "ClearCache", {}, requested_by=WHO
        )
        assert command.state is CommandState.TIMED_OUT
        assert command.response is None and command.status is None
        assert command.error is not None and "response timeout" in command.error
        assert received(station, "ClearCache") == [{}]
        assert await central.services.commands.get(command.id) == command


async def test_a_callerror_is_recorded_as_error(central: CentralSystem) -> None:
    """What our validation would refuse, sent through a permissive service: the
    station's own schema check answers with a CALLERROR."""
    permissive = CommandService(
        central.services.uow, RegistryLink(central.registry), validate=lambda a, p: None
    )
    async with online(central, "CMD-ERR") as station:
        command = await permissive.execute("CMD-ERR", "Reset", {"type": "Warm"}, requested_by=WHO)
        assert command.state is CommandState.ERROR
        assert command.error is not None and command.error.startswith("PropertyConstraint")
        assert command.response is None
        assert answer_to(station, "Reset", {"type": "Warm"}).kind == 4


async def test_a_queueable_command_waits_behind_older_queued_ones(
    central: CentralSystem,
) -> None:
    """Executed while the station's queue is still being delivered (slow replies),
    a command with a TTL queues behind it instead of overtaking it."""
    key = await register(central, "CMD-ORD")
    commands = central.services.commands

    async def change(value: int) -> Command:
        return await commands.execute(
            "CMD-ORD", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": str(value)},
            requested_by=WHO, queue_ttl=timedelta(hours=1),
        )  # fmt: skip

    older = [await change(v) for v in (101, 102, 103)]
    station = await bring_online(central, "CMD-ORD", key, Quirks(reply_delay=0.2))
    try:
        newer = await change(104)
        done = [await until_command(central, c.id) for c in [*older, newer]]
        assert [c.status for c in done] == ["Accepted"] * 4
        assert [p["value"] for p in received(station, "ChangeConfiguration")
                if p["key"] == "HeartbeatInterval"] == ["101", "102", "103", "104"]  # fmt: skip
    finally:
        await station.close()
