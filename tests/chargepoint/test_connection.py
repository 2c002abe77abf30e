from __future__ import annotations

import base64
import random

from opencsms.chargepoint.connection import ConnectionSettings, backoff_delay, basic_auth


def decode(header: str | None) -> bytes:
    assert header is not None and header.startswith("Basic ")
    return base64.b64decode(header.removeprefix("Basic "))


def test_basic_auth_hex_text_or_raw_octets() -> None:
    key = "00112233445566778899aabbccddeeff"
    assert decode(basic_auth("CP-1", key, "hex")) == b"CP-1:" + key.encode()
    assert decode(basic_auth("CP-1", key, "raw")) == b"CP-1:" + bytes.fromhex(key)
    assert basic_auth("CP-1", "", "hex") is None  # no key, no header


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    settings = ConnectionSettings(url="wss://x/ocpp", backoff_initial=1, backoff_max=60, jitter=0.5)
    rng = random.Random(1)
    delays = [backoff_delay(n, settings, rng) for n in range(10)]
    for n, delay in enumerate(delays):
        ceiling = min(60, 2**n)
        assert ceiling * 0.5 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[6:]}) > 1  # capped, yet not in lockstep
