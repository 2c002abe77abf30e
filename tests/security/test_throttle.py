"""LoginThrottle on a fake clock."""

from __future__ import annotations

import pytest

from opencsms.security.throttle import LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, times: int, station: str = "CP1", addr: str = "10.0.0.1") -> None:
    for _ in range(times):
        throttle.record_failure(station, addr)


def test_no_penalty_below_threshold_then_doubling_to_the_cap() -> None:
    throttle = LoginThrottle(FakeClock(), threshold=5, window=60.0, max_delay=10.0)
    penalties = []
    for _ in range(10):
        penalties.append(throttle.penalty("CP1", "10.0.0.1"))
        throttle.record_failure("CP1", "10.0.0.1")
    assert penalties == [0, 0, 0, 0, 0, 1, 2, 4, 8, 10]


def test_counted_per_id_across_addresses() -> None:
    throttle = LoginThrottle(FakeClock(), threshold=3)
    for i in range(3):
        throttle.record_failure("CP1", f"10.0.0.{i}")
    assert throttle.penalty("CP1", "192.168.1.1") == 1.0
    assert throttle.penalty("CP2", "192.168.1.1") == 0.0


def test_counted_per_address_across_ids() -> None:
    throttle = LoginThrottle(FakeClock(), threshold=3)
    for i in range(4):
        throttle.record_failure(f"CP{i}", "10.0.0.9")
    assert throttle.penalty("CP-new", "10.0.0.9") == 2.0
    assert throttle.penalty("CP-new", "10.0.0.10") == 0.0


def test_sliding_window_forgets_old_failures() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock, threshold=2, window=60.0)
    fail(throttle, 2)
    clock.now += 30
    fail(throttle, 1)
    assert throttle.failures("CP1", "10.0.0.1") == (3, 3)
    clock.now += 30.5  # the first two are now older than the window
    assert throttle.failures("CP1", "10.0.0.1") == (1, 1)
    assert throttle.penalty("CP1", "10.0.0.1") == 0.0
    clock.now += 60
    assert throttle.failures("CP1", "10.0.0.1") == (0, 0)
    assert throttle.tracked == (0, 0)


def test_success_clears_the_id_but_not_the_address() -> None:
    throttle = LoginThrottle(FakeClock(), threshold=2)
    fail(throttle, 4)
    throttle.record_success("CP1", "10.0.0.1")
    assert throttle.failures("CP1", "10.0.0.1") == (0, 4)
    assert throttle.penalty("CP1", "10.0.0.1") == 4.0


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(FakeClock(), threshold=5, max_delay=10.0, max_tracked=100)
    for i in range(10_000):
        throttle.record_failure(f"id-{i}", f"addr-{i}")
    assert throttle.tracked == (100, 100)
    fail(throttle, 1000, station="hot", addr="hot")
    # Only threshold + doublings-to-reach-10-s timestamps are kept per key.
    assert throttle.failures("hot", "hot") == (9, 9)
    assert throttle.penalty("hot", "hot") == 10.0


@pytest.mark.parametrize(
    "kwargs", [{"threshold": 0}, {"window": 0}, {"max_delay": -1}, {"max_tracked": 0}]
)
def test_invalid_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(FakeClock(), **kwargs)  # type: ignore[arg-type]
