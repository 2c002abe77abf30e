"""Fleet statistics that merge: counters, message counts and latency histograms.

A fleet may run in several processes, and ten thousand stations must not
each keep a list of latencies, so round-trip times go into a fixed
log-scale histogram (buckets 5 % wide from 10 µs to ~20 min): constant
memory, p50/p99 to within 5 %, and two histograms merge by adding counts.
:meth:`FleetStats.to_dict` / :meth:`FleetStats.from_dict` carry a snapshot
across a process boundary as plain JSON-able data.

:class:`StatsJournal` is the simulator's :class:`~opencsms.simulator.journal.Journal`
with timing: it notes when each CALL went out and, when its reply comes
back, books the round trip under the CALL's action in the shared stats.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from opencsms.simulator.journal import Journal

_BASE = 1e-5  # 10 µs: the lowest bucket boundary
_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)
_BUCKETS = 400  # 10 µs * 1.05**400 ≈ 3000 s


def _bucket(seconds: float) -> int:
    if seconds <= _BASE:
        return 0
    return min(_BUCKETS - 1, int(math.log(seconds / _BASE) / _LOG_GROWTH) + 1)


def _bucket_value(index: int) -> float:
    """A bucket's representative latency: the geometric middle of its bounds."""
    if index == 0:
        return _BASE
    return float(_BASE * _GROWTH ** (index - 0.5))


@dataclass(slots=True)
class Histogram:
    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    sum: float = 0.0

    def add(self, seconds: float) -> None:
        self.counts[_bucket(seconds)] += 1
        self.total += 1
        self.sum += seconds

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total
        self.sum += other.sum

    def quantile(self, q: float) -> float | None:
        """The latency below which a fraction ``q`` of the samples fall (±5 %)."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return _bucket_value(index)
        return _bucket_value(max(self.counts))  # pragma: no cover - rank <= total

    @property
    def mean(self) -> float | None:
        return self.sum / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
            "sum": self.sum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        counts = Counter({int(k): int(v) for k, v in data.get("counts", {}).items()})
        return cls(counts, int(data.get("total", 0)), float(data.get("sum", 0.0)))


@dataclass(slots=True)
class FleetStats:
    """What a fleet did. ``connected`` is a gauge (sockets up now); the rest count up."""

    stations: int = 0
    connected: int = 0
    connects: int = 0
    connect_failures: int = 0
    sessions: int = 0
    rejected: int = 0
    energy_wh: float = 0.0
    errors: int = 0
    faults: int = 0
    drops: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    latency: dict[str, Histogram] = field(default_factory=dict)
    all_connected_after: float | None = None
    """Seconds from the first connect attempt until every station was connected."""
    elapsed: float = 0.0

    def record_latency(self, action: str, seconds: float) -> None:
        histogram = self.latency.get(action)
        if histogram is None:
            histogram = self.latency[action] = Histogram()
        histogram.add(seconds)

    @property
    def messages(self) -> int:
        return sum(self.sent.values()) + sum(self.received.values())

    def merge(self, other: FleetStats) -> FleetStats:
        """Add ``other`` into this one (fleets run side by side: gauges add up too)."""
        for name in (
            "stations",
            "connected",
            "connects",
            "connect_failures",
            "sessions",
            "rejected",
            "energy_wh",
            "errors",
            "faults",
            "drops",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sent.update(other.sent)
        self.received.update(other.received)
        for action, histogram in other.latency.items():
            self.latency.setdefault(action, Histogram()).merge(histogram)
        if other.all_connected_after is not None:
            self.all_connected_after = max(
                self.all_connected_after or 0.0, other.all_connected_after
            )
        self.elapsed = max(self.elapsed, other.elapsed)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "stations": self.stations,
            "connected": self.connected,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "sessions": self.sessions,
            "rejected": self.rejected,
            "energy_wh": self.energy_wh,
            "errors": self.errors,
            "faults": self.faults,
            "drops": self.drops,
            "sent": dict(self.sent),
            "received": dict(self.received),
            "latency": {a: h.to_dict() for a, h in self.latency.items()},
            "all_connected_after": self.all_connected_after,
            "elapsed": self.elapsed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FleetStats:
        stats = cls()
        for name in (
            "stations",
            "connected",
            "connects",
            "connect_failures",
            "sessions",
            "rejected",
            "errors",
            "faults",
            "drops",
        ):
            setattr(stats, name, int(data.get(name, 0)))
        stats.energy_wh = float(data.get("energy_wh", 0.0))
        stats.sent = Counter({str(k): int(v) for k, v in data.get("sent", {}).items()})
        stats.received = Counter({str(k): int(v) for k, v in data.get("received", {}).items()})
        stats.latency = {str(a): Histogram.from_dict(h) for a, h in data.get("latency", {}).items()}
        after = data.get("all_connected_after")
        stats.all_connected_after = None if after is None else float(after)
        stats.elapsed = float(data.get("elapsed", 0.0))
        return stats


class StatsJournal(Journal):
    """A station's journal that also books counts and round trips in fleet stats.

    ``sent``/``received`` count CALLs by action in either direction (a reply
    is not a message of its own here); the round trip of our CALLs is the
    time from handing the frame to the socket until its reply was read.
    """

    def __init__(self, stats: FleetStats, keep: bool = False) -> None:
        super().__init__(keep=keep)
        self.stats = stats
        self._outstanding: dict[str, tuple[str, float]] = {}

    def record(self, direction: str, text: str | bytes) -> None:
        if self.keep:
            super().record(direction, text)
        try:
            frame = orjson.loads(text)
            kind, unique_id = int(frame[0]), str(frame[1])
        except (orjson.JSONDecodeError, IndexError, TypeError, ValueError):
            self.stats.errors += 1
            return
        stats = self.stats
        if kind == 2:
            action = str(frame[2])
            (stats.sent if direction == "sent" else stats.received)[action] += 1
            if direction == "sent":
                self._outstanding[unique_id] = (action, time.perf_counter())
            return
        if direction != "received":
            return
        pending = self._outstanding.pop(unique_id, None)
        if pending is None:
            return
        action, sent_at = pending
        stats.record_latency(action, time.perf_counter() - sent_at)
        if kind == 4:
            stats.errors += 1

    def forget_outstanding(self) -> None:
        """The link dropped: replies to those CALLs will never come."""
        self._outstanding.clear()
