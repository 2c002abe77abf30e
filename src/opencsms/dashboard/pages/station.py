"""One station: ``/dashboard/stations/{id}``, with its commands.

What an operator needs to answer "what is this charger doing, and can I fix
it from here?": who it is (boot info), whether this node holds its socket,
its connectors with their transactions and power, its configuration against
what provisioning wants, its smart-charging switch and limit, the power it
drew over the last hours, the commands sent to it and their answers, and the
last OCPP frames this node exchanged with it.

Commands are small htmx forms (admin only) posted to
``/dashboard/stations/{id}/commands/{name}``: each builds one OCPP payload
from labelled fields, sends it through the CommandService (the audit trail
names the operator) and answers with a fragment saying what the station
answered. Invalid fields answer 422 with the reason (nothing sent); a station
that is not connected gets a fragment saying so (the failed attempt is in the
audit trail, as from the API).

Every read is bounded: the station's latest :data:`CHART_SAMPLES` sampled
values for the chart, :data:`PAGE_SAMPLES` for power now, a page of
commands, the message log's own bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from opencsms.api.context import ApiContext, api_context
from opencsms.dashboard.auth import Admin, Viewer, principal
from opencsms.dashboard.templating import render
from opencsms.domain.commands import InvalidCommand, StationOffline, UnknownStation
from opencsms.domain.fleet_view import StationDetail, TransactionFilter
from opencsms.domain.model import Command, StoredMeterValue, TagStatus, Transaction
from opencsms.domain.smart_charging.estimates import power_now_w, power_readings_w
from opencsms.domain.smart_charging.profiles import steps_of
from opencsms.domain.smart_charging.records import ChargingMode, ProfileRecord, ProfileState

router = APIRouter()

COMMANDS_PAGE = 20
PAGE_SAMPLES = 400
"""Latest sampled values read for "power now" (a few readings per connector)."""
CHART_SAMPLES = 6000
"""Latest sampled values read for the chart: six hours of one-minute readings
of four measurands on four connectors. A busier station shows a shorter span."""
CHART_HOURS = 6
MAX_POINTS = 500
HOLD = timedelta(minutes=15)
"""A connector's last power reading counts in the station's total this long."""
FRESH = timedelta(minutes=15)
"""A power reading older than this is not "power now"."""
VOLTAGE = 230.0
PHASES = 3
"""For a limit in A shown in kW (the chart): the usual European three-phase supply."""
LIMIT_PROFILE_ID = 9290
"""The operator's manual ChargePointMaxProfile (smart charging's cap is 9200:
a different id, and stack level 2 above its 1, so the manual limit prevails)."""
LIMIT_STACK_LEVEL = 2
TRIGGERS = (
    "BootNotification",
    "StatusNotification",
    "MeterValues",
    "Heartbeat",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
)
LIVE_STATION = "connector.status transaction. meter.values station."


@dataclass(frozen=True, slots=True)
class ConnectorRow:
    connector_id: int
    status: str
    error_code: str
    info: str | None
    updated_at: datetime
    transaction: Transaction | None
    power_kw: float | None


# -- reading ------------------------------------------------------------------


def _standin(station_id: str, connector_id: int) -> Transaction:
    """An active transaction to read power with (the estimates read a
    transaction's samples; the chart reads a connector's, whatever session)."""
    return Transaction(
        0, station_id, connector_id, "", TagStatus.ACCEPTED, 0, datetime.min.replace(tzinfo=UTC)
    )


def _by_connector(samples: Sequence[StoredMeterValue]) -> dict[int, list[StoredMeterValue]]:
    found: dict[int, list[StoredMeterValue]] = {}
    for stored in samples:
        found.setdefault(stored.connector_id, []).append(stored)
    return found


async def _station_or_404(ctx: ApiContext, station_id: str) -> StationDetail:
    detail = await ctx.services.fleet.station(station_id)
    if detail is None:
        raise HTTPException(404, f"no station {station_id!r}")
    return detail


async def _connectors(ctx: ApiContext, detail: StationDetail) -> list[ConnectorRow]:
    station_id = detail.station.id
    fleet = ctx.services.fleet
    active = await fleet.transactions(
        TransactionFilter(station_id=station_id, active_only=True), limit=50
    )
    by_connector = {t.connector_id: t for t in active}
    samples = _by_connector(await fleet.station_samples(station_id, PAGE_SAMPLES))
    now = datetime.now(UTC)
    rows: list[ConnectorRow] = []
    for connector in detail.connectors:
        transaction = by_connector.get(connector.connector_id)
        power = None
        if transaction is not None:
            mine = [
                s
                for s in samples.get(connector.connector_id, ())
                if s.transaction_id in (None, transaction.id)
            ]
            power = power_now_w(transaction, mine, now=now, max_age=FRESH)
        rows.append(
            ConnectorRow(
                connector.connector_id,
                connector.status,
                connector.error_code,
                connector.info,
                connector.updated_at,
                transaction,
                None if power is None else power / 1000.0,
            )
        )
    return rows


async def _commands(
    ctx: ApiContext, station_id: str, before: int | None
) -> tuple[list[Command], int | None]:
    found = await ctx.services.commands.list(station_id, None, COMMANDS_PAGE, before)
    return found, found[-1].id if len(found) == COMMANDS_PAGE else None


# -- pages ----------------------------------------------------------------------


@router.get("/stations/{station_id}", response_class=HTMLResponse)
async def station_page(
    request: Request,
    station_id: str,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
    before: Annotated[int | None, Query(ge=1, description="commands older than this id")] = None,
) -> HTMLResponse:
    detail = await _station_or_404(ctx, station_id)
    services = ctx.services
    connectors = await _connectors(ctx, detail)
    config = await services.provisioning.configuration(station_id)
    actual = {e.key: e.value for e in config.entries}
    commands, next_before = await _commands(ctx, station_id, before)
    profiles = await services.smart_charging.station_profiles(station_id)
    known = [c.power_kw for c in connectors if c.power_kw is not None]
    return render(
        request,
        "station.html",
        {
            "station": detail.station,
            "info": detail.station.info,
            "online": ctx.registry.get(station_id) is not None,
            "site": await services.fleet.site_of(station_id),
            "connectors": connectors,
            "power_kw": sum(known) if known else None,
            "config": config,
            "actual": actual,
            "desired": dict(services.provisioning.policy.desired),
            "capabilities": config.capabilities,
            "mode": (await services.smart_charging.mode(station_id)).value,
            "profiles": profiles,
            "commands": commands,
            "next_before": next_before,
            "first_page": before is None,
            "before": before,
            "messages": _messages(ctx, station_id),
            "triggers": TRIGGERS,
            "live_station": LIVE_STATION,
        },
        nav="fleet",
    )


@router.get("/stations/{station_id}/connectors", response_class=HTMLResponse)
async def connectors_fragment(
    request: Request,
    station_id: str,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> HTMLResponse:
    rows = await _connectors(ctx, await _station_or_404(ctx, station_id))
    return render(
        request,
        "station_connectors.html",
        {"station_id": station_id, "connectors": rows, "live_station": LIVE_STATION},
    )


@router.get("/stations/{station_id}/commands", response_class=HTMLResponse)
async def commands_fragment(
    request: Request,
    station_id: str,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    await _station_or_404(ctx, station_id)
    commands, next_before = await _commands(ctx, station_id, before)
    return render(
        request,
        "station_commands.html",
        {
            "station_id": station_id,
            "commands": commands,
            "next_before": next_before,
            "first_page": before is None,
            "before": before,
        },
    )


def _messages(ctx: ApiContext, station_id: str) -> list[Any]:
    return [] if ctx.message_log is None else list(ctx.message_log.recent(station_id))


@router.get("/stations/{station_id}/messages", response_class=HTMLResponse)
async def messages_fragment(
    request: Request,
    station_id: str,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> HTMLResponse:
    await _station_or_404(ctx, station_id)
    return render(
        request,
        "station_messages.html",
        {"station_id": station_id, "messages": _messages(ctx, station_id)},
    )


# -- the power chart ----------------------------------------------------------------


@router.get("/stations/{station_id}/power.json")
async def power_json(
    station_id: str,
    operator: Viewer,
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> JSONResponse:
    """Power drawn (kW, all connectors) over the last :data:`CHART_HOURS`, and the
    ChargePointMaxProfile in force (stepped) when smart charging holds one."""
    await _station_or_404(ctx, station_id)
    end = datetime.now(UTC)
    start = end - timedelta(hours=CHART_HOURS)
    samples = await ctx.services.fleet.station_samples(station_id, CHART_SAMPLES)
    profiles = await ctx.services.smart_charging.station_profiles(station_id)
    sent = await ctx.services.commands.list(station_id, "SetChargingProfile", 20)
    manual = next((c for c in sent if _manual_limit(c) is not None), None)
    if manual is not None:
        cleared = await ctx.services.commands.list(station_id, "ClearChargingProfile", 20)
        if any(_clears_manual(c) and c.created_at > manual.created_at for c in cleared):
            manual = None
    times, drawn, limit = power_series(station_id, samples, profiles, start, end, manual)
    return JSONResponse(
        {
            "series": [
                {"label": "Drawn", "unit": "kW", "stepped": False},
                {"label": "Limit", "unit": "kW", "stepped": True, "dash": True},
            ],
            "data": [times, drawn, limit],
        }
    )


def power_series(
    station_id: str,
    samples: Sequence[StoredMeterValue],
    profiles: Sequence[ProfileRecord],
    start: datetime,
    end: datetime,
    manual: Command | None = None,
    max_points: int = MAX_POINTS,
) -> tuple[list[int], list[float | None], list[float | None]]:
    """(Unix seconds, kW drawn, kW limit) at most ``max_points`` long.

    The station's power at a reading time is the sum over its connectors of
    each one's latest reading no older than :data:`HOLD` (connectors report
    at different moments); in each of ``max_points`` equal time buckets the
    readings are averaged. The limit is the station's ChargePointMaxProfile
    as smart charging last sent it (not when cleared or failed), replaced
    from its answer on by the operator's own limit (``manual``: the latest
    Accepted SetChargingProfile of :data:`LIMIT_PROFILE_ID`, which prevails
    by its stack level) when there is one."""
    readings: list[tuple[datetime, int, float]] = []
    for connector_id, mine in _by_connector(samples).items():
        for at, watts in power_readings_w(_standin(station_id, connector_id), mine):
            readings.append((at, connector_id, watts / 1000.0))
    readings.sort()
    last: dict[int, tuple[datetime, float]] = {}
    totals: list[tuple[datetime, float]] = []
    for at, connector_id, kw in readings:
        last[connector_id] = (at, kw)
        if at >= start:
            total = sum(v for seen, v in last.values() if at - seen <= HOLD)
            if totals and totals[-1][0] == at:
                totals[-1] = (at, total)
            else:
                totals.append((at, total))
    span = max((end - start).total_seconds(), 1.0)
    buckets: dict[int, list[tuple[datetime, float]]] = {}
    for at, kw in totals:
        index = min(int((at - start).total_seconds() / span * max_points), max_points - 1)
        buckets.setdefault(index, []).append((at, kw))
    points = [
        (int(group[0][0].timestamp()), sum(kw for _, kw in group) / len(group))
        for _, group in sorted(buckets.items())
    ]
    steps = _limit_steps(profiles, start, end)
    if manual is not None:
        steps = _with_manual(steps, manual, start, end)
    times = sorted({t for t, _ in points} | set(steps))
    if len(times) > max_points:  # many limit steps: keep the readings' buckets
        times = sorted({t for t, _ in points})
    drawn_at = dict(points)
    drawn: list[float | None] = []
    limit: list[float | None] = []
    held: float | None = None
    for t in times:
        if t in drawn_at:
            held = round(drawn_at[t], 3)
        drawn.append(held)
        limit.append(_step_at(steps, t))
    return times, drawn, limit


def _limit_steps(
    profiles: Sequence[ProfileRecord], start: datetime, end: datetime
) -> dict[int, float]:
    """Unix seconds → kW at each change of the cap within [start, end]."""
    changes: dict[int, float] = {}
    for record in profiles:
        if record.purpose != "ChargePointMaxProfile" or record.connector_id != 0:
            continue
        if record.state in (ProfileState.CLEARED, ProfileState.FAILED):
            continue
        payload = record.payload.get("csChargingProfiles", record.payload)
        if not isinstance(payload, dict):
            continue
        try:
            steps = steps_of(
                payload, now=max(start, record.updated_at), voltage=VOLTAGE, phases=PHASES
            )
        except (KeyError, TypeError, ValueError, AssertionError):
            continue
        for rate in steps:
            if rate.start <= end and rate.end > start:
                changes[int(max(rate.start, start).timestamp())] = round(rate.value, 3)
    return changes


def _manual_limit(command: Command) -> dict[str, object] | None:
    """The profile of an Accepted SetChargingProfile of the dashboard's limit."""
    profile = command.payload.get("csChargingProfiles")
    if command.status != "Accepted" or not isinstance(profile, dict):
        return None
    return profile if profile.get("chargingProfileId") == LIMIT_PROFILE_ID else None


def _clears_manual(command: Command) -> bool:
    """An Accepted ClearChargingProfile of the dashboard's limit."""
    return command.status == "Accepted" and command.payload.get("id") == LIMIT_PROFILE_ID


def _with_manual(
    steps: dict[int, float], manual: Command, start: datetime, end: datetime
) -> dict[int, float]:
    profile = _manual_limit(manual)
    since = manual.finished_at or manual.created_at
    if profile is None or since > end:
        return steps
    try:
        rates = steps_of(profile, now=max(start, since), voltage=VOLTAGE, phases=PHASES)
    except (KeyError, TypeError, ValueError, AssertionError):
        return steps
    kept = {at: kw for at, kw in steps.items() if at < max(start, since).timestamp()}
    for rate in rates:
        if rate.start <= end and rate.end > start:
            kept[int(max(rate.start, start, since).timestamp())] = round(rate.value, 3)
    return kept


def _step_at(steps: dict[int, float], t: int) -> float | None:
    found = None
    for at in sorted(steps):
        if at <= t:
            found = steps[at]
    return found


# -- commands ----------------------------------------------------------------------


class FormError(ValueError):
    """A field of a command form is missing or wrong: the message says which."""


def _text(form: dict[str, str], name: str, label: str, max_len: int = 64) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise FormError(f"{label} is required")
    if len(value) > max_len:
        raise FormError(f"{label} is at most {max_len} characters")
    return value


def _int(form: dict[str, str], name: str, label: str, minimum: int) -> int:
    raw = form.get(name, "").strip()
    try:
        value = int(raw)
    except ValueError:
        raise FormError(f"{label} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise FormError(f"{label} must be at least {minimum}, got {value}")
    return value


def _choice(form: dict[str, str], name: str, label: str, allowed: Sequence[str]) -> str:
    value = form.get(name, "")
    if value not in allowed:
        raise FormError(f"{label} must be one of {', '.join(allowed)}")
    return value


def _limit_payload(form: dict[str, str]) -> dict[str, object]:
    unit = _choice(form, "unit", "Unit", ("kW", "A"))
    raw = form.get("limit", "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise FormError(f"Limit must be a number, got {raw!r}") from None
    if not 0 <= value <= 1000:
        raise FormError(f"Limit must be between 0 and 1000 {unit}, got {raw}")
    limit = round(value * 1000 if unit == "kW" else value, 1)
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": LIMIT_PROFILE_ID,
            "stackLevel": LIMIT_STACK_LEVEL,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": now.isoformat().replace("+00:00", "Z"),
                "chargingRateUnit": "W" if unit == "kW" else "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


def _ocpp_command(name: str, form: dict[str, str]) -> tuple[str, dict[str, object]]:
    """The OCPP action and payload of a dashboard command form."""
    if name == "remote-start":
        payload: dict[str, object] = {"idTag": _text(form, "id_tag", "Id tag", 20)}
        if form.get("connector", "").strip():
            payload["connectorId"] = _int(form, "connector", "Connector", 1)
        return "RemoteStartTransaction", payload
    if name == "remote-stop":
        return "RemoteStopTransaction", {
            "transactionId": _int(form, "transaction_id", "Transaction", 0)
        }
    if name == "reset":
        return "Reset", {"type": _choice(form, "type", "Reset type", ("Soft", "Hard"))}
    if name == "unlock":
        return "UnlockConnector", {"connectorId": _int(form, "connector", "Connector", 1)}
    if name == "availability":
        return "ChangeAvailability", {
            "connectorId": _int(form, "connector", "Connector", 0),
            "type": _choice(form, "type", "Availability", ("Operative", "Inoperative")),
        }
    if name == "trigger":
        payload = {"requestedMessage": _choice(form, "message", "Message", TRIGGERS)}
        if form.get("connector", "").strip():
            payload["connectorId"] = _int(form, "connector", "Connector", 0)
        return "TriggerMessage", payload
    if name == "limit":
        return "SetChargingProfile", _limit_payload(form)
    if name == "clear-limit":
        return "ClearChargingProfile", {"id": LIMIT_PROFILE_ID}
    raise HTTPException(404, f"no dashboard command {name!r}")


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {key: value for key, value in data.items() if isinstance(value, str)}


def _result(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "station_result.html",
        {"command": None, "offline": False, "error": None, "switched": None, **context},
        status_code=status_code,
        headers={"HX-Trigger": "station-command"},
    )


@router.post("/stations/{station_id}/commands/{name}", response_class=HTMLResponse)
async def send_command(
    request: Request,
    station_id: str,
    name: str,
    operator: Admin,
    ctx: Annotated[ApiContext, Depends(api_context)],
) -> HTMLResponse:
    await _station_or_404(ctx, station_id)
    form = await _form(request)
    who = principal(operator).label
    if name == "charging":
        try:
            mode = ChargingMode(_choice(form, "mode", "Mode", ("smart", "on", "off")))
        except FormError as exc:
            return _result(request, {"error": str(exc)}, 422)
        profiles = await ctx.services.smart_charging.switch(station_id, mode, requested_by=who)
        return _result(request, {"switched": (mode.value, profiles)})
    try:
        action, payload = _ocpp_command(name, form)
        command = await ctx.services.commands.execute(station_id, action, payload, requested_by=who)
    except FormError as exc:
        return _result(request, {"error": str(exc)}, 422)
    except InvalidCommand as exc:
        return _result(request, {"error": str(exc)}, 422)
    except UnknownStation:
        raise HTTPException(404, f"no station {station_id!r}") from None
    except StationOffline as exc:
        return _result(request, {"command": exc.command, "offline": True})
    return _result(request, {"command": command, "offline": False})
