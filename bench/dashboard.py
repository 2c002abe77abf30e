"""The dashboard's pages with 10,000 stations, against the REST API's first page of stations.

    python bench/dashboard.py [--stations 10000] [--compare-small] [--requests 20]
                              [--hours 2] [--database-url postgresql+asyncpg://…]

Fills a fresh database (a SQLite file in a fresh data dir; with
``--database-url`` a PostgreSQL database ``<name>_dash_<pid>`` created on
that server and dropped after) with a fleet of ``--stations`` stations,
then starts a real :class:`~opencsms.app.CentralSystem` on it (HTTPS, ports
0), creates an operator, logs in through the login form (httpx) and times
GETs of the dashboard's pages: ``--requests`` each after a warm-up of 3,
one at a time, median and p90 of the client-side round trip; then the
fleet cards asked for by ``--viewers`` pages at once (as after a live
event), the time until all are answered. The baseline
is ``GET /api/v1/stations?limit=50`` with an API key, in the same run on
the same server. With ``--compare-small`` the same is done for a fleet of
1,000 in the same run, and each page's median at N over its median at
1,000 says whether the page grows with the fleet (~1: it does not).

The node runs on uvloop, as ``opencsms serve`` runs it (``--stdlib-loop``
for asyncio's own loop; see bench/README.md for the ~40 ms it once cost).

The fleet is written through the storage layer's tables (SQLAlchemy Core
bulk inserts on ``opencsms.storage.tables``, after ``migrate``), not through
OCPP: this is the benchmark's setup, and through the protocol a 10,000-station
fleet with an hour of samples would take longer than the measurement. What
it holds, deterministic per station index ``i``:

* stations ``CP-00000``… with vendor/model from four makes, booted, last
  seen within the last 10 minutes (none connected: every station is
  offline to the node, the worst case of the problems list);
* connector 0 and two connectors; connector 1 Charging on every second
  station (its active session), otherwise and on connector 2: about 1 %
  Faulted, 2 % Unavailable, 5 % Preparing, the rest Available;
* N/2 active sessions with ``--hours`` of 1-minute samples (energy
  register and power), and N finished sessions of earlier days;
* one accepted configuration key per station and a failed or rejected one
  on 2 %; a TxProfile per active session, failed on 1 %;
* sites of 50 stations (80 % of the fleet) with a 150 kW cap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvloop
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from opencsms.app import CentralSystem
from opencsms.config import Settings
from opencsms.domain.model import ApiRole
from opencsms.domain.smart_charging.grid import SiteLimit
from opencsms.domain.smart_charging.records import Site
from opencsms.security.tls import client_ssl_context
from opencsms.storage import create_engine, migrate
from opencsms.storage.smart_charging_repository import _site_values
from opencsms.storage.tables import (
    charging_profiles,
    connector_status,
    meter_values,
    provisioning,
    site_members,
    sites,
    stations,
    transactions,
)
from opencsms.testing import create_api_key

MAKES = (("Acme", "AC-22"), ("VoltPoint", "VP-11"), ("ChargeCo", "CC-50 DC"), ("Zap", "Z2"))
SITE_SIZE = 50
PASSWORD = "correct horse battery staple"
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
BATCH = 20_000


def station_id(i: int) -> str:
    return f"CP-{i:05d}"


def status_of(i: int, connector: int) -> tuple[str, str]:
    """(status, error code) of a connector that is not charging."""
    k = (i * 7 + connector * 13) % 100
    if k == 0:
        return "Faulted", "GroundFailure"
    if k in (1, 2):
        return "Unavailable", "NoError"
    if k < 8:
        return "Preparing", "NoError"
    return "Available", "NoError"


@dataclass(frozen=True, slots=True)
class Fleet:
    stations: int
    mid_station: str
    session_id: int
    session_station: str
    fill_s: float
    rows: int


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def fill(url: str, n: int, hours: int, now: datetime) -> Fleet:
    started = time.perf_counter()
    engine = create_engine(url, sqlite_synchronous="OFF")
    await migrate(engine)
    count = 0

    async def put(table: Any, rows: Iterator[dict[str, Any]]) -> None:
        nonlocal count
        for batch in _batches(rows):
            async with engine.begin() as conn:
                await conn.execute(insert(table), batch)
            count += len(batch)

    def station_rows() -> Iterator[dict[str, Any]]:
        for i in range(n):
            vendor, model = MAKES[i % len(MAKES)]
            yield {
                "id": station_id(i),
                "auth_key_hash": None,
                "registered_at": now - timedelta(days=30),
                "lenient_validation": False,
                "info_vendor": vendor,
                "info_model": model,
                "info_serial_number": f"SN{i:07d}",
                "info_firmware_version": "1.4.2",
                "last_boot_at": now - timedelta(days=1, seconds=i),
                "last_seen_at": now - timedelta(seconds=(i * 37) % 600),
            }

    def status_rows() -> Iterator[dict[str, Any]]:
        for i in range(n):
            for connector in (0, 1, 2):
                if connector == 0:
                    status, error = "Available", "NoError"
                elif connector == 1 and i % 2 == 0:
                    status, error = "Charging", "NoError"
                else:
                    status, error = status_of(i, connector)
                at = now - timedelta(minutes=(i * 11 + connector) % 240)
                yield {
                    "station_id": station_id(i),
                    "connector_id": connector,
                    "status": status,
                    "error_code": error,
                    "updated_at": at,
                    "timestamp": at,
                    "info": None,
                    "vendor_id": None,
                    "vendor_error_code": None,
                }

    start_at = now - timedelta(hours=hours)

    def transaction_rows() -> Iterator[dict[str, Any]]:
        # finished sessions of earlier days first (lower ids), then the active ones
        for i in range(n):
            begun = now - timedelta(days=1 + i % 6, hours=i % 9)
            yield {
                "station_id": station_id(i),
                "connector_id": 2,
                "id_tag": f"TAG{i % 500:04d}",
                "tag_status": "Accepted",
                "meter_start": 0,
                "started_at": begun,
                "meter_stop": 21_000,
                "stopped_at": begun + timedelta(hours=3),
                "stop_reason": "Local",
                "stop_id_tag": None,
                "energy_wh": 21_000,
                "meter_anomaly": False,
            }
        for i in range(0, n, 2):
            yield {
                "station_id": station_id(i),
                "connector_id": 1,
                "id_tag": f"TAG{i % 500:04d}",
                "tag_status": "Accepted",
                "meter_start": 1000,
                "started_at": start_at,
                "meter_stop": None,
                "stopped_at": None,
                "stop_reason": None,
                "stop_id_tag": None,
                "energy_wh": None,
                "meter_anomaly": False,
            }

    await put(stations, station_rows())
    await put(connector_status, status_rows())
    await put(transactions, transaction_rows())
    first_active = n + 1  # ids are 1.. in insertion order on both databases
    active = {station_id(i): first_active + k for k, i in enumerate(range(0, n, 2))}

    def sample_rows() -> Iterator[dict[str, Any]]:
        for k, (sid, tx) in enumerate(active.items()):
            watts = 7400 if k % 3 else 11_000
            for m in range(1, hours * 60 + 1):
                at = start_at + timedelta(minutes=m)
                common = {
                    "station_id": sid,
                    "connector_id": 1,
                    "transaction_id": tx,
                    "reported_transaction_id": tx,
                    "timestamp": at,
                    "received_at": at,
                    "phase": None,
                    "context": "Sample.Periodic",
                    "location": "Outlet",
                    "format": "Raw",
                }
                yield {
                    **common,
                    "measurand": "Energy.Active.Import.Register",
                    "value": str(1000 + watts * m // 60),
                    "unit": "Wh",
                }
                yield {
                    **common,
                    "measurand": "Power.Active.Import",
                    "value": str(watts),
                    "unit": "W",
                }

    await put(meter_values, sample_rows())

    def provisioning_rows() -> Iterator[dict[str, Any]]:
        for i in range(n):
            base = {"station_id": station_id(i), "attempts": 1, "detail": None}
            at = now - timedelta(hours=1, seconds=i)
            yield {
                **base,
                "key": "MeterValueSampleInterval",
                "desired_value": "60",
                "state": "accepted",
                "updated_at": at,
            }
            if i % 50 == 1:
                state = "failed" if i % 100 == 1 else "rejected"
                yield {
                    **base,
                    "key": "HeartbeatInterval",
                    "desired_value": "300",
                    "state": state,
                    "updated_at": at,
                    "detail": "no answer",
                }

    def profile_rows() -> Iterator[dict[str, Any]]:
        for k, (sid, tx) in enumerate(active.items()):
            failed = k % 100 == 3
            yield {
                "station_id": sid,
                "connector_id": 1,
                "purpose": "TxProfile",
                "profile_id": 100 + k,
                "payload": {"chargingProfileId": 100 + k, "stackLevel": 1},
                "state": "failed" if failed else "verified",
                "step": "flip_unit" if failed else "as_is",
                "attempts": 6 if failed else 1,
                "updated_at": now - timedelta(minutes=k % 120),
                "transaction_id": tx,
                "resend_at": None,
                "detail": "limit not in effect" if failed else None,
            }

    def site_rows() -> Iterator[dict[str, Any]]:
        for s in range(n * 8 // 10 // SITE_SIZE):
            site_id = f"site-{s:04d}"
            yield _site_values(Site(site_id, f"Depot {s}", SiteLimit(site_id, 150.0)))

    def member_rows() -> Iterator[dict[str, Any]]:
        for i in range(n * 8 // 10 // SITE_SIZE * SITE_SIZE):
            yield {"station_id": station_id(i), "site_id": f"site-{i // SITE_SIZE:04d}"}

    await put(provisioning, provisioning_rows())
    await put(charging_profiles, profile_rows())
    await put(sites, site_rows())
    await put(site_members, member_rows())
    await engine.dispose()
    # a session in the middle of the fleet, metered
    k = len(active) // 2
    session_station, session_id = list(active.items())[k]
    return Fleet(
        n, station_id(n // 2), session_id, session_station, time.perf_counter() - started, count
    )


def pages(fleet: Fleet) -> list[tuple[str, str]]:
    s, tx = fleet.session_station, fleet.session_id
    return [
        ("dashboard: fleet page (full)", "/dashboard/"),
        ("fleet table, a later page", f"/dashboard/fleet/table?after={fleet.mid_station}"),
        ("fleet table, q=volt (1 in 4)", "/dashboard/fleet/table?q=volt"),
        ("fleet table, q=<an id> (rare)", f"/dashboard/fleet/table?q={s}"),
        ("fleet table, status=Faulted", "/dashboard/fleet/table?status=Faulted"),
        ("fleet cards", "/dashboard/fleet/cards"),
        ("fleet problems", "/dashboard/fleet/problems"),
        ("station page", f"/dashboard/stations/{s}"),
        ("station power.json", f"/dashboard/stations/{s}/power.json"),
        ("sessions list", "/dashboard/sessions"),
        ("session page", f"/dashboard/sessions/{tx}"),
        ("session power.json", f"/dashboard/sessions/{tx}/power.json"),
        ("smart charging", "/dashboard/smart-charging"),
        ("a site's load.json (50 stations)", "/dashboard/smart-charging/sites/site-0000/load.json"),
    ]


BASELINE = ("baseline: GET /api/v1/stations?limit=50", "/api/v1/stations?limit=50")


@dataclass(frozen=True, slots=True)
class Timing:
    name: str
    median_ms: float
    p90_ms: float
    size: int


async def timed(client: httpx.AsyncClient, name: str, path: str, requests: int) -> Timing:
    size = 0
    for _ in range(3):
        response = await client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}\n{response.text[:2000]}")
        size = len(response.content)
    times: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    p90 = statistics.quantiles(times, n=10)[8] if len(times) > 1 else times[0]
    return Timing(name, statistics.median(times), p90, size)


async def together(
    client: httpx.AsyncClient, name: str, path: str, viewers: int, rounds: int
) -> Timing:
    """``viewers`` GETs of ``path`` at once, as open pages do after one live
    event; the time until all are answered, median over ``rounds``."""
    times: list[float] = []
    size = 0
    for _ in range(rounds + 1):  # the first round warms up
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(path) for _ in range(viewers)))
        times.append((time.perf_counter() - started) * 1000)
        assert all(r.status_code == 200 for r in responses), path
        size = len(responses[0].content)
    times = times[1:]
    p90 = statistics.quantiles(times, n=10)[8] if len(times) > 1 else times[0]
    return Timing(name, statistics.median(times), p90, size)


async def log_in(client: httpx.AsyncClient, name: str) -> None:
    """The login form, as a browser fills it in."""
    form = await client.get("/dashboard/login")
    token = _LOGIN_TOKEN.search(form.text)
    assert token is not None, form.text
    response = await client.post(
        "/dashboard/login",
        data={
            "username": name,
            "password": PASSWORD,
            "login_token": token.group(1),
            "next": "/dashboard/",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200 and "csrf" in response.text.lower(), response.text[:500]


async def measure(n: int, args: argparse.Namespace, base_url: str | None) -> list[Timing]:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        url = f"sqlite+aiosqlite:///{data_dir / 'opencsms.db'}"
        dbname = None
        if base_url is not None:
            dbname = await _create_database(base_url, f"{n}")
            url = make_url(base_url).set(database=dbname).render_as_string(hide_password=False)
        try:
            fleet = await fill(url, n, args.hours, now)
            print(
                f"\n{n:,} stations: {fleet.rows:,} rows written in {fleet.fill_s:.1f} s "
                f"({url.split(':')[0]}); session {fleet.session_id} on {fleet.session_station}"
            )
            return await _serve_and_time(fleet, data_dir, url, args)
        finally:
            if dbname is not None and base_url is not None:
                await _drop_database(base_url, dbname)


async def _serve_and_time(
    fleet: Fleet, data_dir: Path, url: str, args: argparse.Namespace
) -> list[Timing]:
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        api_host="127.0.0.1",
        api_port=0,
        key_hash_cost=8,
    )
    central = CentralSystem(settings)
    await central.start()
    try:
        await central.services.operators.create("bench", PASSWORD, ApiRole.READ_ONLY)
        token = await create_api_key(central.services, ApiRole.READ_ONLY, "bench")
        assert central.ca_file is not None
        verify = client_ssl_context(central.ca_file)
        async with (
            httpx.AsyncClient(base_url=central.api_url, verify=verify, timeout=60) as page,
            httpx.AsyncClient(
                base_url=central.api_url,
                verify=verify,
                timeout=60,
                headers={"Authorization": f"Bearer {token}"},
            ) as api,
        ):
            await log_in(page, "bench")
            results = [await timed(api, *BASELINE, args.requests)]
            for name, path in pages(fleet):
                results.append(await timed(page, name, path, args.requests))
            results.append(
                await together(
                    page,
                    f"fleet cards, {args.viewers} viewers at once",
                    "/dashboard/fleet/cards",
                    args.viewers,
                    max(3, args.requests // 2),
                )
            )
            return results
    finally:
        await central.stop()


async def _create_database(base_url: str, suffix: str) -> str:
    import asyncpg

    base = make_url(base_url)
    name = f"{base.database or 'opencsms'}_dash_{os.getpid()}_{suffix}"
    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_database(base_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(base_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def report(n: int, results: list[Timing]) -> None:
    base = results[0].median_ms
    print(f"{'page':42} {'median ms':>10} {'p90 ms':>8} {'/ baseline':>10} {'bytes':>9}")
    for t in results:
        print(
            f"{t.name:42} {t.median_ms:10.1f} {t.p90_ms:8.1f} "
            f"{t.median_ms / base:10.2f} {t.size:9,}"
        )


async def run(args: argparse.Namespace) -> None:
    sizes = [args.stations] + ([1000] if args.compare_small else [])
    found: dict[int, list[Timing]] = {}
    for n in sizes:
        found[n] = await measure(n, args, args.database_url)
        report(n, found[n])
    if args.compare_small:
        big, small = found[args.stations], found[1000]
        print(f"\nmedian at {args.stations:,} / median at 1,000 (~1: the page does not grow)")
        for a, b in zip(big, small, strict=True):
            print(f"{a.name:42} {a.median_ms / b.median_ms:6.2f}")
    if args.json:
        figures = {
            str(n): {t.name: [round(t.median_ms, 1), round(t.p90_ms, 1), t.size] for t in r}
            for n, r in found.items()
        }
        print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--compare-small", action="store_true", help="also N = 1,000")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--viewers", type=int, default=10, help="pages asking for the cards at once"
    )
    parser.add_argument("--hours", type=int, default=2, help="of minute samples per session")
    parser.add_argument("--database-url", help="PostgreSQL server; a fresh database is made")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--stdlib-loop", action="store_true", help="asyncio's own loop instead of uvloop"
    )
    args = parser.parse_args()
    if args.stdlib_loop:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))  # as ``opencsms serve`` runs the node


if __name__ == "__main__":
    main()
