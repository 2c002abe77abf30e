"""Transaction messages in order, across disconnects (OCPP 1.6 section 4.8 / 3.x).

StartTransaction, StopTransaction and transaction MeterValues must reach the
central system in the order they happened, with the timestamps of when they
happened, even if the link was down. So the station never sends them
directly: it appends them here and one sender drains the queue head-first
whenever it is online — which also keeps them ordered while online.

A transaction started offline has no transactionId yet. It runs under a
provisional (negative) local id; later messages carry that local id, and
:meth:`OfflineQueue.outgoing` swaps in the real transactionId once the queued
StartTransaction has been answered.

Live-only messages (Heartbeat, StatusNotification, Authorize...) travel
through the same queue while online so the central system sees one ordered
stream (Preparing, StartTransaction, Charging), but are marked
``persistent=False`` and forgotten when the link drops.

Pure data structure (no I/O, no asyncio) so ordering and id fix-up are unit
tested directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Payload = dict[str, Any]

TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})


@dataclass(slots=True)
class QueuedMessage:
    action: str
    payload: Payload
    local_tx: int | None = None  # provisional transaction id this message belongs to
    attempts: int = 0
    persistent: bool = True  # False: live-only (Heartbeat, StatusNotification, ...)
    on_reply: Callable[[Payload | None], None] | None = field(default=None, repr=False)
    """Called with the CALLRESULT payload, or None when the message is given up."""


class OfflineQueue:
    """FIFO of transaction messages with provisional->real transactionId mapping.

    ``capacity`` bounds memory on a long outage: when full, the oldest
    MeterValues is dropped first (never a Start or Stop, which carry the
    billing facts); only a queue of nothing but Start/Stop drops its oldest.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._items: deque[QueuedMessage] = deque()
        self._real_ids: dict[int, int] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def put(
        self,
        action: str,
        payload: Payload,
        *,
        local_tx: int | None = None,
        persistent: bool = True,
        on_reply: Callable[[Payload | None], None] | None = None,
    ) -> QueuedMessage:
        if len(self._items) >= self.capacity:
            self._make_room()
        message = QueuedMessage(action, payload, local_tx, persistent=persistent, on_reply=on_reply)
        self._items.append(message)
        return message

    def _make_room(self) -> None:
        for index, item in enumerate(self._items):
            if item.action == "MeterValues" or not item.persistent:
                del self._items[index]
                self.dropped += 1
                return
        self._items.popleft()
        self.dropped += 1

    def head(self) -> QueuedMessage | None:
        return self._items[0] if self._items else None

    def real_id(self, local_tx: int) -> int | None:
        return self._real_ids.get(local_tx)

    def outgoing(self, message: QueuedMessage) -> Payload:
        """The payload to put on the wire now: provisional id replaced when known."""
        if message.action == "StartTransaction" or message.local_tx is None:
            return message.payload
        real = self._real_ids.get(message.local_tx)
        if real is None or "transactionId" not in message.payload:
            return message.payload
        return {**message.payload, "transactionId": real}

    def delivered(self, reply: Payload) -> QueuedMessage:
        """The head was answered: pop it, learn a transactionId, run its callback."""
        message = self._items.popleft()
        if message.action == "StartTransaction" and message.local_tx is not None:
            transaction_id = reply.get("transactionId")
            if isinstance(transaction_id, int):
                self._real_ids[message.local_tx] = transaction_id
        if message.on_reply is not None:
            message.on_reply(reply)
        return message

    def drop_head(self) -> QueuedMessage:
        """Give up on the head (TransactionMessageAttempts exhausted)."""
        self.dropped += 1
        message = self._items.popleft()
        if message.on_reply is not None:
            message.on_reply(None)
        return message

    def forget_volatile(self) -> list[QueuedMessage]:
        """The link went down: live-only messages are not worth sending later."""
        gone = [m for m in self._items if not m.persistent]
        self._items = deque(m for m in self._items if m.persistent)
        for message in gone:
            if message.on_reply is not None:
                message.on_reply(None)
        return gone
