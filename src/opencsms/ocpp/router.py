"""The route table: OCPP action -> handler (and an optional after-reply step).

Explicit, per instance, no module-global registration: the composition root
builds one router for the central system and tests build their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opencsms.ocpp.session import OcppSession

Payload = dict[str, Any]
Handler = Callable[["OcppSession", Payload], Awaitable[Payload]]
AfterReply = Callable[["OcppSession", Payload, Payload], Awaitable[None]]
"""Runs as its own task once the CALLRESULT is on the wire, e.g. to push
configuration after a BootNotification was accepted."""


@dataclass(frozen=True, slots=True)
class Route:
    action: str
    handler: Handler
    after_reply: AfterReply | None = None


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def on(self, action: str, handler: Handler, *, after_reply: AfterReply | None = None) -> None:
        if action in self._routes:
            raise ValueError(f"a handler for {action} is already registered")
        self._routes[action] = Route(action, handler, after_reply)

    def route(self, action: str) -> Route | None:
        return self._routes.get(action)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._routes)
