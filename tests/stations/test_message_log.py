"""MessageLog: bounded per station and in stations (LRU), frames named when read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from opencsms.stations.message_log import MessageLog


class Ticks:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def call(n: int, action: str = "Heartbeat") -> str:
    return f'[2,"m{n}","{action}",{{}}]'


def test_recent_is_newest_first_and_replies_name_their_call() -> None:
    log = MessageLog(clock=Ticks())
    log.record("CP1", "received", call(1, "BootNotification"))
    log.record("CP1", "sent", '[3,"m1",{"status":"Accepted"}]')
    log.record("CP1", "sent", '[2,"x9","Reset",{"type":"Soft"}]')
    log.record("CP1", "received", b'[4,"x9","NotSupported","no",{}]')
    frames = log.recent("CP1")
    assert [(f.direction, f.kind, f.action, f.message_id) for f in frames] == [
        ("received", "error", "Reset", "x9"),
        ("sent", "call", "Reset", "x9"),
        ("sent", "result", "BootNotification", "m1"),
        ("received", "call", "BootNotification", "m1"),
    ]
    assert frames[0].error_code == "NotSupported"
    assert frames[0].text == '[4,"x9","NotSupported","no",{}]'  # bytes decoded when read
    assert frames[-1].at == datetime.fromtimestamp(1_800_000_001, UTC)
    assert log.recent("unknown") == []


def test_bounded_per_station() -> None:
    log = MessageLog(per_station=3)
    for n in range(10):
        log.record("CP1", "received", call(n))
    assert [f.message_id for f in log.recent("CP1")] == ["m9", "m8", "m7"]


def test_bounded_in_stations_least_recently_active_forgotten() -> None:
    log = MessageLog(max_stations=2)
    log.record("A", "received", call(1))
    log.record("B", "received", call(2))
    log.record("A", "sent", call(3))  # A is now the most recently active
    log.record("C", "received", call(4))
    assert log.stations() == 2
    assert log.recent("B") == []
    assert [f.message_id for f in log.recent("A")] == ["m3", "m1"]
    assert [f.message_id for f in log.recent("C")] == ["m4"]


def test_long_frames_are_cut_and_still_named() -> None:
    log = MessageLog(max_chars=40)
    long = '[2,"m1","DataTransfer",{"vendorId":"X","data":"' + "y" * 5000 + '"}]'
    log.record("CP1", "received", long)
    log.record("CP1", "received", "not a frame")
    junk, frame = log.recent("CP1")
    assert frame.truncated and len(frame.text) == 40 and long.startswith(frame.text)
    assert (frame.kind, frame.action) == ("call", "DataTransfer")
    assert (junk.kind, junk.action, junk.truncated) == ("unknown", None, False)


def test_forget_and_bad_bounds() -> None:
    log = MessageLog()
    log.record("CP1", "received", call(1))
    log.forget("CP1")
    assert log.recent("CP1") == [] and log.stations() == 0
    with pytest.raises(ValueError):
        MessageLog(per_station=0)
