"""``opencsms sites``: sites, their member stations and their flexibility
events, through the REST API (output and exit codes as in ``smart_charging.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from opencsms.cli.api_client import Target
from opencsms.cli.operate import NO_TARGET, with_target
from opencsms.cli.smart_charging import Json, console, emit, errors, request, shown_time

sites_app = typer.Typer(
    help="Sites: stations planned together behind one connection limit.", no_args_is_help=True
)
site_events_app = typer.Typer(
    help="A site's flexibility events (caps, reductions, price adders).", no_args_is_help=True
)
sites_app.add_typer(site_events_app, name="events")


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
    site = request(target, "PUT", f"/sites/{site_id}", json=body)
    emit(site, as_json, lambda s: _site_table([s]))


@sites_app.command("list")
@with_target
def sites_list(as_json: Json = False, target: Target = NO_TARGET) -> None:
    """Every site with its limit, signals and objective."""
    emit(request(target, "GET", "/sites"), as_json, _site_table)


@sites_app.command("show")
@with_target
def sites_show(site_id: str, as_json: Json = False, target: Target = NO_TARGET) -> None:
    """One site with its member stations."""
    emit(request(target, "GET", f"/sites/{site_id}"), as_json, lambda s: _site_table([s]))


@sites_app.command("remove")
@with_target
def sites_remove(site_id: str, target: Target = NO_TARGET) -> None:
    """Remove a site; its stations are planned alone again."""
    request(target, "DELETE", f"/sites/{site_id}")
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
    result = request(target, "PUT", f"/stations/{station_id}/site", json={"site_id": site_id})
    emit(
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
            shown_time(intervals[0]["start"]) if intervals else "",
            shown_time(intervals[-1]["end"]) if intervals else "",
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
    stored = request(
        target, "POST", f"/sites/{site_id}/events", params=params, content=file.read_bytes()
    )
    emit(stored, as_json, _events_table)


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
    emit(request(target, "GET", f"/sites/{site_id}/events", params=params), as_json, _events_table)
