"""Smart Charging profile: Set/ClearChargingProfile, GetCompositeSchedule (1.6 section 5.x).

Installing or clearing a profile re-applies the limits of running
transactions at once; GetCompositeSchedule answers from the same
computation the pilot follows (:func:`opencsms.chargepoint.control.composite_for`).
"""

from __future__ import annotations

from typing import Any

from ocpp.v16.enums import (
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ClearChargingProfileStatus,
    GetCompositeScheduleStatus,
)

from opencsms.chargepoint import control
from opencsms.chargepoint.clock import ocpp_time
from opencsms.chargepoint.handlers import station_of
from opencsms.chargepoint.smart_charging import ChargingProfile
from opencsms.chargepoint.station import ChargePoint
from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]
UNITS = {"Current": "A", "Power": "W"}


def install(cp: ChargePoint, connector_id: int, data: Payload) -> str | None:
    """Install a profile from its wire form; None when accepted, else the reason."""
    if not 0 <= connector_id < len(cp.connectors):
        return "no such connector"
    profile = ChargingProfile.from_payload(data)
    tx = cp.connectors[connector_id].transaction if connector_id else None
    active = None
    if tx is not None:
        # the reply with the real id may still be on its way (or the station offline)
        wanted = profile.transaction_id
        active = wanted if wanted is not None and wanted in (tx.id, tx.local_id) else tx.wire_id
    return cp.profiles.install(
        connector_id, profile, active_transaction=active, limits=control.profile_limits(cp)
    )


async def set_charging_profile(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    reason = install(cp, p["connectorId"], p["csChargingProfiles"])
    if reason is not None:
        cp.log.info("charging profile rejected", reason=reason)
        return {"status": ChargingProfileStatus.rejected.value}
    return {"status": ChargingProfileStatus.accepted.value}


async def _rebalance_after(session: OcppSession, p: Payload, result: Payload) -> None:
    if result.get("status") == "Accepted":
        cp = station_of(session)
        cp.spawn(control.rebalance(cp))


async def clear_charging_profile(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    purpose = p.get("chargingProfilePurpose")
    removed = cp.profiles.clear(
        profile_id=p.get("id"),
        connector_id=p.get("connectorId"),
        purpose=ChargingProfilePurposeType(purpose) if purpose else None,
        stack_level=p.get("stackLevel"),
    )
    status = ClearChargingProfileStatus.accepted if removed else ClearChargingProfileStatus.unknown
    return {"status": status.value}


async def get_composite_schedule(session: OcppSession, p: Payload) -> Payload:
    cp = station_of(session)
    connector_id = p["connectorId"]
    if not 0 <= connector_id < len(cp.connectors) or p["duration"] <= 0:
        return {"status": GetCompositeScheduleStatus.rejected.value}
    unit = p.get("chargingRateUnit")
    if unit not in ("A", "W"):
        allowed = cp.config.get_list("ChargingScheduleAllowedChargingRateUnit")
        unit = UNITS.get(allowed[0], "A") if allowed else "A"
    start = cp.now().replace(microsecond=0)
    periods = control.composite_for(cp, connector_id, p["duration"], unit, start)
    return {
        "status": GetCompositeScheduleStatus.accepted.value,
        "connectorId": connector_id,
        "scheduleStart": ocpp_time(start),
        "chargingSchedule": {
            "duration": p["duration"],
            "startSchedule": ocpp_time(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": q.start, "limit": q.limit} for q in periods],
        },
    }


ROUTES: dict[str, tuple[Any, Any]] = {
    "SetChargingProfile": (set_charging_profile, _rebalance_after),
    "ClearChargingProfile": (clear_charging_profile, _rebalance_after),
    "GetCompositeSchedule": (get_composite_schedule, None),
}
