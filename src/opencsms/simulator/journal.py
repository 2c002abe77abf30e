"""What a simulated station sent and received, and the link quirks.

:class:`JournalTransport` wraps the websocket handed to the OCPP session:
it records every frame (decoded) in a :class:`Journal` that tests can query
and await, and applies the link quirks (duplicate CALLs, delayed or missing
replies). In load mode the journal is off (``Journal(keep=False)``) and
only counts messages, so ten thousand stations do not hoard frames.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson

from opencsms.ocpp.session import Transport
from opencsms.simulator.quirks import Quirks


@dataclass(frozen=True, slots=True)
class Entry:
    direction: str  # "sent" or "received"
    kind: int  # 2 CALL, 3 CALLRESULT, 4 CALLERROR
    unique_id: str
    action: str | None  # for replies: the action of the CALL they answer
    payload: dict[str, Any]


class Journal:
    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.entries: list[Entry] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self._actions: dict[str, str] = {}
        self._changed: asyncio.Event | None = None

    def record(self, direction: str, text: str | bytes) -> None:
        try:
            frame = orjson.loads(text)
            kind, unique_id = int(frame[0]), str(frame[1])
        except (orjson.JSONDecodeError, IndexError, TypeError, ValueError):
            return
        if kind == 2:
            action = str(frame[2])
            payload = frame[3] if isinstance(frame[3], dict) else {}
            self._actions[unique_id] = action
        else:
            action = self._actions.pop(unique_id, "")
            payload = frame[2] if kind == 3 and isinstance(frame[2], dict) else {}
        self.counts[(direction, action or "?")] += 1
        if self.keep:
            self.entries.append(Entry(direction, kind, unique_id, action, payload))
        if self._changed is not None:
            self._changed.set()

    def calls(self, direction: str = "sent", action: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the CALLs sent (or received), optionally of one action."""
        return [
            e.payload
            for e in self.entries
            if e.direction == direction and e.kind == 2 and (action is None or e.action == action)
        ]

    def replies(self, direction: str = "received", action: str | None = None) -> list[Entry]:
        return [
            e
            for e in self.entries
            if e.direction == direction and e.kind != 2 and (action is None or e.action == action)
        ]

    async def wait_for(
        self,
        action: str,
        count: int = 1,
        direction: str = "sent",
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait (real time) until ``count`` CALLs of ``action`` went that way."""
        if self._changed is None:
            self._changed = asyncio.Event()
        async with asyncio.timeout(timeout):
            while len(found := self.calls(direction, action)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found


class JournalTransport:
    def __init__(self, inner: Transport, journal: Journal, quirks: Quirks | None = None) -> None:
        self.inner = inner
        self.journal = journal
        self.quirks = quirks or Quirks()

    async def recv(self) -> str | bytes:
        message = await self.inner.recv()
        self.journal.record("received", message)
        return message

    async def send(self, message: str) -> None:
        is_call = message.lstrip("[ ").startswith("2")
        if not is_call:
            if self.quirks.drop_replies:
                return
            if self.quirks.reply_delay > 0:
                await asyncio.sleep(self.quirks.reply_delay)
        await self.inner.send(message)
        self.journal.record("sent", message)
        if is_call and self.quirks.duplicate_calls:
            await self.inner.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)
