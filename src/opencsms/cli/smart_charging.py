"""``opencsms signals | sessions | savings`` and ``stations charging`` (and the
helpers ``sites.py`` shares): smart charging through the REST API (like
``operate.py``: in-process on the local database, or a running server with
``--api-url``).

Output is JSON when ``--json`` is given or stdout is not a terminal (so
``opencsms savings ... | jq`` just works), a Rich table otherwise. Exit code 2
when the API refuses the request as invalid (422), 1 for any other refusal.
Times without an offset are UTC; ``+8h`` / ``+90m`` mean from now.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.table import Table

from opencsms import logs
from opencsms.cli.api_client import ApiClient, ApiError, Target, open_client
from opencsms.cli.operate import NO_TARGET, stations_app, with_target

signals_app = typer.Typer(
    help="Price and carbon signals: import files, list and read series.", no_args_is_help=True
)
sessions_app = typer.Typer(
    help="Charging sessions' needs and plans (smart charging).", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

Json = Annotated[bool, typer.Option("--json", help="JSON output, even on a terminal")]
When = Annotated[
    str | None, typer.Option(help="ISO 8601 (UTC if no offset) or +8h / +90m from now")
]


def call_api(target: Target, work: Callable[[ApiClient], Awaitable[Any]]) -> Any:
    if not structlog.is_configured():
        # In-process the services log (to stdout, unconfigured): stdout is for
        # the answer (``opencsms ... | jq``), so warnings only, to stderr.
        logs.configure("WARNING")

    async def main() -> Any:
        async with open_client(target) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except ApiError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2 if exc.status_code == 422 else 1) from None


def request(target: Target, method: str, path: str, **options: Any) -> Any:
    return call_api(target, lambda client: client.request(method, path, **options))[1]


def emit(document: Any, as_json: bool, table: Callable[[Any], None]) -> None:
    if as_json or not console.is_terminal:
        typer.echo(json.dumps(document, indent=2))
    else:
        table(document)


_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([hm])$")


def when_option(name: str, value: str | None) -> str | None:
    """An option's time as ISO 8601 with an offset (UTC when none was given)."""
    if value is None:
        return None
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount = float(relative.group(1))
        delta = timedelta(hours=amount) if relative.group(2) == "h" else timedelta(minutes=amount)
        return (datetime.now(UTC) + delta).isoformat()
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors.print(f"[red]error:[/] {name}: not an ISO 8601 time: {value!r}", highlight=False)
        raise typer.Exit(2) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def shown_time(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


# -- signals ------------------------------------------------------------------


@signals_app.command("import")
@with_target
def signals_import(
    series: Annotated[str, typer.Argument(help="Series name, e.g. price or co2")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[
        str, typer.Option("--format", help="agile | carbon_intensity | entsoe | csv")
    ] = "csv",
    payment_method: Annotated[str | None, typer.Option(help="agile: payment method")] = None,
    vat: Annotated[bool | None, typer.Option("--vat/--no-vat", help="agile: VAT in")] = None,
    open_until: Annotated[str | None, typer.Option(help="agile: end of an open rate")] = None,
    region_id: Annotated[int | None, typer.Option(help="carbon_intensity: region")] = None,
    prefer_forecast: Annotated[
        bool | None, typer.Option("--prefer-forecast", help="carbon_intensity: forecasts")
    ] = None,
    resolution: Annotated[str | None, typer.Option(help="entsoe: e.g. PT15M")] = None,
    unit: Annotated[str | None, typer.Option(help="csv: unit without a unit column")] = None,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Parse a signal file and store it as SERIES (a bad file stores nothing)."""
    params = {
        "format": fmt,
        "payment_method": payment_method,
        "include_vat": vat,
        "open_until": when_option("--open-until", open_until),
        "region_id": region_id,
        "prefer_forecast": prefer_forecast,
        "resolution": resolution,
        "unit": unit,
    }
    result = request(target, "POST", f"/signals/{series}", params=params, content=file.read_bytes())
    emit(
        result,
        as_json,
        lambda r: console.print(
            f"{r['series']}: stored {r['stored']} rates in {r['unit']}, "
            f"{shown_time(r['first_start'])} to {shown_time(r['last_end'])}"
        ),
    )


@signals_app.command("list")
@with_target
def signals_list(as_json: Json = False, target: Target = NO_TARGET) -> None:
    """The stored series: unit, the time they cover, how many rates."""

    def table(found: list[dict[str, Any]]) -> None:
        rows = Table("series", "unit", "from", "to", "rates")
        for s in found:
            rows.add_row(
                s["series"],
                s["unit"],
                shown_time(s["first_start"]),
                shown_time(s["last_end"]),
                str(s["count"]),
            )
        console.print(rows)

    emit(request(target, "GET", "/signals"), as_json, table)


@signals_app.command("show")
@with_target
def signals_show(
    series: str,
    start: When = None,
    end: When = None,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """A series' rates (default: all of them)."""
    params = {"start": when_option("--start", start), "end": when_option("--end", end)}

    def table(found: dict[str, Any]) -> None:
        rows = Table("start", "end", "value", "unit")
        for r in found["rates"]:
            rows.add_row(shown_time(r["start"]), shown_time(r["end"]), f"{r['value']:g}", r["unit"])
        console.print(rows)

    emit(request(target, "GET", f"/signals/{series}", params=params), as_json, table)


# -- sessions -----------------------------------------------------------------


@sessions_app.command("need")
@with_target
def sessions_need(
    transaction_id: int,
    energy: Annotated[
        float,
        typer.Option(
            help="kWh the session needs in all by departure (what it already drew counts)"
        ),
    ],
    departure: Annotated[str, typer.Option(help="ISO 8601 (UTC if no offset) or +8h")],
    max_power: Annotated[float | None, typer.Option(help="The car's limit, kW")] = None,
    precondition: Annotated[int, typer.Option(help="Minutes of charge before departure")] = 0,
    continuous: Annotated[bool, typer.Option(help="One block, no pauses")] = False,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Set what a running session needs by when; its site is re-planned."""
    body = {
        "energy_kwh": energy,
        "departure": when_option("--departure", departure),
        "max_power_kw": max_power,
        "precondition_minutes": precondition,
        "continuous": continuous,
    }
    need = request(target, "PUT", f"/transactions/{transaction_id}/need", json=body)
    emit(
        need,
        as_json,
        lambda n: console.print(
            f"transaction {n['transaction_id']}: {n['energy_kwh']:g} kWh by "
            f"{shown_time(n['departure'])} (set by {n['set_by']})"
        ),
    )


def _plan_table(view: dict[str, Any]) -> None:
    need = view["need"] or view["assumed_need"]
    console.print(
        f"[bold]transaction {view['transaction_id']}[/] on {view['station_id']} "
        f"connector {view['connector_id']}"
        + ("" if view["active"] else f", stopped {shown_time(view['stopped_at'])}")
    )
    console.print(
        f"  need: {need['energy_kwh']:g} kWh by {shown_time(need['departure'])}"
        + ("" if view["need"] else " (assumed: no need set)")
    )
    console.print(
        f"  planned by now: {view['planned_kwh_to_now']:.2f} kWh, "
        f"metered: {view['metered_kwh']:.2f} kWh, plan versions: {view['plan_versions']}"
    )
    plan = view["plan"]
    if plan is not None:
        console.print(
            f"  plan {plan['id']} ({plan['method']}, {plan['reason']}): "
            f"cost {number(plan['cost'])} vs {number(plan['baseline_cost'])} charging now"
            + (f", shortfall {plan['shortfall_kwh']:.2f} kWh" if plan["shortfall_kwh"] else "")
        )
        rows = Table("start", "end", "kW", "kWh")
        for s in plan["segments"]:
            rows.add_row(
                shown_time(s["start"]),
                shown_time(s["end"]),
                f"{s['power_kw']:.2f}",
                f"{s['energy_kwh']:.2f}",
            )
        console.print(rows)
    account = view["account"]
    if account is not None:
        console.print(
            f"  metered cost {account['cost']:.2f} {account['cost_unit'] or ''} vs "
            f"{account['baseline_cost']:.2f} now; saving {number(account['saving'])}"
        )
    for p in view["profiles"]:
        console.print(
            f"  profile {p['profile_id']} {p['purpose']} on connector {p['connector_id']}: "
            f"{p['state']} ({p['step']})"
        )


@sessions_app.command("plan")
@with_target
def sessions_plan(transaction_id: int, as_json: Json = False, target: Target = NO_TARGET) -> None:
    """A session's plan against what it drew, its cost and its profiles."""
    emit(request(target, "GET", f"/transactions/{transaction_id}/plan"), as_json, _plan_table)


# -- stations charging ----------------------------------------------------------


@stations_app.command("charging")
@with_target
def stations_charging(
    station_id: str,
    mode: Annotated[
        str | None, typer.Argument(help="on | off | smart (none: show the current mode)")
    ] = None,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Switch a station's charging on, off or back to smart (or show it)."""
    if mode is None:
        result = request(target, "GET", f"/stations/{station_id}/charging")
    else:
        result = request(target, "POST", f"/stations/{station_id}/charging", json={"mode": mode})

    def table(r: dict[str, Any]) -> None:
        console.print(f"{r['station_id']}: charging {r['mode']}")
        rows = Table("connector", "purpose", "profile", "state", "step", "attempts", "updated")
        for p in r["profiles"]:
            rows.add_row(
                str(p["connector_id"]),
                p["purpose"],
                str(p["profile_id"]),
                p["state"],
                p["step"],
                str(p["attempts"]),
                shown_time(p["updated_at"]),
            )
        console.print(rows)

    emit(result, as_json, table)


# -- savings ------------------------------------------------------------------


@with_target
def savings(
    start: Annotated[str, typer.Option(help="Sessions started from (ISO 8601, UTC if no offset)")],
    end: Annotated[str, typer.Option(help="Sessions started before")],
    site: Annotated[str | None, typer.Option(help="Only this site's stations")] = None,
    station: Annotated[str | None, typer.Option(help="Only this station")] = None,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """What smart charging saved (metered cost and CO2 vs charging at once)."""
    params = {
        "start": when_option("--start", start),
        "end": when_option("--end", end),
        "site_id": site,
        "station_id": station,
    }

    def table(report: dict[str, Any]) -> None:
        unit = report["cost_unit"] or ""
        rows = Table(
            "station", "sessions", "kWh", f"cost {unit}", "baseline", "saving", "%", "CO2 kg saved"
        )
        lines = [*sorted(report["by_station"].items()), ("total", report["total"])]
        for name, t in lines:
            rows.add_row(
                name,
                str(t["sessions"]),
                f"{t['energy_kwh']:.2f}",
                f"{t['cost']:.2f}",
                f"{t['baseline_cost']:.2f}",
                f"{t['saving']:.2f}",
                number(t["saving_pct"], 1),
                f"{t['co2_saving_g'] / 1000:.2f}",
            )
        console.print(rows)

    emit(request(target, "GET", "/savings", params=params), as_json, table)
