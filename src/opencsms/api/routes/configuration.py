"""A station's configuration: the last GetConfiguration snapshot, the
provisioning state of each desired key next to the value the station
reported, and the capabilities derived from the snapshot.

``POST .../configuration/refresh`` asks the station again (GetConfiguration,
all keys) and answers with the new view: 409 when it is offline, 502 when it
did not answer (the command record says why).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext, api_context
from opencsms.api.schemas import CommandOffline, CommandOut, Problem
from opencsms.domain.provisioning import StationConfiguration

router = APIRouter(tags=["configuration"])


class ConfigurationKeyOut(BaseModel):
    key: str
    value: str | None
    readonly: bool
    reported_at: datetime


class ProvisioningItemOut(BaseModel):
    key: str
    desired_value: str
    actual_value: str | None = Field(description="as the last snapshot reported it")
    state: str = Field(
        description="pending, accepted, reboot_required, rejected, not_supported or failed"
    )
    attempts: int = Field(description="ChangeConfiguration requests sent for this value")
    detail: str | None = Field(description="the station's answer, or why there was none")
    updated_at: datetime


class CapabilitiesOut(BaseModel):
    feature_profiles: list[str]
    charge_profile_max_stack_level: int | None
    charging_rate_units: list[str] = Field(description='"Current" and/or "Power"')
    charging_schedule_max_periods: int | None
    max_charging_profiles_installed: int | None
    meter_values_sampled_data_max_length: int | None
    sampled_measurands: list[str]
    number_of_connectors: int | None
    local_auth_list_enabled: bool | None
    local_auth_list_max_length: int | None
    reserve_connector_zero_supported: bool | None


class StationConfigurationOut(BaseModel):
    station_id: str
    desired: dict[str, str] = Field(description="the configuration every station is brought to")
    configuration: list[ConfigurationKeyOut] = Field(description="the last snapshot, by key")
    provisioning: list[ProvisioningItemOut]
    capabilities: CapabilitiesOut


def _view(ctx: ApiContext, config: StationConfiguration) -> StationConfigurationOut:
    actual = {entry.key: entry.value for entry in config.entries}
    return StationConfigurationOut(
        station_id=config.station_id,
        desired=dict(ctx.services.provisioning.policy.desired),
        configuration=[
            ConfigurationKeyOut(
                key=e.key, value=e.value, readonly=e.readonly, reported_at=e.reported_at
            )
            for e in config.entries
        ],
        provisioning=[
            ProvisioningItemOut(
                key=i.key,
                desired_value=i.desired_value,
                actual_value=actual.get(i.key),
                state=i.state.value,
                attempts=i.attempts,
                detail=i.detail,
                updated_at=i.updated_at,
            )
            for i in config.items
        ],
        capabilities=CapabilitiesOut.model_validate(config.capabilities.as_dict()),
    )


@router.get(
    "/stations/{station_id}/configuration",
    responses={404: {"model": Problem}},
)
async def get_configuration(
    station_id: str,
    principal: Principal = Depends(require_reader),
    ctx: ApiContext = Depends(api_context),
) -> StationConfigurationOut:
    return _view(ctx, await ctx.services.provisioning.configuration(station_id))


@router.post(
    "/stations/{station_id}/configuration/refresh",
    response_model=StationConfigurationOut,
    responses={
        404: {"model": Problem},
        409: {"model": CommandOffline},
        502: {"model": CommandOffline, "description": "the station did not answer"},
    },
)
async def refresh_configuration(
    station_id: str,
    principal: Principal = Depends(require_admin),
    ctx: ApiContext = Depends(api_context),
) -> StationConfigurationOut | JSONResponse:
    """GetConfiguration (all keys) now; the answer replaces the snapshot."""
    provisioning = ctx.services.provisioning
    command, entries = await provisioning.refresh_snapshot(station_id, principal.label)
    if entries is None:
        body = CommandOffline(
            detail=f"GetConfiguration got no answer: {command.error or command.state.value}",
            command=CommandOut.from_record(command),
        )
        return JSONResponse(body.model_dump(mode="json"), 502)
    return _view(ctx, await provisioning.configuration(station_id))
