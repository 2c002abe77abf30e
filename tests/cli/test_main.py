"""The ``opencsms`` administrative commands against a real SQLite data dir."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opencsms.app import Services
from opencsms.cli.main import app
from opencsms.config import Settings
from opencsms.security.keys import parse_key, verify_key

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCSMS_KEY_HASH_COST", "8")
    return tmp_path / "data"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def stored_hash(data_dir: Path, station_id: str) -> str | None:
    async def read() -> str | None:
        services = await Services.open(Settings(data_dir=data_dir))
        try:
            station = await services.stations.get(station_id)
            return station.auth_key_hash if station is not None else None
        finally:
            await services.close()

    return asyncio.run(read())


def test_stations_add_prints_a_key_once_and_stores_only_its_hash(data_dir: Path) -> None:
    code, output = run("stations", "add", "CP001", "--data-dir", str(data_dir))
    assert code == 0
    key = output.split("AuthorizationKey:")[1].split()[0]
    assert len(key) == 40
    stored = stored_hash(data_dir, "CP001")
    assert stored is not None and key not in stored
    assert verify_key(stored, key.encode())
    code, listing = run("stations", "list", "--data-dir", str(data_dir))
    assert code == 0 and "CP001" in listing and key not in listing
    database = (data_dir / "opencsms.db").read_bytes()
    assert key.encode() not in database and parse_key(key) not in database


def test_stations_add_refuses_bad_keys_and_duplicates(data_dir: Path) -> None:
    for bad in ("short", "x" * 21, "abcd" * 11):
        code, output = run("stations", "add", "CP1", "--key", bad, "--data-dir", str(data_dir))
        assert code == 2 and bad not in output
    assert run("stations", "add", "CP1", "--key", "a" * 32, "--data-dir", str(data_dir))[0] == 0
    code, output = run("stations", "add", "CP1", "--data-dir", str(data_dir))
    assert code == 1 and "already registered" in output
    assert stored_hash(data_dir, "CP1") is not None  # the first registration is intact


def test_stations_remove(data_dir: Path) -> None:
    run("stations", "add", "CP1", "--data-dir", str(data_dir))
    assert run("stations", "remove", "CP1", "--data-dir", str(data_dir))[0] == 0
    assert stored_hash(data_dir, "CP1") is None
    assert run("stations", "remove", "CP1", "--data-dir", str(data_dir))[0] == 1


def test_tags_add_list_block_unblock(data_dir: Path) -> None:
    assert run("tags", "add", "CARD1", "--data-dir", str(data_dir))[0] == 0
    code, _ = run(
        "tags",
        "add",
        "CARD2",
        "--expiry",
        "2030-01-01T00:00:00",
        "--parent",
        "FLEET",
        "--data-dir",
        str(data_dir),
    )
    assert code == 0
    assert run("tags", "block", "CARD1", "--data-dir", str(data_dir))[0] == 0
    code, listing = run("tags", "list", "--data-dir", str(data_dir))
    assert "CARD1" in listing and "Blocked" in listing and "FLEET" in listing
    assert run("tags", "unblock", "CARD1", "--data-dir", str(data_dir))[0] == 0
    assert run("tags", "block", "NOPE", "--data-dir", str(data_dir))[0] == 1
    assert run("tags", "add", "X" * 21, "--data-dir", str(data_dir))[0] == 2


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_taken_port_is_one_clear_error_not_a_traceback(data_dir: Path, command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(  # its own process: serve and demo configure logging
            [
                sys.executable,
                "-m",
                "opencsms",
                command,
                "--data-dir",
                str(data_dir),
                "--ocpp-port",
                str(port),
                "--api-port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    said = " ".join((result.stdout + result.stderr).split())  # Rich wraps long lines
    assert result.returncode == 2, said
    assert f"{port}): address already in use: is another server running?" in said
    assert "see --ocpp-port and --api-port" in said
    assert "Traceback" not in said
