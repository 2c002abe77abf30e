"""What the API's handlers reach: the node's services, live sessions and events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from opencsms.config import Settings
from opencsms.domain.events import EventBus
from opencsms.stations.message_log import MessageLog
from opencsms.stations.registry import SessionRegistry

if TYPE_CHECKING:
    from opencsms.app import Services
    from opencsms.metrics import Metrics


@dataclass(frozen=True, slots=True)
class ApiContext:
    settings: Settings
    services: Services
    registry: SessionRegistry
    events: EventBus
    metrics: Metrics
    public_base_url: str
    """How stations reach this API (firmware downloads, diagnostics uploads)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the node stops: long-lived responses (the event stream) end on
    it, rather than holding the server's graceful shutdown until its timeout."""
    message_log: MessageLog | None = None
    """This node's recent OCPP frames per station (None: not kept)."""


def api_context(request: Request) -> ApiContext:
    """FastAPI dependency: ``ctx: ApiContext = Depends(api_context)``."""
    context: ApiContext = request.app.state.context
    return context
