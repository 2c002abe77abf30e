"""Charge-point simulator: the :mod:`opencsms.chargepoint` library on simulated hardware.

Import from tests to drive one station step by step::

    from opencsms.simulator import EV, FakeClock, SimulatedStation, ConnectionSettings

See :mod:`opencsms.simulator.station` for an example.
"""

from opencsms.chargepoint.clock import FakeClock, SystemClock
from opencsms.chargepoint.connection import ConnectionSettings
from opencsms.simulator.ev import EV
from opencsms.simulator.hardware import (
    SimulatedConnector,
    SimulatedDiagnostics,
    SimulatedFirmware,
    SimulatedReader,
)
from opencsms.simulator.journal import Entry, Journal, JournalTransport
from opencsms.simulator.quirks import Quirks
from opencsms.simulator.station import SimulatedStation

__all__ = [
    "EV",
    "ConnectionSettings",
    "Entry",
    "FakeClock",
    "Journal",
    "JournalTransport",
    "Quirks",
    "SimulatedConnector",
    "SimulatedDiagnostics",
    "SimulatedFirmware",
    "SimulatedReader",
    "SimulatedStation",
    "SystemClock",
]
