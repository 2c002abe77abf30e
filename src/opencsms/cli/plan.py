"""``opencsms plan CASE.json``: what would the planner do?

Reads a what-if case (:mod:`opencsms.domain.smart_charging.case`), plans it
with the same engine the live system uses, and prints per car the schedule,
whether the need is met, and cost and CO2 against charging now: a Rich table
on a terminal, JSON when ``--json`` is given or the output is not a terminal
(so ``opencsms plan f1.json | jq`` just works). Exit code 2 for a bad case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from opencsms.domain.smart_charging.case import CaseError, CaseResult, load_case, plan_case
from opencsms.domain.smart_charging.planner import (
    OBJECTIVE_MODES,
    CarPlan,
    Objective,
    ObjectiveMode,
)


def plan(
    case_file: Annotated[Path, typer.Argument(metavar="CASE.json", help="A what-if case")],
    objective: Annotated[
        str | None,
        typer.Option(help="price | co2 | price+co2 | price_then_co2 (default: the case's)"),
    ] = None,
    lam: Annotated[
        float | None, typer.Option("--lambda", help="Price units per gram of CO2, for price+co2")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON output, even on a terminal")
    ] = False,
) -> None:
    """Plan a what-if case: per car the schedule, need met, cost and CO2 vs charging now."""
    errors = Console(stderr=True)
    try:
        case = load_case(case_file)
    except CaseError as error:
        errors.print(f"[red]bad case:[/red] {error}", markup=True, highlight=False)
        raise typer.Exit(2) from error
    chosen = case.objective
    if objective is not None:
        if objective not in OBJECTIVE_MODES:
            errors.print(f"--objective: one of {', '.join(OBJECTIVE_MODES)}", highlight=False)
            raise typer.Exit(2)
        chosen = Objective(_mode(objective), chosen.lam)
    if lam is not None:
        chosen = Objective(chosen.mode, lam)
    result = plan_case(case, chosen)
    console = Console()
    document = to_json(result, chosen)
    if as_json or not console.is_terminal:
        typer.echo(json.dumps(document, indent=2))
    else:
        _table(console, document)


def _mode(name: str) -> ObjectiveMode:
    for mode in OBJECTIVE_MODES:
        if mode == name:
            return mode
    raise ValueError(name)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def car_json(plan: CarPlan) -> dict[str, Any]:
    """One car's plan as plain JSON (times ISO 8601 UTC, kW and kWh to 3 decimals)."""
    saving = None
    if plan.cost is not None and plan.baseline_cost:
        saving = round(100 * (1 - plan.cost / plan.baseline_cost), 1)
    return {
        "car_id": plan.car_id,
        "need_kwh": _round(plan.need_kwh, 3),
        "planned_kwh": _round(plan.energy_kwh, 3),
        "met": plan.met,
        "shortfall_kwh": _round(plan.shortfall_kwh, 3),
        "unplanned_kwh": _round(plan.unplanned_kwh, 3),
        "charge_now": plan.charge_now,
        "cost": _round(plan.cost),
        "baseline_cost": _round(plan.baseline_cost),
        "saving_percent": saving,
        "co2_g": _round(plan.co2_g, 1),
        "baseline_co2_g": _round(plan.baseline_co2_g, 1),
        "schedule": [
            {
                "start": s.start.isoformat().replace("+00:00", "Z"),
                "end": s.end.isoformat().replace("+00:00", "Z"),
                "kw": round(s.power_kw, 3),
            }
            for s in plan.segments
        ],
    }


def to_json(result: CaseResult, objective: Objective) -> dict[str, Any]:
    return {
        "objective": objective.mode,
        "lambda": objective.lam,
        "sites": dict(result.methods),
        "cars": [car_json(plan) for plan in result.plans],
    }


def _table(console: Console, document: dict[str, Any]) -> None:
    for car in document["cars"]:
        status = (
            "[green]met[/green]"
            if car["met"]
            else f"[red]short {car['shortfall_kwh'] + car['unplanned_kwh']} kWh[/red]"
        )
        table = Table(
            title=f"{car['car_id']}: {car['planned_kwh']} of {car['need_kwh']} kWh, {status}"
        )
        table.add_column("start (UTC)")
        table.add_column("end (UTC)")
        table.add_column("kW", justify="right")
        for row in car["schedule"]:
            table.add_row(row["start"], row["end"], f"{row['kw']:.3f}")
        console.print(table)
        console.print(
            f"cost {car['cost']} (charge now {car['baseline_cost']}, "
            f"saving {car['saving_percent']} %); "
            f"CO2 {car['co2_g']} g (charge now {car['baseline_co2_g']} g)",
            highlight=False,
        )
    for site, method in document["sites"].items():
        console.print(f"site {site}: {method}", highlight=False)
