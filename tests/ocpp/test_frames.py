import orjson
import pytest

from opencsms.ocpp import frames
from opencsms.ocpp.frames import Call, CallError, CallResult


def test_round_trip_of_each_frame_type() -> None:
    for frame in (
        Call("1", "Heartbeat", {}),
        CallResult("2", {"currentTime": "2026-01-01T00:00:00Z"}),
        CallError("3", "NotImplemented", "nope", {"a": 1}),
    ):
        assert frames.decode(frame.encode()) == frame


@pytest.mark.parametrize(
    "raw",
    ["not json", "{}", '"text"', "[2]", '[2, 5, "Heartbeat", {}]', '[2, "", "Heartbeat", {}]'],
)
def test_malformed_frames_raise_frame_error(raw: str) -> None:
    with pytest.raises(frames.FrameError):
        frames.decode(raw)


def test_call_with_readable_id_but_bad_payload_keeps_the_id() -> None:
    with pytest.raises(frames.FrameError) as caught:
        frames.decode('[2, "abc", "Heartbeat", []]')
    assert caught.value.unique_id == "abc"


def test_unknown_message_type_is_its_own_error() -> None:
    with pytest.raises(frames.UnknownMessageType):
        frames.decode('[7, "abc", "Heartbeat", {}]')


def test_call_error_encodes_empty_details_as_object() -> None:
    assert orjson.loads(CallError("9", "GenericError").encode()) == [4, "9", "GenericError", "", {}]
