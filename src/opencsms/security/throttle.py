"""Login throttling for station Basic Auth: delay failures, never successes.

Failures are counted per station id and per remote address in a sliding
window. Once either count reaches ``threshold`` the next failed attempt's 401
is held back, doubling from ``base_delay`` up to ``max_delay``. The penalty is
applied only to attempts that already failed: an attacker guessing keys for a
station id (or hammering from one address) cannot lock the real station out,
because a right key is answered at once and is never delayed.

Memory is bounded: at most ``max_tracked`` ids and ``max_tracked`` addresses
are remembered (least recently failed evicted first) and each keeps only as
many timestamps as it takes to reach ``max_delay``. The clock is injected so
tests run on a fake one.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginThrottle"]


class _WindowCounter:
    """Per-key timestamps of recent failures, LRU-bounded in the number of keys."""

    def __init__(self, window: float, max_keys: int, max_events: int) -> None:
        self._window = window
        self._max_keys = max_keys
        self._max_events = max_events
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def count(self, key: str, now: float) -> int:
        events = self._events.get(key)
        if events is None:
            return 0
        cutoff = now - self._window
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]
            return 0
        return len(events)

    def add(self, key: str, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self._max_events)
            while len(self._events) > self._max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def __len__(self) -> int:
        return len(self._events)


class LoginThrottle:
    """Sliding-window failure counter giving a delay for failed station logins."""

    def __init__(
        self,
        clock: Callable[[], float],
        threshold: int = 5,
        window: float = 60.0,
        max_delay: float = 10.0,
        *,
        base_delay: float = 1.0,
        max_tracked: int = 10_000,
    ) -> None:
        if threshold < 1 or window <= 0 or max_delay < 0 or base_delay <= 0 or max_tracked < 1:
            raise ValueError("threshold, window, base_delay and max_tracked must be positive")
        self._clock = clock
        self._threshold = threshold
        self._base_delay = base_delay
        self._max_delay = max_delay
        # Enough events to reach max_delay; more would not change the penalty.
        max_events = threshold + math.ceil(math.log2(max(max_delay / base_delay, 1.0)))
        self._by_id = _WindowCounter(window, max_tracked, max_events)
        self._by_address = _WindowCounter(window, max_tracked, max_events)

    def failures(self, station_id: str, address: str) -> tuple[int, int]:
        """Recent failures ``(for this id, from this address)`` inside the window."""
        now = self._clock()
        return self._by_id.count(station_id, now), self._by_address.count(address, now)

    def penalty(self, station_id: str, address: str) -> float:
        """Seconds to hold back the 401 of an attempt that has just failed.

        Based on the failures recorded *before* this one: the first
        ``threshold`` failures in a window cost nothing, the next waits
        ``base_delay``, then doubling, capped at ``max_delay``.
        """
        excess = max(self.failures(station_id, address)) - self._threshold
        if excess < 0:
            return 0.0
        return min(self._max_delay, self._base_delay * 2.0 ** min(excess, 64))

    def record_failure(self, station_id: str, address: str) -> None:
        now = self._clock()
        self._by_id.add(station_id, now)
        self._by_address.add(address, now)

    def record_success(self, station_id: str, address: str) -> None:
        """Forget the id's failures. The address's stay: many stations share a NAT."""
        self._by_id.clear(station_id)

    @property
    def tracked(self) -> tuple[int, int]:
        """How many ids and addresses are remembered (for metrics and tests)."""
        return len(self._by_id), len(self._by_address)
