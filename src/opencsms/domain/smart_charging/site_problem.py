"""The joint site plan as arrays: what the LP, the greedy fallback and the
pause pass share (:mod:`.site_planner`, :mod:`.site_pauses`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from opencsms.domain.smart_charging.planner import Slot

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TOLERANCE = 1e-9
CHARGING_KWH = 1e-9
"""Less than this in a slot is no charge (as in the segments)."""


@dataclass(frozen=True, slots=True)
class SiteProblem:
    """The LP's data. An *edge* is one car in one slot it can charge in."""

    slots: list[Slot]
    cap_kw: list[float]  # per slot, inf: uncapped
    cars: list[tuple[int, int]]  # per car: its edges are ``range(first, last)``
    deadlines: list[datetime]  # per car: the end of its planning window
    edge_car: IntArray
    edge_slot: IntArray
    edge_max: FloatArray  # kWh the car can take in the slot
    edge_min: FloatArray  # kWh the car must take: its active slot goes on
    needs: FloatArray
    weights: list[FloatArray]  # per objective component, per edge
    active: list[bool]  # per car: charging now (a wait before its next charge is a pause)
    previous: FloatArray | None = None
    """kWh per edge of the plans in force (a re-plan stays close to them), or None."""
