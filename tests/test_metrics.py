"""Metrics of one node: own registry, frame counts, command outcomes and latency."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from opencsms.domain.events import EventBus
from opencsms.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_two_nodes_count_apart_and_the_gauge_reads_the_registry() -> None:
    connected = [3]
    one, two = Metrics(lambda: connected[0]), Metrics()
    one.on_frame("received", "call", "Heartbeat")
    one.on_frame("received", "call", "Heartbeat")
    one.on_frame("sent", "result", "Heartbeat")
    two.on_frame("sent", "call", "Reset")

    first = samples(one)
    assert first[("opencsms_stations_connected", ())] == 3
    heartbeat = (("action", "Heartbeat"), ("direction", "received"), ("kind", "call"))
    assert first[("opencsms_ocpp_messages_total", heartbeat)] == 2
    replies = (("action", "Heartbeat"), ("direction", "sent"), ("kind", "result"))
    assert first[("opencsms_ocpp_messages_total", replies)] == 1
    assert not any(labels == (("action", "Reset"),) for _, labels in first)

    connected[0] = 1
    second = samples(two)
    assert second[("opencsms_stations_connected", ())] == 0
    reset = (("action", "Reset"), ("direction", "sent"), ("kind", "call"))
    assert second[("opencsms_ocpp_messages_total", reset)] == 1
    assert samples(one)[("opencsms_stations_connected", ())] == 1


def test_action_names_outside_ocpp_16_share_one_series() -> None:
    metrics = Metrics()
    for name in ("Foo", "Bar", "x" * 200):
        metrics.on_frame("received", "call", name)
    found = samples(metrics)
    other = (("action", "other"), ("direction", "received"), ("kind", "call"))
    assert found[("opencsms_ocpp_messages_total", other)] == 3
    assert {dict(labels).get("action") for _, labels in found} <= {None, "other"}


async def test_command_finished_events_feed_outcomes_and_latency() -> None:
    bus = EventBus()
    metrics = Metrics()
    task = metrics.start(bus)
    try:
        await asyncio.sleep(0)  # let the task subscribe
        assert bus.subscribers == 1
        bus.publish(
            "command.finished", "CP1", {"action": "Reset", "state": "answered", "latency_s": 0.2}
        )
        bus.publish(
            "command.finished",
            "CP1",
            {
                "action": "Reset",
                "state": "timed_out",
                "sent_at": "2026-03-01T12:00:00+00:00",
                "finished_at": "2026-03-01T12:00:30+00:00",
            },
        )
        bus.publish("command.finished", "CP1", {"action": "Reset", "state": "failed"})
        bus.publish("connector.status", "CP1", {"action": "Reset", "state": "answered"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        total = ("opencsms_command_latency_seconds_count", (("action", "Reset"),))
        while samples(metrics).get(total) != 2 or len(_states(metrics)) < 3:
            assert loop.time() < deadline, samples(metrics)
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    found = samples(metrics)
    assert _states(metrics) == {"answered": 1, "timed_out": 1, "failed": 1}
    assert found[("opencsms_command_latency_seconds_sum", (("action", "Reset"),))] == 30.2
    le_1 = (("action", "Reset"), ("le", "1.0"))
    assert found[("opencsms_command_latency_seconds_bucket", le_1)] == 1
    assert bus.subscribers == 0


def _states(metrics: Metrics) -> dict[str, float]:
    return {
        dict(labels)["state"]: value
        for (name, labels), value in samples(metrics).items()
        if name == "opencsms_commands_total"
    }
