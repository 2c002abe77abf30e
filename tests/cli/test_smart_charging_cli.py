"""``opencsms signals | sites | sessions | savings | stations charging``:
in-process on a real SQLite data dir (the same API application the server
runs), and once against a running server over HTTPS with an API key."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from integration.conftest import CentralFactory, start_central  # noqa: F401
from opencsms.app import Services
from opencsms.cli.main import app
from opencsms.config import Settings
from opencsms.domain.model import ApiRole, IdTag, TransactionStart, TransactionStop
from opencsms.signals import sample
from opencsms.testing import create_api_key

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENCSMS_KEY_HASH_COST", "8")
    return tmp_path / "data"


@pytest.fixture(autouse=True)
def quiet_services() -> Any:
    """Keep the services' logs out of the output. (Outside tests the commands
    configure logging to stderr themselves; here that would bind structlog
    to CliRunner's stderr, closed after the first command.)"""
    with capture_logs() as captured:
        yield captured


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def run_json(data_dir: Path, *args: str) -> Any:
    """The command's stdout as JSON (not a terminal: JSON without --json)."""
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def with_services(data_dir: Path, work: Any) -> Any:
    async def main() -> Any:
        services = await Services.open(Settings(data_dir=data_dir))
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(main())


def test_signals_import_list_show(data_dir: Path, tmp_path: Path) -> None:
    csv = write(tmp_path, "rates.csv", sample("rates.csv"))
    imported = run_json(data_dir, "signals", "import", "price", csv, "--format", "csv")
    assert imported["stored"] == 4 and imported["unit"] == "p/kWh"
    xml = write(tmp_path, "day-ahead.xml", sample("entsoe_de_lu_2024-03-31.xml"))
    assert run_json(data_dir, "signals", "import", "eur", xml, "--format", "entsoe")["stored"] == 23
    listed = run_json(data_dir, "signals", "list")
    assert [(s["series"], s["count"]) for s in listed] == [("eur", 23), ("price", 4)]
    shown = run_json(
        data_dir,
        "signals",
        "show",
        "price",
        "--start",
        "2024-01-15T00:30:00",  # no offset: UTC
        "--end",
        "2024-01-15T01:30:00Z",
    )
    assert [r["value"] for r in shown["rates"]] == [13.02, -2.21]


def test_a_broken_signal_file_exits_2_and_stores_nothing(data_dir: Path, tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.csv", b"start,end,value,unit\n2024-01-15T00:00Z,x,1,p/kWh\n")
    code, output = run(data_dir, "signals", "import", "price", broken, "--format", "csv")
    assert code == 2 and "line 2" in output
    assert run_json(data_dir, "signals", "list") == []
    code, output = run(data_dir, "signals", "show", "price")
    assert code == 1 and "price" in output


def test_sites_put_list_show_assign_remove(data_dir: Path) -> None:
    assert run(data_dir, "stations", "add", "CP1")[0] == 0
    site = run_json(
        data_dir,
        "sites",
        "put",
        "depot",
        "--name",
        "North",
        "--limit",
        "32",
        "--unit",
        "A",
        "--objective",
        "price+co2",
        "--lam",
        "0.01",
    )
    assert site["limit"]["limit_kw"] == pytest.approx(22.08)
    assert site["objective"] == {"mode": "price+co2", "lam": 0.01}
    assert [s["site_id"] for s in run_json(data_dir, "sites", "list")] == ["depot"]
    assigned = run_json(data_dir, "sites", "assign", "CP1", "depot")
    assert assigned == {"station_id": "CP1", "site_id": "depot"}
    assert run_json(data_dir, "sites", "show", "depot")["members"] == ["CP1"]

    code, output = run(data_dir, "sites", "assign", "NOPE", "depot")
    assert code == 1 and "NOPE" in output
    assert run(data_dir, "sites", "assign", "CP1")[0] == 2  # neither SITE nor --none
    assert run(data_dir, "sites", "assign", "CP1", "depot", "--none")[0] == 2
    code, output = run(data_dir, "sites", "put", "bad", "--limit", "-3")
    assert code == 2 and "limit" in output

    assert run_json(data_dir, "sites", "assign", "CP1", "--none")["site_id"] is None
    assert run_json(data_dir, "sites", "show", "depot")["members"] == []
    assert run(data_dir, "sites", "remove", "depot")[0] == 0
    assert run(data_dir, "sites", "remove", "depot")[0] == 1
    assert run_json(data_dir, "sites", "list") == []


def test_site_events_import_and_list(data_dir: Path, tmp_path: Path) -> None:
    run_json(data_dir, "sites", "put", "depot-north", "--limit", "100")
    simple = write(tmp_path, "events.json", sample("flex_events.json"))
    assert len(run_json(data_dir, "sites", "events", "import", "depot-north", simple)) == 3
    openadr = write(tmp_path, "oadr.json", sample("openadr_distribute_event.json"))
    code, output = run(
        data_dir, "sites", "events", "import", "depot-north", openadr, "--format", "openadr"
    )
    assert code == 2 and "VEN-DEPOT-NORTH" in output
    stored = run_json(
        data_dir,
        "sites",
        "events",
        "import",
        "depot-north",
        openadr,
        "--format",
        "openadr",
        "--target",
        "VEN-DEPOT-NORTH",
    )
    assert len(stored) == 2
    assert len(run_json(data_dir, "sites", "events", "list", "depot-north")) == 4
    everything = run_json(data_dir, "sites", "events", "list", "depot-north", "--include-cancelled")
    assert sum(e["cancelled"] for e in everything) == 1
    code, output = run(data_dir, "sites", "events", "import", "other", simple)
    assert code in (1, 2) and "other" in output


def test_sessions_need_plan_switch_and_savings(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, "stations", "add", "CP1")[0] == 0
    assert run(data_dir, "tags", "add", "CARD1")[0] == 0
    now = datetime.now(UTC).replace(microsecond=0)

    async def start(services: Services) -> int:
        await services.tags.put(IdTag("CARD1"))
        tx, _ = await services.transactions.start(
            TransactionStart("CP1", 1, "CARD1", 0, now - timedelta(minutes=30))
        )
        return tx

    tx = with_services(data_dir, start)
    need = run_json(data_dir, "sessions", "need", str(tx), "--energy", "12", "--departure", "+8h")
    assert need["energy_kwh"] == 12 and need["set_by"] == "cli:local"
    departure = datetime.fromisoformat(need["departure"])
    assert timedelta(hours=7, minutes=59) < departure - now < timedelta(hours=8, minutes=5)
    code, output = run(data_dir, "sessions", "need", "999", "--energy", "1", "--departure", "+1h")
    assert code == 1 and "999" in output
    code, _ = run(data_dir, "sessions", "need", str(tx), "--energy", "1", "--departure", "soon")
    assert code == 2

    view = run_json(data_dir, "sessions", "plan", str(tx))
    assert view["transaction_id"] == tx and view["need"]["energy_kwh"] == 12

    off = run_json(data_dir, "stations", "charging", "CP1", "off")
    assert off["mode"] == "off"
    assert run_json(data_dir, "stations", "charging", "CP1")["mode"] == "off"
    assert run_json(data_dir, "stations", "charging", "CP1", "smart")["mode"] == "smart"
    assert run(data_dir, "stations", "charging", "CP1", "turbo")[0] == 2
    assert run(data_dir, "stations", "charging", "NOPE", "off")[0] == 1

    async def stop(services: Services) -> None:
        await services.transactions.stop(TransactionStop("CP1", tx, 4000, now))

    with_services(data_dir, stop)
    report = run_json(
        data_dir,
        "savings",
        "--start",
        (now - timedelta(hours=1)).isoformat(),
        "--end",
        (now + timedelta(hours=1)).isoformat(),
    )
    assert report["total"]["sessions"] == 1 and list(report["by_station"]) == ["CP1"]
    code, output = run(data_dir, "savings", "--start", "+1h", "--end", "+0h")
    assert code == 2 and "after" in output


async def test_remote_cli_over_https_with_a_key(
    start_central: CentralFactory,  # noqa: F811
    tmp_path: Path,
) -> None:
    central = await start_central()
    assert central.ca_file is not None
    admin = await create_api_key(central.services, ApiRole.ADMIN, "ops")
    reader = await create_api_key(central.services, ApiRole.READ_ONLY, "viewer")
    env = {"OPENCSMS_API_URL": central.api_url, "OPENCSMS_API_CA_FILE": str(central.ca_file)}
    csv = write(tmp_path, "rates.csv", sample("rates.csv"))

    def invoke(key: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={**env, "OPENCSMS_API_KEY": key})
        return result.exit_code, result.stdout if result.exit_code == 0 else result.output

    code, output = await asyncio.to_thread(
        invoke, reader, "signals", "import", "price", csv, "--format", "csv"
    )
    assert code == 1 and "read-only" in output
    code, output = await asyncio.to_thread(
        invoke, admin, "signals", "import", "price", csv, "--format", "csv"
    )
    assert code == 0 and json.loads(output)["stored"] == 4
    code, output = await asyncio.to_thread(invoke, reader, "signals", "list")
    assert code == 0 and json.loads(output)[0]["series"] == "price"
