"""Accounting: what a session really cost and emitted, against charging at once.

Everything is computed from *metered* energy, never from the plan: the plan
says what we wanted, the register says what happened. Pure functions over the
records the repositories return (a :class:`~opencsms.domain.model.Transaction`
and its :class:`~opencsms.domain.model.StoredMeterValue` samples) and the
normalised signals of :mod:`.rates`.

The register series (:func:`metered_intervals`), preconditions and choices:

* Readings are ``Energy.Active.Import.Register`` samples of this transaction
  (``transaction_id`` equal to its id or unknown) in Wh or kWh (Wh when no unit
  is given, as OCPP 1.6 says), plus the bookends: ``meter_start`` at
  ``started_at`` and, once finished, ``meter_stop`` at ``stopped_at``.
  Samples in ``SignedData`` format, not a number, in another unit or measured
  at another location than the outlet are skipped (an unreadable unit or value
  is an anomaly).
* Samples before ``started_at`` or after ``stopped_at`` are outside the
  session and ignored (flagged, since a station's clock may be off).
* Readings are put in time order: a station's offline queue delivers late but
  with the time the reading was taken, which is the time that counts.
  Readings at the same time: identical ones are one reading; differing ones
  keep the first (a bookend wins) and are flagged.
* Phases: the total register is the sample without a phase. At a time when
  only per-phase registers were reported, their sum is the total (a meter's
  phase registers add up to its total register).
* A register that goes backwards never counts negative energy. If a later
  reading comes back to at least the value before the drop, the low readings
  were a glitch and are skipped; otherwise the meter was reset and counting
  goes on from the new value. Either way it is flagged.

Energy between two consecutive readings was drawn at constant power (linear
within the interval, the most we know); :func:`energy_by_slot` splits it over
the rate slots the interval spans in proportion to time. Energy in time no
rate covers is *uncovered*: reported as such, never priced at 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from opencsms.domain.charging_state import ENERGY, scaled
from opencsms.domain.model import SampledValue, StoredMeterValue, Transaction
from opencsms.domain.smart_charging.rates import Rate


class AccountingError(ValueError):
    """Inputs that cannot be accounted (a signal in an unusable unit, a
    baseline power that is not positive, accounts in different currencies)."""


class AnomalyKind(StrEnum):
    OUTSIDE_SESSION = "outside_session"
    UNREADABLE = "unreadable"
    CONFLICTING_READING = "conflicting_reading"
    REGISTER_GLITCH = "register_glitch"
    REGISTER_RESET = "register_reset"


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    at: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class Interval:
    """``kwh`` drawn at constant power from ``start`` to ``end`` (end > start)."""

    start: datetime
    end: datetime
    kwh: float


@dataclass(frozen=True, slots=True)
class Metering:
    """A session's metered energy as intervals between consecutive readings."""

    intervals: tuple[Interval, ...]
    anomalies: tuple[Anomaly, ...]

    @property
    def energy_kwh(self) -> float:
        return math.fsum(interval.kwh for interval in self.intervals)


_OUTLET = (None, "Outlet")


def _register_wh(sample: SampledValue) -> float | None:
    """The sample in Wh; None when it is not a number in Wh or kWh."""
    return scaled(sample, "Wh", "kWh")


def _readings(
    transaction: Transaction, samples: Iterable[StoredMeterValue], anomalies: list[Anomaly]
) -> list[tuple[datetime, float]]:
    """The register's total at each reading time, bookends first at their time."""
    start, stop = transaction.started_at, transaction.stopped_at
    totals: dict[datetime, float] = {}
    phases: dict[datetime, dict[str, float]] = {}
    outside = 0
    for stored in samples:
        sample = stored.sample
        if sample.measurand != ENERGY or sample.location not in _OUTLET:
            continue
        if stored.transaction_id not in (None, transaction.id):
            continue
        if stored.timestamp < start or (stop is not None and stored.timestamp > stop):
            outside += 1
            continue
        wh = _register_wh(sample)
        if wh is None:
            if sample.format != "SignedData":
                anomalies.append(
                    Anomaly(
                        AnomalyKind.UNREADABLE,
                        stored.timestamp,
                        f"register value {sample.value!r} {sample.unit or ''}".rstrip(),
                    )
                )
            continue
        if sample.phase is None:
            _keep_first(totals, stored.timestamp, wh, anomalies)
        else:
            phases.setdefault(stored.timestamp, {}).setdefault(sample.phase, wh)
    if outside:
        anomalies.append(
            Anomaly(
                AnomalyKind.OUTSIDE_SESSION,
                start,
                f"{outside} register sample(s) outside the session ignored",
            )
        )
    for at, by_phase in phases.items():
        if at not in totals:
            totals[at] = math.fsum(by_phase.values())
    bookends = {start: float(transaction.meter_start)}
    if stop is not None and transaction.meter_stop is not None:
        bookends[stop] = float(transaction.meter_stop)
    for at, wh in bookends.items():
        if at in totals and totals[at] != wh:
            anomalies.append(
                Anomaly(
                    AnomalyKind.CONFLICTING_READING,
                    at,
                    f"sample {totals[at]:g} Wh differs from the transaction's {wh:g} Wh",
                )
            )
        totals[at] = wh
    return sorted(totals.items())


def _keep_first(
    totals: dict[datetime, float], at: datetime, wh: float, anomalies: list[Anomaly]
) -> None:
    if at not in totals:
        totals[at] = wh
    elif totals[at] != wh:
        anomalies.append(
            Anomaly(
                AnomalyKind.CONFLICTING_READING,
                at,
                f"{wh:g} Wh ignored, {totals[at]:g} Wh read first",
            )
        )


def metered_intervals(transaction: Transaction, samples: Iterable[StoredMeterValue]) -> Metering:
    """The session's energy as intervals between consecutive register readings
    (see the module docstring for what counts). An active session runs to its
    latest reading; a session with one reading has no intervals (no energy)."""
    anomalies: list[Anomaly] = []
    readings = _readings(transaction, samples, anomalies)
    # suffix_max[i]: the highest reading after i, to tell a glitch from a reset
    suffix_max = [-math.inf] * len(readings)
    for i in range(len(readings) - 2, -1, -1):
        suffix_max[i] = max(suffix_max[i + 1], readings[i + 1][1])
    intervals: list[Interval] = []
    if not readings:
        return Metering((), tuple(anomalies))
    base_at, base = readings[0]
    for i, (at, wh) in enumerate(readings[1:], start=1):
        if wh < base:
            if suffix_max[i] >= base:
                anomalies.append(
                    Anomaly(
                        AnomalyKind.REGISTER_GLITCH,
                        at,
                        f"register read {wh:g} Wh after {base:g} Wh, later back: skipped",
                    )
                )
                continue
            anomalies.append(
                Anomaly(
                    AnomalyKind.REGISTER_RESET,
                    at,
                    f"register fell from {base:g} Wh to {wh:g} Wh and stayed: "
                    "counted from the new value",
                )
            )
        else:
            intervals.append(Interval(base_at, at, (wh - base) / 1000.0))
        base_at, base = at, wh
    return Metering(tuple(intervals), tuple(sorted(anomalies, key=lambda a: a.at)))


@dataclass(frozen=True, slots=True)
class SlotEnergy:
    """Energy allocated to each rate of a signal (same order), and the energy
    in time no rate covers."""

    kwh: tuple[float, ...]
    uncovered_kwh: float

    def price(self, rates: Sequence[Rate]) -> float:
        """Σ energy in slot × the slot's value (p/kWh → p, gCO2/kWh → g)."""
        return math.fsum(kwh * rate.value for kwh, rate in zip(self.kwh, rates, strict=True))


def energy_by_slot(intervals: Sequence[Interval], rates: Sequence[Rate]) -> SlotEnergy:
    """Split each interval's energy over the rates it spans in proportion to
    time. Preconditions: ``rates`` normalised (sorted, no overlap);
    ``intervals`` sorted by start and not overlapping (as
    :func:`metered_intervals` gives them). One pass over both: O(n + m)."""
    allocated = [0.0] * len(rates)
    uncovered = 0.0
    first = 0
    for interval in intervals:
        span = (interval.end - interval.start).total_seconds()
        while first < len(rates) and rates[first].end <= interval.start:
            first += 1
        covered = timedelta()
        index = first
        while index < len(rates) and rates[index].start < interval.end:
            rate = rates[index]
            overlap = min(interval.end, rate.end) - max(interval.start, rate.start)
            if overlap > timedelta():
                allocated[index] += interval.kwh * overlap.total_seconds() / span
                covered += overlap
            index += 1
        gap = interval.end - interval.start - covered  # exact: timedeltas are integers
        if gap > timedelta():
            uncovered += interval.kwh * gap.total_seconds() / span
    return SlotEnergy(tuple(allocated), uncovered)


def charge_now(start: datetime, energy_kwh: float, power_kw: float) -> tuple[Interval, ...]:
    """The charge-now baseline: ``energy_kwh`` drawn from ``start`` at
    ``power_kw`` as early as possible (one interval; none for no energy)."""
    if power_kw <= 0 or not math.isfinite(power_kw):
        raise AccountingError(f"baseline power must be positive, not {power_kw}")
    if energy_kwh <= 0:
        return ()
    return (Interval(start, start + timedelta(hours=energy_kwh / power_kw), energy_kwh),)


@dataclass(frozen=True, slots=True)
class SessionAccount:
    """One session's metered cost and CO2 against the charge-now baseline.

    ``cost`` and ``co2_g`` price only the energy their signal covers; the rest
    is in ``unpriced_kwh`` / ``co2_uncovered_kwh``. A saving is only claimed
    when both the session and its baseline are fully covered (else None):
    comparing a priced kWh with an unpriced one would invent money.
    ``saving_pct`` is relative to the baseline cost (None when that is not
    positive, as with negative prices)."""

    transaction_id: int
    station_id: str
    started_at: datetime
    energy_kwh: float
    cost: float
    cost_unit: str | None
    co2_g: float
    baseline_cost: float
    baseline_co2_g: float
    saving: float | None
    saving_pct: float | None
    co2_saving_g: float | None
    unpriced_kwh: float
    baseline_unpriced_kwh: float
    co2_uncovered_kwh: float
    baseline_co2_uncovered_kwh: float
    anomalies: tuple[Anomaly, ...]


_GRAMS_PER_KWH = frozenset({"g/kWh", "gCO2/kWh", "gCO2e/kWh", "kg/MWh", "kgCO2/MWh"})


def _cost_unit(prices: Sequence[Rate]) -> str | None:
    if not prices:
        return None
    unit = prices[0].unit
    if not unit.endswith("/kWh"):
        raise AccountingError(f"prices must be per kWh, not {unit!r}")
    return unit.removesuffix("/kWh")


def _check_co2(co2: Sequence[Rate]) -> None:
    if co2 and co2[0].unit not in _GRAMS_PER_KWH:
        raise AccountingError(f"CO2 intensity must be in g/kWh, not {co2[0].unit!r}")


def account_session(
    transaction: Transaction,
    samples: Iterable[StoredMeterValue],
    prices: Sequence[Rate],
    co2: Sequence[Rate],
    baseline_power_kw: float,
    plugged_in_at: datetime | None = None,
) -> SessionAccount:
    """Cost and CO2 of what the meter recorded, and of the same energy drawn
    at ``baseline_power_kw`` from ``plugged_in_at`` (default: the start of the
    transaction) as early as possible.

    Preconditions: ``prices`` and ``co2`` normalised (:func:`.rates.normalise`)
    and covering the session and the baseline (what they miss is reported as
    uncovered); ``baseline_power_kw`` the station's measured power for this
    car when known (:func:`.estimates.peak_power_w`), else its nameplate."""
    cost_unit = _cost_unit(prices)
    _check_co2(co2)
    metering = metered_intervals(transaction, samples)
    energy = metering.energy_kwh
    baseline = charge_now(plugged_in_at or transaction.started_at, energy, baseline_power_kw)
    actual_price = energy_by_slot(metering.intervals, prices)
    actual_co2 = energy_by_slot(metering.intervals, co2)
    base_price = energy_by_slot(baseline, prices)
    base_co2 = energy_by_slot(baseline, co2)
    cost, baseline_cost = actual_price.price(prices), base_price.price(prices)
    co2_g, baseline_co2_g = actual_co2.price(co2), base_co2.price(co2)
    priced = actual_price.uncovered_kwh == 0 and base_price.uncovered_kwh == 0
    saving = baseline_cost - cost if priced else None
    saving_pct = None
    if saving is not None and baseline_cost > 0:
        saving_pct = 100.0 * saving / baseline_cost
    co2_covered = actual_co2.uncovered_kwh == 0 and base_co2.uncovered_kwh == 0
    return SessionAccount(
        transaction_id=transaction.id,
        station_id=transaction.station_id,
        started_at=transaction.started_at,
        energy_kwh=energy,
        cost=cost,
        cost_unit=cost_unit,
        co2_g=co2_g,
        baseline_cost=baseline_cost,
        baseline_co2_g=baseline_co2_g,
        saving=saving,
        saving_pct=saving_pct,
        co2_saving_g=baseline_co2_g - co2_g if co2_covered else None,
        unpriced_kwh=actual_price.uncovered_kwh,
        baseline_unpriced_kwh=base_price.uncovered_kwh,
        co2_uncovered_kwh=actual_co2.uncovered_kwh,
        baseline_co2_uncovered_kwh=base_co2.uncovered_kwh,
        anomalies=metering.anomalies,
    )


@dataclass(frozen=True, slots=True)
class SavingsTotals:
    """Sums over sessions. ``saving`` and ``saving_pct`` are over the
    ``compared`` sessions only (those with a known saving), ``co2_saving_g``
    over the ``co2_compared`` ones; ``cost`` and ``co2_g`` over all sessions'
    covered energy, with what was not covered in ``unpriced_kwh`` and
    ``co2_uncovered_kwh``."""

    sessions: int
    compared: int
    co2_compared: int
    energy_kwh: float
    cost: float
    baseline_cost: float
    saving: float
    saving_pct: float | None
    co2_g: float
    baseline_co2_g: float
    co2_saving_g: float
    unpriced_kwh: float
    co2_uncovered_kwh: float
    anomalies: int


@dataclass(frozen=True, slots=True)
class SavingsReport:
    start: datetime
    end: datetime
    cost_unit: str | None
    total: SavingsTotals
    by_station: dict[str, SavingsTotals]


def _totals(accounts: Sequence[SessionAccount]) -> SavingsTotals:
    compared = [a for a in accounts if a.saving is not None]
    co2_compared = [a for a in accounts if a.co2_saving_g is not None]
    saving = math.fsum(a.saving for a in compared if a.saving is not None)
    compared_baseline = math.fsum(a.baseline_cost for a in compared)
    return SavingsTotals(
        sessions=len(accounts),
        compared=len(compared),
        co2_compared=len(co2_compared),
        energy_kwh=math.fsum(a.energy_kwh for a in accounts),
        cost=math.fsum(a.cost for a in accounts),
        baseline_cost=math.fsum(a.baseline_cost for a in accounts),
        saving=saving,
        saving_pct=100.0 * saving / compared_baseline if compared_baseline > 0 else None,
        co2_g=math.fsum(a.co2_g for a in accounts),
        baseline_co2_g=math.fsum(a.baseline_co2_g for a in accounts),
        co2_saving_g=math.fsum(a.co2_saving_g for a in co2_compared if a.co2_saving_g is not None),
        unpriced_kwh=math.fsum(a.unpriced_kwh for a in accounts),
        co2_uncovered_kwh=math.fsum(a.co2_uncovered_kwh for a in accounts),
        anomalies=sum(len(a.anomalies) for a in accounts),
    )


def savings_report(
    accounts: Iterable[SessionAccount], start: datetime, end: datetime
) -> SavingsReport:
    """Totals and per-station totals of the sessions that *started* in
    ``[start, end)`` (a session belongs wholly to the period it started in, so
    that consecutive periods add up). Accounts priced in different currencies
    cannot be added: :class:`AccountingError`."""
    chosen = [a for a in accounts if start <= a.started_at < end]
    units = {a.cost_unit for a in chosen if a.cost_unit is not None}
    if len(units) > 1:
        raise AccountingError(f"accounts in different currencies: {sorted(units)}")
    stations: dict[str, list[SessionAccount]] = {}
    for account in chosen:
        stations.setdefault(account.station_id, []).append(account)
    return SavingsReport(
        start=start,
        end=end,
        cost_unit=units.pop() if units else None,
        total=_totals(chosen),
        by_station={station: _totals(stations[station]) for station in sorted(stations)},
    )
