"""Rich renderings of fleet statistics: the live panel and the closing summary."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from opencsms.simulator.stats import FleetStats


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def overview(stats: FleetStats, rate: float | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    connected = f"{stats.connected} / {stats.stations}"
    if stats.all_connected_after is not None:
        connected += f"  (all after {stats.all_connected_after:.1f} s)"
    table.add_row("connected", connected)
    table.add_row("connects / failed attempts", f"{stats.connects} / {stats.connect_failures}")
    table.add_row("sessions started", str(stats.sessions))
    table.add_row("tags refused", str(stats.rejected))
    table.add_row("energy delivered", f"{stats.energy_wh / 1000:,.1f} kWh")
    table.add_row("faults / link drops", f"{stats.faults} / {stats.drops}")
    table.add_row("errors", Text(str(stats.errors), style="red" if stats.errors else ""))
    sent, received = sum(stats.sent.values()), sum(stats.received.values())
    table.add_row("CALLs sent / received", f"{sent:,} / {received:,}")
    if rate is not None:
        table.add_row("messages per second", f"{rate:,.0f}")
    table.add_row("elapsed", f"{stats.elapsed:.1f} s")
    return table


def actions(stats: FleetStats) -> Table:
    table = Table(
        "action",
        "sent",
        "received",
        "p50 ms",
        "p99 ms",
        "mean ms",
        title="messages and round trips (station → central system)",
    )
    for action in sorted(set(stats.sent) | set(stats.received)):
        histogram = stats.latency.get(action)
        table.add_row(
            action,
            f"{stats.sent.get(action, 0):,}",
            f"{stats.received.get(action, 0):,}",
            _ms(histogram.quantile(0.5) if histogram else None),
            _ms(histogram.quantile(0.99) if histogram else None),
            _ms(histogram.mean if histogram else None),
        )
    return table


def live(stats: FleetStats, rate: float | None) -> Group:
    return Group(overview(stats, rate), actions(stats))


def summary(stats: FleetStats) -> Group:
    rate = stats.messages / stats.elapsed if stats.elapsed > 0 else None
    return Group(Text("simulation summary", style="bold"), overview(stats, rate), actions(stats))
