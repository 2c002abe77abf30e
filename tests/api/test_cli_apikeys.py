"""``opencsms apikeys create`` makes the first key; it works against the API;
``revoke`` ends it; ``list`` never shows a secret; both are security events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from integration.conftest import CentralFactory, api_client_for
from opencsms.app import Services
from opencsms.cli.main import app
from opencsms.config import Settings
from opencsms.domain.api_keys import PREFIX

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def token_of(output: str) -> str:
    return next(word for word in output.split() if word.startswith(PREFIX))


async def test_created_key_works_against_the_api(
    start_central: CentralFactory, tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    code, output = await asyncio.to_thread(run, "apikeys", "create", "ops", "--data-dir", data_dir)
    assert code == 0, output
    admin = token_of(output)
    code, output = await asyncio.to_thread(
        run, "apikeys", "create", "dashboard", "--role", "read-only", "--data-dir", data_dir
    )
    assert code == 0, output
    reader = token_of(output)

    code, listing = await asyncio.to_thread(run, "apikeys", "list", "--data-dir", data_dir)
    assert code == 0 and "ops" in listing and "read-only" in listing
    assert admin not in listing and admin.split("_", 2)[2] not in listing
    database = (tmp_path / "data" / "opencsms.db").read_bytes()
    assert admin.split("_", 2)[2].encode() not in database

    central = await start_central()
    async with api_client_for(central, admin) as client:
        assert (await client.post("/api/v1/stations", json={"id": "CP1"})).status_code == 201
    async with api_client_for(central, reader) as client:
        assert (await client.get("/api/v1/stations")).status_code == 200
        assert (await client.delete("/api/v1/stations/CP1")).status_code == 403

    key_id = admin.split("_")[1]
    code, output = await asyncio.to_thread(run, "apikeys", "revoke", key_id, "--data-dir", data_dir)
    assert code == 0, output
    async with api_client_for(central, admin) as client:
        assert (await client.get("/api/v1/stations")).status_code == 401
    code, _ = await asyncio.to_thread(run, "apikeys", "revoke", key_id, "--data-dir", data_dir)
    assert code == 1

    services = await Services.open(Settings(data_dir=Path(data_dir)))
    try:
        events = await services.security.recent()
    finally:
        await services.close()
    said = [(e.kind, e.subject) for e in reversed(events)]
    assert said == [  # the second revoke changed nothing: no event
        ("api_key.created", "ops"),
        ("api_key.created", "dashboard"),
        ("api_key.revoked", "ops"),
    ]
    assert all(e.detail.endswith("(command line)") for e in events)
    assert f"API key {key_id} (admin) revoked by " in events[0].detail


@pytest.mark.parametrize("args", [["create", " "], ["create", "x", "--role", "root"]])
def test_create_refuses_bad_input(tmp_path: Path, args: list[str]) -> None:
    code, _ = run("apikeys", *args, "--data-dir", str(tmp_path / "data"))
    assert code == 2
