"""Building a :class:`~opencsms.simulator.scenario.Scenario` from composed YAML nodes.

Separate from the dataclasses so the schema of the file (field by field,
with its checks and messages) reads top to bottom in one place. Every
problem is collected, not just the first: fixing a file should take one run.
"""

from __future__ import annotations

from typing import Any

import yaml

from opencsms.chargepoint.configuration import SUPPORTED_MEASURANDS
from opencsms.simulator.quirks import Quirks
from opencsms.simulator.scenario import (
    ERROR_CODES,
    QUIRK_FIELDS,
    Arrivals,
    EvMix,
    Fault,
    Scenario,
    StationModel,
    Visit,
    _Reader,
)

TOP = {
    "duration",
    "meter_interval",
    "measurands",
    "tags",
    "random_sessions",
    "models",
    "arrivals",
    "ev",
    "sessions",
    "faults",
}
MODEL = {
    "name",
    "vendor",
    "model",
    "count",
    "connectors",
    "max_current",
    "phases",
    "voltage",
    "quirks",
    "config",
}
ARRIVALS = {"first_within", "mean_gap", "stay"}
STAY = {"mean", "sd", "min"}
EV = {"battery_kwh", "soc", "max_power_kw", "reports_soc"}
VISIT = {"station", "arrive", "leave", "connector", "battery_kwh", "soc", "max_power_kw", "tag"}
FAULT = {
    "at",
    "station",
    "kind",
    "connector",
    "error_code",
    "clear_after",
    "close_frame",
    "offline_for",
}


def build(r: _Reader, root: yaml.Node) -> Scenario:
    top = r.mapping(root, "", TOP)
    out: dict[str, Any] = {}
    if "duration" in top:
        out["duration"] = r.number(top["duration"], "duration", above=True)
    if "meter_interval" in top:
        out["meter_interval"] = r.number(
            top["meter_interval"], "meter_interval", integer=True, minimum=1
        )
    if "measurands" in top:
        names: list[str] = []
        for i, n in enumerate(r.items(top["measurands"], "measurands")):
            name = r.text(n, f"measurands[{i}]")
            if name is not None and name not in SUPPORTED_MEASURANDS:
                known = ", ".join(sorted(SUPPORTED_MEASURANDS))
                r.fail(n, f"measurands[{i}]", f"unsupported {name!r} (supported: {known})")
            elif name is not None:
                names.append(name)
        out["measurands"] = tuple(names)
    if "tags" in top:
        out["tags"] = r.number(top["tags"], "tags", integer=True, minimum=1)
    if "random_sessions" in top:
        out["random_sessions"] = r.boolean(top["random_sessions"], "random_sessions")
    if "models" in top:
        models = [
            _model(r, n, f"models[{i}]") for i, n in enumerate(r.items(top["models"], "models"))
        ]
        if not models:
            r.fail(top["models"], "models", "needs at least one model")
        out["models"] = tuple(models)
    if "arrivals" in top:
        out["arrivals"] = _arrivals(r, top["arrivals"])
    if "ev" in top:
        out["ev"] = _ev(r, top["ev"])
    if "sessions" in top:
        out["sessions"] = tuple(
            _visit(r, n, f"sessions[{i}]")
            for i, n in enumerate(r.items(top["sessions"], "sessions"))
        )
    if "faults" in top:
        out["faults"] = tuple(
            _fault(r, n, f"faults[{i}]") for i, n in enumerate(r.items(top["faults"], "faults"))
        )
    return Scenario(**{k: v for k, v in out.items() if v is not None})


def _model(r: _Reader, node: yaml.Node, path: str) -> StationModel:
    m = r.mapping(node, path, MODEL)
    out: dict[str, Any] = {}
    for name in ("name", "vendor", "model"):
        if name in m:
            out[name] = r.text(m[name], f"{path}.{name}")
    for name, integer, minimum in (
        ("count", True, 0),
        ("connectors", True, 1),
        ("max_current", False, 6),
        ("voltage", False, 100),
    ):
        if name in m:
            out[name] = r.number(m[name], f"{path}.{name}", integer=integer, minimum=minimum)
    if "phases" in m:
        phases = r.value(m["phases"], f"{path}.phases")
        if phases not in (1, 3) or isinstance(phases, bool):
            r.fail(m["phases"], f"{path}.phases", f"must be 1 or 3, got {phases!r}")
        else:
            out["phases"] = phases
    if "quirks" in m:
        out["quirks"] = _quirks(r, m["quirks"], f"{path}.quirks")
    if "config" in m:
        config = r.value(m["config"], f"{path}.config")
        if not isinstance(config, dict):
            r.fail(m["config"], f"{path}.config", "must be a mapping of key: value")
        else:
            out["config"] = {str(k): _config_text(v) for k, v in config.items()}
    return StationModel(**{k: v for k, v in out.items() if v is not None})


def _config_text(value: object) -> str:
    """OCPP configuration values are strings; YAML's true/60 become "true"/"60"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _quirks(r: _Reader, node: yaml.Node, path: str) -> Quirks | None:
    m = r.mapping(node, path, QUIRK_FIELDS)
    out: dict[str, Any] = {}
    for name, child in m.items():
        value = r.value(child, f"{path}.{name}")
        if name == "rejected_units":
            units = [value] if isinstance(value, str) else value
            if not isinstance(units, list) or not set(units) <= {"A", "W"}:
                r.fail(child, f"{path}.{name}", f"must be a list of A and/or W, got {value!r}")
                continue
            out[name] = frozenset(units)
        elif name == "required_kind":
            if value not in ("Absolute", "Relative"):
                r.fail(child, f"{path}.{name}", f"must be Absolute or Relative, got {value!r}")
                continue
            out[name] = value
        elif name in ("reboot_required_keys", "unsupported_measurands"):
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                r.fail(child, f"{path}.{name}", f"must be a list of names, got {value!r}")
                continue
            out[name] = frozenset(names)
        elif name == "max_periods":
            out[name] = r.number(child, f"{path}.{name}", integer=True, minimum=1)
        elif name == "reply_delay":
            out[name] = r.number(child, f"{path}.{name}")
        else:
            out[name] = r.boolean(child, f"{path}.{name}")
    return Quirks(**{k: v for k, v in out.items() if v is not None})


def _arrivals(r: _Reader, node: yaml.Node) -> Arrivals:
    m = r.mapping(node, "arrivals", ARRIVALS)
    out: dict[str, Any] = {}
    for name in ("first_within", "mean_gap"):
        if name in m:
            out[name] = r.number(m[name], f"arrivals.{name}", above=name == "mean_gap")
    if "stay" in m:
        stay = r.mapping(m["stay"], "arrivals.stay", STAY)
        for name, child in stay.items():
            out[f"stay_{name}"] = r.number(child, f"arrivals.stay.{name}")
    return Arrivals(**{k: v for k, v in out.items() if v is not None})


def _numbers(r: _Reader, node: yaml.Node, path: str, pair: bool = False) -> tuple[float, ...]:
    value = r.value(node, path)
    values = [value] if isinstance(value, int | float) and not isinstance(value, bool) else value
    ok = (
        isinstance(values, list)
        and values
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values)
    )
    if ok and pair and (len(values) != 2 or values[0] > values[1]):
        ok = False
    if not ok:
        what = "a [low, high] range" if pair else "a number or a list of numbers"
        r.fail(node, path, f"must be {what} >= 0, got {value!r}")
        return ()
    return tuple(float(v) for v in values)


def _ev(r: _Reader, node: yaml.Node) -> EvMix:
    m = r.mapping(node, "ev", EV)
    out: dict[str, Any] = {}
    for name in ("battery_kwh", "max_power_kw"):
        if name in m:
            out[name] = _numbers(r, m[name], f"ev.{name}") or None
    if "soc" in m:
        soc = _numbers(r, m["soc"], "ev.soc", pair=True)
        if soc and soc[1] > 100:
            r.fail(m["soc"], "ev.soc", "must lie within 0-100 %")
        out["soc"] = soc or None
    if "reports_soc" in m:
        share = r.number(m["reports_soc"], "ev.reports_soc")
        if share is not None and share > 1:
            r.fail(m["reports_soc"], "ev.reports_soc", "is a share: 0 to 1")
        out["reports_soc"] = share
    return EvMix(**{k: v for k, v in out.items() if v is not None})


def _station(r: _Reader, node: yaml.Node, path: str) -> int | str | None:
    value = r.value(node, path)
    if isinstance(value, bool) or not (
        (isinstance(value, int) and value >= 1) or (isinstance(value, str) and value)
    ):
        r.fail(node, path, f"must be a station id or a 1-based index, got {value!r}")
        return None
    return value


def _require(
    r: _Reader, node: yaml.Node, m: dict[str, yaml.Node], path: str, names: tuple[str, ...]
) -> bool:
    missing = [n for n in names if n not in m]
    if missing:
        r.fail(node, path, f"missing {', '.join(missing)}")
    return not missing


def _visit(r: _Reader, node: yaml.Node, path: str) -> Visit | None:
    m = r.mapping(node, path, VISIT)
    if not _require(r, node, m, path, ("station", "arrive", "leave")):
        return None
    out: dict[str, Any] = {"station": _station(r, m["station"], f"{path}.station")}
    for name in ("arrive", "leave", "battery_kwh", "soc", "max_power_kw"):
        if name in m:
            out[name] = r.number(m[name], f"{path}.{name}")
    if "connector" in m:
        out["connector"] = r.number(m["connector"], f"{path}.connector", integer=True, minimum=1)
    if "tag" in m:
        out["tag"] = r.text(m["tag"], f"{path}.tag")
    if None not in (out.get("arrive"), out.get("leave")) and out["leave"] <= out["arrive"]:
        r.fail(m["leave"], f"{path}.leave", "must be after arrive")
        return None
    if any(out.get(n) is None for n in ("station", "arrive", "leave")):
        return None
    return Visit(**{k: v for k, v in out.items() if v is not None})


def _fault(r: _Reader, node: yaml.Node, path: str) -> Fault | None:
    m = r.mapping(node, path, FAULT)
    if not _require(r, node, m, path, ("at", "station", "kind")):
        return None
    out: dict[str, Any] = {
        "at": r.number(m["at"], f"{path}.at"),
        "station": _station(r, m["station"], f"{path}.station"),
    }
    kind = r.value(m["kind"], f"{path}.kind")
    if kind not in ("faulted", "drop"):
        r.fail(m["kind"], f"{path}.kind", f"must be faulted or drop, got {kind!r}")
        return None
    out["kind"] = kind
    if "error_code" in m:
        code = r.value(m["error_code"], f"{path}.error_code")
        if code not in ERROR_CODES:
            r.fail(
                m["error_code"],
                f"{path}.error_code",
                f"must be an OCPP 1.6 ChargePointErrorCode other than NoError, got {code!r}",
            )
        out["error_code"] = code
    if "connector" in m:
        out["connector"] = r.number(m["connector"], f"{path}.connector", integer=True, minimum=0)
    for name in ("clear_after", "offline_for"):
        if name in m:
            out[name] = r.number(m[name], f"{path}.{name}")
    if "close_frame" in m:
        out["close_frame"] = r.boolean(m["close_frame"], f"{path}.close_frame")
    if out["at"] is None or out["station"] is None:
        return None
    return Fault(**{k: v for k, v in out.items() if v is not None})
