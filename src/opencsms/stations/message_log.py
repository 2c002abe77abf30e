"""The last OCPP frames of each station on this node, in memory, for operators.

What a support engineer asks first is "what did the charger just say?". The
durable records (transactions, meter values, the command audit trail) say
what the frames *meant*; this keeps the frames themselves, briefly: the last
``per_station`` frames of each station, both directions, on the node that
holds its socket. It is not a log: a restart, or a station falling out of the
``max_stations`` most recently active ones, forgets them.

It sits on the hot path (every frame in and out of every session), so
:meth:`MessageLog.record` does as little as possible: a dict lookup, an LRU
touch and a deque append of (time, direction, text). The text is kept as
received or sent (sliced to ``max_chars``; a frame under the limit is not
copied) and parsed only when someone reads it (:meth:`MessageLog.recent`).

Memory, bounded: at most ``max_stations × per_station`` frames of at most
``max_chars`` characters each. With the defaults (1,000 stations × 50 frames
× 2,048 characters) that is ~100 MB in the worst case (every frame a long
one, ASCII); typical 1.6 frames are 100-600 characters, ~10-30 MB for 1,000
busy stations. The deques are created on a station's first frame and dropped
when it is the least recently active one and a new station needs the slot.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

PER_STATION = 50
MAX_STATIONS = 1000
MAX_CHARS = 2048

_KINDS = {"2": "call", "3": "result", "4": "error"}
_HEAD = re.compile(r'\s*\[\s*([234])\s*,\s*"((?:[^"\\]|\\.)*)"\s*(?:,\s*"((?:[^"\\]|\\.)*)")?')
"""``[type, "id", "action or error code"`` at the start of a frame: enough to
name it even when the frame was cut at ``max_chars``."""

_Entry = tuple[float, str, "str | bytes", int]
"""(Unix time, direction, the frame as kept, its full length)."""


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    """One frame as :meth:`MessageLog.recent` shows it."""

    at: datetime
    direction: str
    """``received`` (from the station) or ``sent`` (to it)."""
    kind: str
    """``call``, ``result``, ``error``, or ``unknown`` for what is not an OCPP-J frame."""
    message_id: str | None
    action: str | None
    """A CALL's action; for a reply, the action of the CALL it answers when that
    CALL is still in the log."""
    error_code: str | None
    text: str
    truncated: bool
    """The frame was longer than ``max_chars``: ``text`` is its beginning."""


class MessageLog:
    def __init__(
        self,
        per_station: int = PER_STATION,
        max_stations: int = MAX_STATIONS,
        max_chars: int = MAX_CHARS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_station < 1 or max_stations < 1 or max_chars < 1:
            raise ValueError("per_station, max_stations and max_chars must be positive")
        self._per_station = per_station
        self._max_stations = max_stations
        self._max_chars = max_chars
        self._clock = clock
        self._logs: OrderedDict[str, deque[_Entry]] = OrderedDict()

    def record(self, station_id: str, direction: str, text: str | bytes) -> None:
        """Keep one frame (``direction``: ``received`` or ``sent``). Cheap, never raises
        for any text: the session calls it for every frame."""
        frames = self._logs.get(station_id)
        if frames is None:
            frames = self._logs[station_id] = deque(maxlen=self._per_station)
            if len(self._logs) > self._max_stations:
                self._logs.popitem(last=False)
        else:
            self._logs.move_to_end(station_id)
        frames.append((self._clock(), direction, text[: self._max_chars], len(text)))

    def recent(self, station_id: str) -> list[LoggedFrame]:
        """The station's kept frames, newest first (empty for one never seen or forgotten)."""
        entries = list(self._logs.get(station_id, ()))
        parsed = [_parse(entry) for entry in entries]
        actions = {f.message_id: f.action for f in parsed if f.kind == "call" and f.message_id}
        shown: list[LoggedFrame] = []
        for frame in reversed(parsed):
            if frame.kind in ("result", "error") and frame.message_id in actions:
                frame = replace(frame, action=actions[frame.message_id])
            shown.append(frame)
        return shown

    def stations(self) -> int:
        """How many stations have frames kept (at most ``max_stations``)."""
        return len(self._logs)

    def forget(self, station_id: str) -> None:
        self._logs.pop(station_id, None)


def _parse(entry: _Entry) -> LoggedFrame:
    at, direction, kept, length = entry
    text = kept.decode("utf-8", "replace") if isinstance(kept, bytes) else kept
    head = _HEAD.match(text)
    kind = _KINDS[head.group(1)] if head else "unknown"
    third = head.group(3) if head else None
    return LoggedFrame(
        at=datetime.fromtimestamp(at, UTC),
        direction=direction,
        kind=kind,
        message_id=head.group(2) if head else None,
        action=third if kind == "call" else None,
        error_code=third if kind == "error" else None,
        text=text,
        truncated=length > len(kept),
    )
