"""Scenario files: a fleet scripted in YAML or JSON, checked with line numbers.

A scenario says which station models make up the fleet (and how many of
each), how cars arrive, stay and what they need, explicit visits, and faults
at given times. Every field is optional; :data:`DEFAULT` is a plausible
public-charging day. Times are simulated seconds from the start of the run.
See ``examples/scenarios/`` for annotated files.

Errors name the file, line and field (``fleet.yaml:14: models[1].phases:
must be 1 or 3``) because a broken file is usually edited by hand. YAML is
composed into nodes first (``yaml.compose``) so each value keeps its line;
JSON is a subset of YAML and goes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from ocpp.v16.enums import ChargePointErrorCode

from opencsms.simulator.quirks import Quirks

ERROR_CODES = frozenset(c.value for c in ChargePointErrorCode) - {"NoError"}
QUIRK_FIELDS = {f.name for f in fields(Quirks)}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class StationModel:
    name: str = "default"
    vendor: str = "OpenCSMS"
    model: str = "SimAC22"
    count: int = 1
    """Stations of this model; with ``--stations N`` counts are weights."""
    connectors: int = 1
    max_current: float = 32.0
    phases: int = 3
    voltage: float = 230.0
    quirks: Quirks = field(default_factory=Quirks)
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Arrivals:
    first_within: float = 1800.0
    """The first car at each connector arrives uniformly within this many seconds."""
    mean_gap: float = 3600.0
    """Mean idle time between a departure and the next arrival (exponential)."""
    stay_mean: float = 5400.0
    stay_sd: float = 1800.0
    stay_min: float = 600.0


@dataclass(frozen=True, slots=True)
class EvMix:
    battery_kwh: tuple[float, ...] = (40.0, 60.0, 77.0, 100.0)
    soc: tuple[float, float] = (10.0, 70.0)
    max_power_kw: tuple[float, ...] = (7.4, 11.0, 11.0, 22.0)
    reports_soc: float = 0.0
    """Share of cars that tell the station their state of charge."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One explicit session: a car at a station's connector from ``arrive`` to ``leave``."""

    station: int | str
    arrive: float
    leave: float
    connector: int = 1
    battery_kwh: float = 60.0
    soc: float = 30.0
    max_power_kw: float = 11.0
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    at: float
    station: int | str
    """1-based index in the fleet or a station id."""
    kind: str  # "faulted" or "drop"
    connector: int = 1
    error_code: str = "GroundFailure"
    clear_after: float | None = None
    close_frame: bool = True
    offline_for: float = 0.0
    """For drops: seconds the station cannot reconnect (its messages queue up)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    duration: float | None = None
    """Simulated seconds; None: until interrupted (or ``--duration``)."""
    meter_interval: int = 60
    measurands: tuple[str, ...] = (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "SoC",
    )
    tags: int | None = None
    """Id tags SIM-TAG-00001...; None: one per connector in the fleet, so no tag is
    ever in two sessions at once (the central system would answer ConcurrentTx).
    ``--register`` puts them into the central system."""
    random_sessions: bool = True
    """False: only the explicit ``sessions`` happen."""
    models: tuple[StationModel, ...] = (StationModel(),)
    arrivals: Arrivals = field(default_factory=Arrivals)
    ev: EvMix = field(default_factory=EvMix)
    sessions: tuple[Visit, ...] = ()
    faults: tuple[Fault, ...] = ()

    def tag_ids(self, connectors: int) -> list[str]:
        count = self.tags if self.tags is not None else connectors
        return [tag_id(i) for i in range(1, max(1, count) + 1)]

    def fleet_models(self, stations: int | None) -> list[StationModel]:
        """One model per station: counts as given, or scaled to ``stations``."""
        if stations is None:
            return [m for m in self.models for _ in range(m.count)]
        weights = [max(0, m.count) for m in self.models]
        total = sum(weights) or 1
        shares = [stations * w / total for w in weights]
        counts = [int(s) for s in shares]
        by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
        for i in by_remainder[: stations - sum(counts)]:
            counts[i] += 1
        return [m for m, n in zip(self.models, counts, strict=True) for _ in range(n)]


def tag_id(number: int) -> str:
    return f"SIM-TAG-{number:05d}"


DEFAULT = Scenario()


# -- loading -------------------------------------------------------------------


class _Reader:
    """Typed access to a composed YAML mapping, collecting problems with lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems

    def fail(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.problems.append(f"{self.source}{line}: {path}: {message}")

    def mapping(self, node: yaml.Node, path: str, allowed: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path or "(top)", "must be a mapping")
            return {}
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = str(key_node.value)
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.fail(key_node, _join(path, key), f"unknown field (known: {known})")
            else:
                out[key] = value
        return out

    def value(self, node: yaml.Node, path: str) -> Any:
        try:
            return yaml.safe_load(yaml.serialize(node))
        except yaml.YAMLError as exc:  # pragma: no cover - composed nodes reserialize
            self.fail(node, path, str(exc))
            return None

    def number(
        self,
        node: yaml.Node,
        path: str,
        *,
        minimum: float = 0.0,
        integer: bool = False,
        above: bool = False,
    ) -> float | None:
        value = self.value(node, path)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not isinstance(value, int):
            ok = False
        if ok and (value < minimum or (above and value == minimum)):
            ok = False
        if not ok:
            kind = "an integer" if integer else "a number"
            self.fail(
                node, path, f"must be {kind} {'>' if above else '>='} {minimum:g}, got {value!r}"
            )
            return None
        return value  # type: ignore[no-any-return]

    def text(self, node: yaml.Node, path: str) -> str | None:
        value = self.value(node, path)
        if not isinstance(value, str) or not value:
            self.fail(node, path, f"must be a non-empty string, got {value!r}")
            return None
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        value = self.value(node, path)
        if not isinstance(value, bool):
            self.fail(node, path, f"must be true or false, got {value!r}")
            return None
        return value

    def items(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, path, "must be a list")
            return []
        return list(node.value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; raise :class:`ScenarioError` listing every problem."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ScenarioError([f"{file}: cannot read: {exc.strerror or exc}"]) from None
    return parse(text, str(file))


def parse(text: str, source: str = "<scenario>") -> Scenario:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([f"{source}{line}: not valid YAML/JSON: {problem}"]) from None
    if root is None:
        return DEFAULT
    from opencsms.simulator.scenario_fields import build

    problems: list[str] = []
    scenario = build(_Reader(source, problems), root)
    if problems:
        raise ScenarioError(problems)
    return scenario
