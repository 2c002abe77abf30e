"""Domain events: what happened, for the live stream and webhooks.

Services publish an :class:`Event` after the change it describes is
committed, never before: a subscriber that reads the database on an event
finds the change there. Publishing is synchronous and never blocks or fails
the publisher: each subscriber has a bounded queue, and a subscriber that
falls behind loses its oldest events (and is told how many, ``dropped``)
rather than slowing the stations' message path down.

A subscriber may name the event ``types`` it can accept at all; a publisher
on the hot path asks :meth:`EventBus.wants` before it builds an event's data,
so a MeterValues costs nothing extra while nobody listens for
``meter.values`` (metrics and an idle webhook dispatcher are subscribed all
the time, but to other types).

Event types (``Event.type``), with ``data`` in the shape the API shows:

==========================  =====================================================
``station.connected``       ``{}``
``station.disconnected``    ``{}``
``station.booted``          ``{vendor, model, firmware_version, ...}``
``connector.status``        ``{connector_id, status, error_code, ...}``
``transaction.started``     ``{transaction_id, connector_id, id_tag, meter_start, ...}``
``transaction.stopped``     ``{transaction_id, meter_stop, energy_wh, reason, ...}``
``meter.values``            ``{connector_id, transaction_id, values: [...]}``
``command.finished``        the command record (see the API's command resource)
``provisioning.changed``    ``{key, state, desired_value, detail}``
``reservation.changed``     the reservation record
``firmware.status``         the firmware job
``diagnostics.status``      the diagnostics job
``smart_charging.profile``  ``{connector_id, purpose, profile_id, state, step, detail, ...}``
==========================  =====================================================
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from opencsms.domain.clock import Clock, utc_now

DEFAULT_QUEUE = 1000


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    station_id: str | None
    data: dict[str, object]
    at: datetime
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": self.type,
            "station_id": self.station_id,
            "at": self.at.isoformat(),
            "data": self.data,
        }


class Subscription:
    """One subscriber's view of the stream: ``async for event in subscription``."""

    def __init__(
        self,
        bus: EventBus,
        accepts: Callable[[Event], bool],
        maxsize: int,
        types: Iterable[str] | None = None,
    ) -> None:
        self._bus = bus
        self._accepts = accepts
        self.types: frozenset[str] | None = None if types is None else frozenset(types)
        """The only event types offered to ``accepts`` (None: all); may be changed."""
        self._events: deque[Event] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        """Events lost because this subscriber fell behind."""

    def _offer(self, event: Event) -> None:
        if self.types is not None and event.type not in self.types:
            return
        if not self._accepts(event):
            return
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append(event)
        self._ready.set()

    async def get(self) -> Event:
        while not self._events:
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """In-process publish/subscribe. One per node; the cluster issue bridges nodes."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self._clock = clock
        self._subscriptions: list[Subscription] = []

    def publish(self, type: str, station_id: str | None, data: dict[str, object]) -> Event:
        event = Event(type, station_id, data, self._clock())
        for subscription in self._subscriptions:
            subscription._offer(event)
        return event

    def subscribe(
        self,
        accepts: Callable[[Event], bool] = lambda event: True,
        maxsize: int = DEFAULT_QUEUE,
        *,
        types: Iterable[str] | None = None,
    ) -> Subscription:
        subscription = Subscription(self, accepts, maxsize, types)
        self._subscriptions.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def wants(self, type: str) -> bool:
        """Whether any subscriber may accept events of ``type`` (cheap: ask it
        before building an event's data on a hot path)."""
        for subscription in self._subscriptions:
            if subscription.types is None or type in subscription.types:
                return True
        return False
