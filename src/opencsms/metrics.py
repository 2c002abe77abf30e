"""Prometheus metrics of one node, served at ``/metrics``.

Each :class:`Metrics` owns a ``CollectorRegistry`` of its own rather than
prometheus_client's global one: the tests run several central systems in one
process, and two nodes must not count into (or fail to register) the same
series. What is measured:

``opencsms_stations_connected``
    gauge, read from the session registry when scraped (nothing to keep in
    step on connect and disconnect).
``opencsms_ocpp_messages_total{direction, kind, action}``
    every OCPP-J frame: ``direction`` is ``received`` (station -> us) or
    ``sent``, ``kind`` is ``call``, ``result`` or ``error``; replies carry the
    action of the CALL they answer. Fed by the session's ``on_frame`` observer
    (:meth:`on_frame`), so the wire layer knows nothing of Prometheus. Action
    names come from the stations: anything that is not an OCPP 1.6 action is
    counted as ``other``, so a station cannot grow the series without bound.
``opencsms_command_latency_seconds{action}`` / ``opencsms_commands_total{action, state}``
    CSMS-initiated commands, from the ``command.finished`` events: latency from
    sent to answered (commands that were never sent have none), and every final
    state (answered, error, timed_out, failed, expired).

The hot path (one :meth:`on_frame` per frame) is a dict lookup and one
counter increment: the labelled children are created once and cached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from ocpp.v16.enums import Action
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from opencsms.domain.events import EventBus

log = structlog.get_logger("opencsms.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds. A station on a cellular link answers in 0.1-2 s; 30 s is the
default response timeout."""
OCPP_ACTIONS = frozenset(action.value for action in Action)
"""The action label's values; anything else is counted as ``other``."""


class Metrics:
    def __init__(self, stations_connected: Callable[[], int] = lambda: 0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        connected = Gauge(
            "opencsms_stations_connected",
            "Stations with an open OCPP connection to this node.",
            registry=self.registry,
        )
        connected.set_function(lambda: float(stations_connected()))
        self._messages = Counter(
            "opencsms_ocpp_messages",
            "OCPP-J frames by direction (received/sent), kind (call/result/error) and action.",
            ["direction", "kind", "action"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "opencsms_command_latency_seconds",
            "CSMS-initiated commands: seconds from sending to the station's answer.",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._commands = Counter(
            "opencsms_commands",
            "CSMS-initiated commands by action and final state.",
            ["action", "state"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], Callable[[], None]] = {}

    # -- OCPP frames (hot path) ----------------------------------------------

    def on_frame(self, direction: str, kind: str, action: str) -> None:
        """Count one frame; the signature of ``OcppSession``'s ``on_frame``."""
        increment = self._children.get((direction, kind, action))
        if increment is None:
            # Unknown names are never cached under their own key: a station
            # sending random action names must not grow this dict either.
            shown = action if action in OCPP_ACTIONS else "other"
            increment = self._children.get((direction, kind, shown))
            if increment is None:
                increment = self._messages.labels(direction, kind, shown).inc
                self._children[(direction, kind, shown)] = increment
        increment()

    # -- commands ---------------------------------------------------------------

    def command_finished(self, data: dict[str, object]) -> None:
        """Count a ``command.finished`` event's record (see ``command_as_dict``)."""
        action = data.get("action")
        state = data.get("state")
        if not isinstance(action, str) or not isinstance(state, str):
            log.warning("command.finished without action or state", data=data)
            return
        action = action if action in OCPP_ACTIONS else "other"
        self._commands.labels(action, state).inc()
        latency = _latency_of(data)
        if latency is not None:
            self._latency.labels(action).observe(latency)

    async def follow(self, events: EventBus) -> None:
        """Count ``command.finished`` events until cancelled (a node's background task)."""
        with events.subscribe(types=("command.finished",)) as subscription:
            async for event in subscription:
                self.command_finished(event.data)

    def start(self, events: EventBus) -> asyncio.Task[None]:
        """Run :meth:`follow` as a task; cancel it to stop."""
        return asyncio.create_task(self.follow(events), name="opencsms-metrics")

    # -- exposition -------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


def _latency_of(data: dict[str, object]) -> float | None:
    latency = data.get("latency_s")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        return max(0.0, float(latency))
    sent, finished = data.get("sent_at"), data.get("finished_at")
    if isinstance(sent, str) and isinstance(finished, str):
        try:
            seconds = (
                datetime.fromisoformat(finished) - datetime.fromisoformat(sent)
            ).total_seconds()
        except ValueError:
            return None
        return max(0.0, seconds)
    return None
