"""``opencsms plan``: the F1 case end to end, objectives, a site, bad cases."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opencsms.cli.main import app

runner = CliRunner()
F1 = Path(__file__).parents[2] / "examples" / "plans" / "f1.json"


def plan(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["plan", *args])
    return result.exit_code, result.output


def test_f1_as_json() -> None:
    code, output = plan(str(F1), "--json")
    assert code == 0, output
    car = json.loads(output)["cars"][0]
    assert car["met"] and car["cost"] == 244.24 and car["baseline_cost"] == 682.57
    assert car["saving_percent"] == 64.2
    assert car["schedule"] == [
        {"start": "2026-01-16T00:15:00Z", "end": "2026-01-16T00:30:00Z", "kw": 6.0},
        {"start": "2026-01-16T00:30:00Z", "end": "2026-01-16T03:00:00Z", "kw": 7.4},
    ]


def test_f1_co2_objective() -> None:
    code, output = plan(str(F1), "--objective", "co2")  # not a terminal: JSON
    assert code == 0, output
    car = json.loads(output)["cars"][0]
    assert car["co2_g"] == 2070.5 and car["baseline_co2_g"] == 5044.2


def test_a_site_with_a_cap_event(tmp_path: Path) -> None:
    case = json.loads(F1.read_text())
    case["sites"] = [
        {
            "site_id": "depot",
            "limit_kw": 11,
            "events": [
                {
                    "event_id": "e1",
                    "kind": "cap_kw",
                    "intervals": [
                        {
                            "start": "2026-01-16T00:00:00Z",
                            "end": "2026-01-16T04:00:00Z",
                            "value": 7.4,
                        }
                    ],
                }
            ],
        }
    ]
    case["cars"] = [dict(case["cars"][0], car_id=f"car{i}", site_id="depot") for i in range(2)]
    path = tmp_path / "site.json"
    path.write_text(json.dumps(case))
    code, output = plan(str(path), "--json")
    assert code == 0, output
    document = json.loads(output)
    assert document["sites"]["depot"].startswith("lp")
    assert all(car["met"] for car in document["cars"])
    total = sum(car["cost"] for car in document["cars"])
    assert total > 2 * 244.24  # they cannot both take the cheapest slots


def test_a_bad_case_is_refused_with_the_field(tmp_path: Path) -> None:
    case = json.loads(F1.read_text())
    case["cars"][0]["departure"] = "2026-01-16T07:00:00"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(case))
    code, output = plan(str(path))
    assert code == 2 and "cars[0].departure" in output and "time zone" in output
    code, output = plan(str(F1), "--objective", "cheapest")
    assert code == 2
