"""``opencsms signals | sites | sessions | savings`` and ``stations charging``:
smart charging through the REST API (like ``operate.py``: in-process on the
local database, or a running server with ``--api-url``).

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
sites_app = typer.Typer(
    help="Sites: stations planned together behind one connection limit.", no_args_is_help=True
)
site_events_app = typer.Typer(
    help="A site's flexibility events (caps, reductions, price adders).", no_args_is_help=True
)
sites_app.add_typer(site_events_app, name="events")
sessions_app = typer.Typer(
    help="Charging sessions' needs and plans (smart charging).", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

Json = Annotated[bool, typer.Option("--json", help="JSON output, even on a terminal")]
When = Annotated[
    str | None, typer.Option(help="ISO 8601 (UTC if no offset) or +8h / +90m from now")
]


def _call(target: Target, work: Callable[[ApiClient], Awaitable[Any]]) -> Any:
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


def _request(target: Target, method: str, path: str, **options: Any) -> Any:
    return _call(target, lambda client: client.request(method, path, **options))[1]


def _emit(document: Any, as_json: bool, table: Callable[[Any], None]) -> None:
    if as_json or not console.is_terminal:
        typer.echo(json.dumps(document, indent=2))
    else:
        table(document)


_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([hm])$")


def _time(name: str, value: str | None) -> str | None:
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


def _when(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _num(value: float | None, digits: int = 2) -> str:
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
        "open_until": _time("--open-until", open_until),
        "region_id": region_id,
        "prefer_forecast": prefer_forecast,
        "resolution": resolution,
        "unit": unit,
    }
    result = _request(
        target, "POST", f"/signals/{series}", params=params, content=file.read_bytes()
    )
    _emit(
        result,
        as_json,
        lambda r: console.print(
            f"{r['series']}: stored {r['stored']} rates in {r['unit']}, "
            f"{_when(r['first_start'])} to {_when(r['last_end'])}"
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
                _when(s["first_start"]),
                _when(s["last_end"]),
                str(s["count"]),
            )
        console.print(rows)

    _emit(_request(target, "GET", "/signals"), as_json, table)


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
    params = {"start": _time("--start", start), "end": _time("--end", end)}

    def table(found: dict[str, Any]) -> None:
        rows = Table("start", "end", "value", "unit")
        for r in found["rates"]:
            rows.add_row(_when(r["start"]), _when(r["end"]), f"{r['value']:g}", r["unit"])
        console.print(rows)

    _emit(_request(target, "GET", f"/signals/{series}", params=params), as_json, table)


# -- sites --------------------------------------------------------------------


def _site_table(sites: list[dict[str, Any]]) -> None:
    rows = Table("site", "name", "limit", "price", "co2", "objective", "members")
    for s in sites:
        limit = s["limit"]
        shown = "" if limit is None else f"{limit['value']:g} {limit['unit']}"
        if limit is not None and limit["unit"] == "A":
            shown += f" ({limit['limit_kw']:.1f} kW)"
        objective = s["objective"]["mode"]
        if objective == "price+co2":
            objective += f" (λ {s['objective']['lam']:g})"
        members = s.get("members")
        rows.add_row(
            s["site_id"],
            s["name"],
            shown,
            s["price_series"],
            s["co2_series"],
            objective,
            "" if members is None else ", ".join(members),
        )
    console.print(rows)


@sites_app.command("put")
@with_target
def sites_put(
    site_id: str,
    name: Annotated[str, typer.Option(help="A label")] = "",
    limit: Annotated[float | None, typer.Option(help="Connection limit (none: no cap)")] = None,
    unit: Annotated[str, typer.Option(help="kW or A (per phase)")] = "kW",
    phases: Annotated[int, typer.Option(min=1, max=3, help="For an A limit")] = 3,
    voltage: Annotated[float, typer.Option(help="For an A limit: phase voltage")] = 230.0,
    price_series: Annotated[str, typer.Option(help="Signal series for prices")] = "price",
    co2_series: Annotated[str, typer.Option(help="Signal series for CO2")] = "co2",
    objective: Annotated[
        str, typer.Option(help="price | co2 | price+co2 | price_then_co2")
    ] = "price",
    lam: Annotated[
        float, typer.Option("--lam", "--lambda", help="Price units per gram CO2 (price+co2)")
    ] = 0.0,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Create or replace a site (every setting; those not given get defaults)."""
    body = {
        "name": name,
        "limit": None
        if limit is None
        else {"value": limit, "unit": unit, "phases": phases, "voltage": voltage},
        "price_series": price_series,
        "co2_series": co2_series,
        "objective": {"mode": objective, "lam": lam},
    }
    site = _request(target, "PUT", f"/sites/{site_id}", json=body)
    _emit(site, as_json, lambda s: _site_table([s]))


@sites_app.command("list")
@with_target
def sites_list(as_json: Json = False, target: Target = NO_TARGET) -> None:
    """Every site with its limit, signals and objective."""
    _emit(_request(target, "GET", "/sites"), as_json, _site_table)


@sites_app.command("show")
@with_target
def sites_show(site_id: str, as_json: Json = False, target: Target = NO_TARGET) -> None:
    """One site with its member stations."""
    _emit(_request(target, "GET", f"/sites/{site_id}"), as_json, lambda s: _site_table([s]))


@sites_app.command("remove")
@with_target
def sites_remove(site_id: str, target: Target = NO_TARGET) -> None:
    """Remove a site; its stations are planned alone again."""
    _request(target, "DELETE", f"/sites/{site_id}")
    errors.print(f"removed site {site_id}", highlight=False)


@sites_app.command("assign")
@with_target
def sites_assign(
    station_id: str,
    site_id: Annotated[str | None, typer.Argument(help="The site (or --none)")] = None,
    none: Annotated[bool, typer.Option("--none", help="Take the station out of its site")] = False,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Put STATION in SITE, or out of any site with --none."""
    if (site_id is None) == (not none):
        errors.print("[red]error:[/] give a SITE or --none (not both)")
        raise typer.Exit(2)
    result = _request(target, "PUT", f"/stations/{station_id}/site", json={"site_id": site_id})
    _emit(
        result,
        as_json,
        lambda r: console.print(f"{r['station_id']}: site {r['site_id'] or '(none)'}"),
    )


def _events_table(events: list[dict[str, Any]]) -> None:
    rows = Table("event", "kind", "from", "to", "values", "prio", "mod", "cancelled")
    for e in events:
        intervals = e["intervals"]
        values = ", ".join(f"{i['value']:g}" for i in intervals[:6])
        if len(intervals) > 6:
            values += ", …"
        rows.add_row(
            e["event_id"],
            e["kind"] + (f" ({e['unit']})" if e["unit"] else ""),
            _when(intervals[0]["start"]) if intervals else "",
            _when(intervals[-1]["end"]) if intervals else "",
            values,
            str(e["priority"]),
            str(e["modification_number"]),
            "yes" if e["cancelled"] else "",
        )
    console.print(rows)


@site_events_app.command("import")
@with_target
def site_events_import(
    site_id: str,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[str, typer.Option("--format", help="simple | openadr")] = "simple",
    targets: Annotated[
        list[str] | None,
        typer.Option("--target", help="openadr: a VEN or resource id meaning this site"),
    ] = None,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """Store a file of flexibility events for SITE (every event must be for it)."""
    params = {"format": fmt, "target": targets or None}
    stored = _request(
        target, "POST", f"/sites/{site_id}/events", params=params, content=file.read_bytes()
    )
    _emit(stored, as_json, _events_table)


@site_events_app.command("list")
@with_target
def site_events_list(
    site_id: str,
    include_cancelled: Annotated[bool, typer.Option(help="Also cancelled events")] = False,
    as_json: Json = False,
    target: Target = NO_TARGET,
) -> None:
    """A site's events."""
    params = {"include_cancelled": include_cancelled}
    _emit(
        _request(target, "GET", f"/sites/{site_id}/events", params=params), as_json, _events_table
    )


# -- sessions -----------------------------------------------------------------


@sessions_app.command("need")
@with_target
def sessions_need(
    transaction_id: int,
    energy: Annotated[float, typer.Option(help="kWh to add by departure")],
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
        "departure": _time("--departure", departure),
        "max_power_kw": max_power,
        "precondition_minutes": precondition,
        "continuous": continuous,
    }
    need = _request(target, "PUT", f"/transactions/{transaction_id}/need", json=body)
    _emit(
        need,
        as_json,
        lambda n: console.print(
            f"transaction {n['transaction_id']}: {n['energy_kwh']:g} kWh by "
            f"{_when(n['departure'])} (set by {n['set_by']})"
        ),
    )


def _plan_table(view: dict[str, Any]) -> None:
    need = view["need"] or view["assumed_need"]
    console.print(
        f"[bold]transaction {view['transaction_id']}[/] on {view['station_id']} "
        f"connector {view['connector_id']}"
        + ("" if view["active"] else f", stopped {_when(view['stopped_at'])}")
    )
    console.print(
        f"  need: {need['energy_kwh']:g} kWh by {_when(need['departure'])}"
        + ("" if view["need"] else " (assumed: no need set)")
    )
    console.print(
        f"  planned by now: {view['planned_kwh_to_now']:.2f} kWh, "
        f"metered: {view['metered_kwh']:.2f} kWh, plan versions: {view['plan_versions']}"
    )
    plan = view["plan"]
    if plan is not None:
        console.print(
            f"  plan {plan['id']} ({plan['method']}, {plan['reason']}): cost {_num(plan['cost'])} "
            f"vs {_num(plan['baseline_cost'])} charging now"
            + (f", shortfall {plan['shortfall_kwh']:.2f} kWh" if plan["shortfall_kwh"] else "")
        )
        rows = Table("start", "end", "kW", "kWh")
        for s in plan["segments"]:
            rows.add_row(
                _when(s["start"]), _when(s["end"]), f"{s['power_kw']:.2f}", f"{s['energy_kwh']:.2f}"
            )
        console.print(rows)
    account = view["account"]
    if account is not None:
        console.print(
            f"  metered cost {account['cost']:.2f} {account['cost_unit'] or ''} vs "
            f"{account['baseline_cost']:.2f} now; saving {_num(account['saving'])}"
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
    _emit(_request(target, "GET", f"/transactions/{transaction_id}/plan"), as_json, _plan_table)


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
        result = _request(target, "GET", f"/stations/{station_id}/charging")
    else:
        result = _request(target, "POST", f"/stations/{station_id}/charging", json={"mode": mode})

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
                _when(p["updated_at"]),
            )
        console.print(rows)

    _emit(result, as_json, table)


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
        "start": _time("--start", start),
        "end": _time("--end", end),
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
                _num(t["saving_pct"], 1),
                f"{t['co2_saving_g'] / 1000:.2f}",
            )
        console.print(rows)

    _emit(_request(target, "GET", "/savings", params=params), as_json, table)
