"""StationAuthenticator: throttling only delays failures, cache skips scrypt, no leaks."""

from __future__ import annotations

import asyncio
import base64

import pytest
from structlog.testing import capture_logs

from opencsms.security.keys import dummy_verify, hash_key, parse_key, verify_key
from opencsms.security.station_auth import StationAuthenticator
from opencsms.security.throttle import LoginThrottle

COST = 4
KEY_HEX = "0f1e2d3c4b5a69788796a5b4c3d2e1f000112233"
KEY = parse_key(KEY_HEX)
ADDR = "198.51.100.7"


def basic(user: str, password: bytes) -> str:
    return "Basic " + base64.b64encode(user.encode() + b":" + password).decode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Harness:
    """Counts scrypt runs and records penalty sleeps instead of sleeping."""

    def __init__(self, threshold: int = 2) -> None:
        self.hashes: dict[str, str] = {"CP1": hash_key(KEY, cost=COST)}
        self.clock = FakeClock()
        self.throttle = LoginThrottle(self.clock, threshold=threshold, max_delay=10.0)
        self.verify_calls = 0
        self.dummy_calls = 0
        self.sleeps: list[float] = []
        self.auth = StationAuthenticator(
            self.lookup,
            self.throttle,
            cost=COST,
            verify=self.verify,
            dummy=self.dummy,
            sleep=self.sleep,
        )

    async def lookup(self, station_id: str) -> str | None:
        return self.hashes.get(station_id)

    def verify(self, stored: str, password: bytes) -> bool:
        self.verify_calls += 1
        return verify_key(stored, password)

    def dummy(self, cost: int) -> None:
        self.dummy_calls += 1
        dummy_verify(cost)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def login(self, password: bytes, user: str = "CP1", station: str = "CP1") -> bool:
        return await self.auth.authenticate(station, basic(user, password), ADDR)


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_right_key_hex_and_raw(h: Harness) -> None:
    assert await h.login(KEY_HEX.encode())
    h.auth.forget("CP1")
    assert await h.login(KEY)
    assert h.verify_calls == 2
    assert h.sleeps == []


async def test_wrong_key_is_delayed_by_the_penalty(h: Harness) -> None:
    results = [await h.login(b"w" * 20) for _ in range(5)]
    assert results == [False] * 5
    assert h.sleeps == [1.0, 2.0, 4.0]  # threshold 2: the first two are free


async def test_right_key_gets_in_at_once_while_id_and_address_are_throttled(h: Harness) -> None:
    for _ in range(6):
        await h.auth.authenticate("CP1", basic("CP1", b"x" * 16), ADDR)
        await h.auth.authenticate("CP-other", basic("CP-other", b"x" * 16), ADDR)
    assert h.throttle.penalty("CP1", ADDR) == 10.0
    sleeps_before = len(h.sleeps)
    assert await h.login(KEY_HEX.encode())
    assert len(h.sleeps) == sleeps_before  # the success path never slept
    assert h.throttle.failures("CP1", ADDR)[0] == 0  # and it cleared the id's counter
    assert h.throttle.failures("CP1", ADDR)[1] > 0  # but not the shared address's


async def test_username_must_equal_station_id(h: Harness) -> None:
    assert not await h.login(KEY_HEX.encode(), user="CP2", station="CP1")
    assert h.verify_calls == 0 and h.dummy_calls == 0


async def test_unknown_id_fails_after_a_dummy_hash(h: Harness) -> None:
    assert not await h.login(KEY_HEX.encode(), user="CP9", station="CP9")
    assert (h.verify_calls, h.dummy_calls) == (0, 1)


@pytest.mark.parametrize("header", [None, "", "Basic !!!", "Bearer x"])
async def test_missing_or_malformed_header_fails(h: Harness, header: str | None) -> None:
    assert not await h.auth.authenticate("CP1", header, ADDR)
    assert h.throttle.failures("CP1", ADDR) == (1, 1)


async def test_cache_hit_avoids_scrypt(h: Harness) -> None:
    assert await h.login(KEY_HEX.encode())
    assert await h.login(KEY_HEX.encode())
    assert await h.login(KEY)  # the other wire form of the same key hits too
    assert h.verify_calls == 1


async def test_cache_does_not_accept_a_wrong_key(h: Harness) -> None:
    assert await h.login(KEY)
    assert not await h.login(b"w" * 20)
    assert h.verify_calls == 2


async def test_key_change_in_database_invalidates_the_cache(h: Harness) -> None:
    assert await h.login(KEY)
    new_key = parse_key("ab" * 20)
    h.hashes["CP1"] = hash_key(new_key, cost=COST)
    assert not await h.login(KEY)  # old key no longer works, despite the cache
    assert await h.login(new_key)
    assert h.verify_calls == 3
    assert await h.login(new_key)
    assert h.verify_calls == 3


async def test_same_key_rehashed_misses_the_cache_but_still_verifies(h: Harness) -> None:
    assert await h.login(KEY)
    h.hashes["CP1"] = hash_key(KEY, cost=COST + 1)
    assert await h.login(KEY)
    assert h.verify_calls == 2


async def test_malformed_stored_hash_fails_with_a_log_line(h: Harness) -> None:
    h.hashes["CP1"] = "garbage"
    with capture_logs() as logs:
        assert not await h.login(KEY)
    assert any(e["event"] == "stored key hash is malformed" for e in logs)


async def test_password_never_logged(h: Harness) -> None:
    with capture_logs() as logs:
        await h.login(KEY_HEX.encode())
        await h.login(b"wrong-password-123")
        await h.login(KEY_HEX.encode(), user="CP9", station="CP9")
    text = repr(logs)
    for secret in (KEY_HEX, KEY_HEX.upper(), repr(KEY), "wrong-password-123"):
        assert secret not in text
    assert logs  # failures are logged (with reasons)


async def test_hashing_is_bounded_by_the_semaphore() -> None:
    """A burst of 8 logins runs at most max_parallel_hashes scrypts at a time."""
    running = 0
    peak = 0
    loop = asyncio.get_running_loop()
    stored = hash_key(KEY, cost=COST)
    release = asyncio.Event()

    def slow_verify(stored_hash: str, password: bytes) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=5)
        running -= 1
        return verify_key(stored_hash, password)

    async def lookup(_: str) -> str:
        return stored

    auth = StationAuthenticator(
        lookup, LoginThrottle(FakeClock()), cost=COST, max_parallel_hashes=2, verify=slow_verify
    )
    tasks = [
        asyncio.create_task(auth.authenticate(f"CP{i}", basic(f"CP{i}", KEY), ADDR))
        for i in range(8)
    ]
    for _ in range(50):
        await asyncio.sleep(0.01)
        if running == 2:
            break
    release.set()
    assert all(await asyncio.gather(*tasks))
    assert peak == 2
