"""OCPP-J message framing (OCPP-J 1.6 section 4).

A frame is a JSON array: ``[2, id, action, payload]`` (CALL),
``[3, id, payload]`` (CALLRESULT) or ``[4, id, code, description, details]``
(CALLERROR). Decoding is strict about shape and lenient about nothing else; a
frame that cannot be understood raises :class:`FrameError`, which the session
logs without dropping the connection.

orjson is used for both directions: it is several times faster than the stdlib
``json`` module, and every station message passes through here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson


class MessageType(IntEnum):
    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


@dataclass(slots=True, frozen=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return _dumps([MessageType.CALL, self.unique_id, self.action, self.payload])


@dataclass(slots=True, frozen=True)
class CallResult:
    unique_id: str
    payload: dict[str, Any]

    def encode(self) -> str:
        return _dumps([MessageType.CALL_RESULT, self.unique_id, self.payload])


@dataclass(slots=True, frozen=True)
class CallError:
    unique_id: str
    error_code: str
    description: str = ""
    details: dict[str, Any] | None = None

    def encode(self) -> str:
        return _dumps(
            [
                MessageType.CALL_ERROR,
                self.unique_id,
                self.error_code,
                self.description,
                self.details or {},
            ]
        )


Frame = Call | CallResult | CallError


class FrameError(ValueError):
    """The bytes on the wire are not an OCPP-J frame.

    ``unique_id`` is set when the frame was an array whose id could still be
    read, so the caller may answer with a CALLERROR instead of staying silent.
    """

    def __init__(self, reason: str, unique_id: str | None = None) -> None:
        super().__init__(reason)
        self.unique_id = unique_id


class UnknownMessageType(FrameError):
    """A well-formed array whose MessageTypeId is not 2, 3 or 4 (ignored, per spec)."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def new_message_id() -> str:
    return str(uuid.uuid4())


def decode(raw: str | bytes) -> Frame:
    """Parse one WebSocket message into a frame, or raise :class:`FrameError`."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"invalid JSON: {exc}") from None
    if not isinstance(message, list) or len(message) < 3:
        raise FrameError("frame is not an OCPP-J array")
    type_id, unique_id = message[0], message[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > 36:
        raise FrameError("messageId must be a string of 1 to 36 characters")
    if type_id == MessageType.CALL:
        if len(message) != 4 or not isinstance(message[2], str):
            raise FrameError("CALL must be [2, id, action, payload]", unique_id)
        if not isinstance(message[3], dict):
            raise FrameError("CALL payload must be a JSON object", unique_id)
        return Call(unique_id, message[2], message[3])
    if type_id == MessageType.CALL_RESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise FrameError("CALLRESULT must be [3, id, {payload}]")
        return CallResult(unique_id, message[2])
    if type_id == MessageType.CALL_ERROR:
        if len(message) not in (4, 5) or not isinstance(message[2], str):
            raise FrameError("CALLERROR must be [4, id, code, description, details]")
        description = message[3] if isinstance(message[3], str) else str(message[3])
        details = message[4] if len(message) == 5 and isinstance(message[4], dict) else {}
        return CallError(unique_id, message[2], description, details)
    raise UnknownMessageType(f"unknown MessageTypeId {type_id!r}")
