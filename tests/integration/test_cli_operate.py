"""The operator CLI against a running server (over HTTPS with an API key) and
in-process on the local database, with a simulated station answering."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner, Result

from opencsms.app import CentralSystem
from opencsms.cli.main import app
from opencsms.domain.model import ApiRole, CommandState, IdTag
from opencsms.simulator import EV, ConnectionSettings, FakeClock, SimulatedStation
from opencsms.testing import create_api_key

from .conftest import CentralFactory

runner = CliRunner()


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the CLI in a thread: it has its own event loop, the server runs in ours."""
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env)


def remote_env(central: CentralSystem, key: str) -> dict[str, str]:
    assert central.ca_file is not None
    return {
        "OPENCSMS_API_URL": central.api_url,
        "OPENCSMS_API_KEY": key,
        "OPENCSMS_API_CA_FILE": str(central.ca_file),
    }


async def online_station(central: CentralSystem, station_id: str, key: str) -> SimulatedStation:
    station = SimulatedStation(station_id, clock=FakeClock(), authorization_key=key)
    await station.connect(
        ConnectionSettings(url=central.ocpp_url, ca_file=str(central.ca_file), response_timeout=5)
    )
    async with asyncio.timeout(10):
        while central.registry.get(station_id) is None or not station.cp.online:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return station


async def test_remote_cli_registers_commands_and_reads_a_session(
    start_central: CentralFactory,
) -> None:
    central = await start_central()
    env = remote_env(central, await create_api_key(central.services, ApiRole.ADMIN, "ops"))

    added = await cli("stations", "add", "CP7", env=env)
    assert added.exit_code == 0, added.output
    key = added.output.split("AuthorizationKey:")[1].split()[0]
    await central.services.tags.put(IdTag("CARD1"))
    station = await online_station(central, "CP7", key)
    try:
        listed = await cli("stations", "list", "--online", env=env)
        assert listed.exit_code == 0 and "CP7" in listed.output and "yes" in listed.output

        sent = await cli(
            "commands", "send", "CP7", "ChangeConfiguration",
            "-p", json.dumps({"key": "HeartbeatInterval", "value": "120"}),
            env=env,
        )  # fmt: skip
        assert sent.exit_code == 0, sent.output
        assert "answered" in sent.output and "(Accepted)" in sent.output
        commands = await central.services.commands.list(station_id="CP7")
        change = next(c for c in commands if c.action == "ChangeConfiguration")
        assert change.state is CommandState.ANSWERED and change.requested_by == "apikey:ops"
        assert station.cp.config.get("HeartbeatInterval") == "120"

        shown = await cli("commands", "show", str(change.id), env=env)
        assert shown.exit_code == 0 and '"status": "Accepted"' in shown.output

        await station.plug_in(1, EV(battery_kwh=40, soc=0.5))
        await station.present_tag("CARD1", 1)
        async with asyncio.timeout(10):
            while station.transaction_id(1) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        transactions = await cli("transactions", "list", "--station", "CP7", env=env)
        assert transactions.exit_code == 0 and "CARD1" in transactions.output
        transaction_id = station.transaction_id(1)
        detail = await cli("transactions", "show", str(transaction_id), env=env)
        assert detail.exit_code == 0 and f"transaction {transaction_id}" in detail.output
    finally:
        await station.close()


async def test_remote_cli_errors_say_what_is_wrong(start_central: CentralFactory) -> None:
    central = await start_central()
    reader = remote_env(central, await create_api_key(central.services, ApiRole.READ_ONLY))

    refused = await cli("stations", "add", "CP1", env=reader)
    assert refused.exit_code == 1 and "read-only" in refused.output
    assert await central.services.stations.get("CP1") is None

    bad_key = {**reader, "OPENCSMS_API_KEY": "ocsms_nope_nope"}
    assert (await cli("stations", "list", env=bad_key)).exit_code == 1

    admin = remote_env(central, await create_api_key(central.services, ApiRole.ADMIN))
    await central.services.stations.register("CP2")
    offline = await cli("commands", "send", "CP2", "Reset", "-p", '{"type": "Soft"}', env=admin)
    assert offline.exit_code == 1 and "not connected" in offline.output
    assert "--queue-ttl" in offline.output
    invalid = await cli("commands", "send", "CP2", "Reset", "-p", '{"type": "Hard!"}', env=admin)
    assert invalid.exit_code == 2
    not_json = await cli("commands", "send", "CP2", "Reset", "-p", "{type", env=admin)
    assert not_json.exit_code == 2 and "not JSON" in not_json.output


async def test_local_cli_queues_a_command_the_server_delivers_on_connect(
    start_central: CentralFactory,
) -> None:
    central = await start_central()
    data_dir = str(central.settings.data_dir)
    key = (
        (await cli("stations", "add", "CP9", "--data-dir", data_dir))
        .output.split("AuthorizationKey:")[1]
        .split()[0]
    )
    queued = await cli(
        "commands", "send", "CP9", "ChangeConfiguration",
        "-p", '{"key": "MeterValueSampleInterval", "value": "30"}',
        "--queue-ttl", "3600", "--data-dir", data_dir,
    )  # fmt: skip
    assert queued.exit_code == 0 and "queued" in queued.output
    station = await online_station(central, "CP9", key)
    try:
        async with asyncio.timeout(10):
            while station.cp.config.get("MeterValueSampleInterval") != "30":  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        listed = await cli("commands", "list", "--station", "CP9", "--data-dir", data_dir)
        assert listed.exit_code == 0 and "CP9" in listed.output
        (command,) = [
            c
            for c in await central.services.commands.list(station_id="CP9")
            if c.action == "ChangeConfiguration" and c.payload["value"] == "30"
        ]
        assert command.state is CommandState.ANSWERED
        assert command.requested_by == "cli:local"
    finally:
        await station.close()
