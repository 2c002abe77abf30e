"""Response models shared by several resources (the OpenAPI schema shows them).

Domain records stay plain dataclasses; these pydantic models are the API's
view of them, built with ``from_record`` so the mapping is written once.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from opencsms.domain.model import Command


class Problem(BaseModel):
    """Every 4xx/5xx body: what went wrong, in words."""

    detail: str


class CommandOut(BaseModel):
    """A CSMS-initiated OCPP message as an audit record."""

    id: int
    station_id: str
    action: str
    payload: dict[str, object]
    requested_by: str
    state: str = Field(description="queued, sent, answered, error, timed_out, failed or expired")
    created_at: datetime
    expires_at: datetime | None = None
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    status: str | None = Field(None, description="the reply's status field, if it has one")
    response: dict[str, object] | None = None
    error: str | None = None

    @classmethod
    def from_record(cls, command: Command) -> CommandOut:
        return cls(
            id=command.id,
            station_id=command.station_id,
            action=command.action,
            payload=command.payload,
            requested_by=command.requested_by,
            state=str(command.state),
            created_at=command.created_at,
            expires_at=command.expires_at,
            sent_at=command.sent_at,
            finished_at=command.finished_at,
            status=command.status,
            response=command.response,
            error=command.error,
        )


class CommandOffline(Problem):
    """409: the station is offline and the caller did not ask to queue."""

    command: CommandOut | None = None
