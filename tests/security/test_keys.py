"""AuthorizationKey parsing, hashing and verification."""

from __future__ import annotations

import base64
import re

import pytest

from opencsms.security.keys import (
    InvalidKey,
    dummy_verify,
    generate_key,
    hash_key,
    key_octets,
    parse_key,
    verify_key,
)

COST = 4  # fast in tests; the format and logic do not depend on it
HEX_KEY = "00112233445566778899aabbccddeeff0a1b2c3d"  # 20 octets, one not valid UTF-8


def test_generate_key_is_40_hex_digits_and_random() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"[0-9a-f]{40}", k) for k in keys)
    assert all(len(parse_key(k)) == 20 for k in keys)


@pytest.mark.parametrize("digits", [32, 34, 38, 40])
def test_parse_hex_forms(digits: int) -> None:
    text = HEX_KEY[:digits]
    assert parse_key(text) == bytes.fromhex(text)
    assert parse_key(text.upper()) == bytes.fromhex(text)


@pytest.mark.parametrize("length", [16, 17, 20])
def test_parse_text_forms(length: int) -> None:
    text = "k" * length
    assert parse_key(text) == text.encode()


def test_parse_counts_utf8_bytes_not_characters() -> None:
    assert parse_key("é" * 8) == ("é" * 8).encode()  # 16 bytes
    with pytest.raises(InvalidKey):
        parse_key("é" * 11)  # 11 characters, 22 bytes


@pytest.mark.parametrize(
    "text",
    [
        "k" * 15,
        "k" * 21,
        "",
        HEX_KEY[:33],  # odd-length hex: text of 33 bytes, too long
        HEX_KEY + "00",  # 42 digits: 21 octets
        "0" * 30,  # 30 digits: 30 bytes of text
    ],
)
def test_parse_refuses_bad_lengths_without_echoing(text: str) -> None:
    with pytest.raises(InvalidKey) as info:
        parse_key(text)
    if text:
        assert text not in str(info.value)


def test_key_octets_decodes_only_the_hex_form() -> None:
    octets = bytes.fromhex(HEX_KEY)
    assert key_octets(HEX_KEY.encode()) == octets
    assert key_octets(octets) == octets
    assert key_octets(b"z" * 40) == b"z" * 40


@pytest.mark.parametrize("key_text", [HEX_KEY, HEX_KEY[:32], "sixteen-chars-ok"])
def test_hex_and_raw_forms_verify(key_text: str) -> None:
    octets = parse_key(key_text)
    stored = hash_key(octets, cost=COST)
    assert verify_key(stored, octets)
    assert verify_key(stored, octets.hex().encode())
    assert verify_key(stored, octets.hex().upper().encode())


def test_wrong_keys_do_not_verify() -> None:
    octets = parse_key(HEX_KEY)
    stored = hash_key(octets, cost=COST)
    wrong = bytes([octets[0] ^ 1]) + octets[1:]
    assert not verify_key(stored, wrong)
    assert not verify_key(stored, wrong.hex().encode())
    assert not verify_key(stored, octets[:-1])
    assert not verify_key(stored, b"")
    assert not verify_key(stored, octets + b"\x00")
    assert not verify_key(stored, HEX_KEY.encode()[:-1])


def test_hash_contains_neither_form_of_the_key() -> None:
    octets = parse_key(HEX_KEY)
    stored = hash_key(octets, cost=COST)
    decoded = b"".join(base64.b64decode(part + "==") for part in stored.split("$")[4:])
    for form in (HEX_KEY, HEX_KEY.upper(), base64.b64encode(octets).decode()):
        assert form not in stored
    assert octets not in decoded
    assert hash_key(octets, cost=COST) != stored  # salted


def test_stored_format_round_trip() -> None:
    octets = parse_key(HEX_KEY)
    stored = hash_key(octets, cost=COST)
    scheme, cost, r, p, salt, digest = stored.split("$")
    assert (scheme, cost, r, p) == ("scrypt", str(COST), "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    # A hash written with other parameters still verifies: the string is self-describing.
    rebuilt = "$".join([scheme, cost, r, p, salt, digest])
    assert verify_key(rebuilt, octets)


def test_cost_parameter_is_honoured() -> None:
    octets = parse_key(HEX_KEY)
    low, high = hash_key(octets, cost=COST), hash_key(octets, cost=COST + 2)
    assert low.split("$")[1] == str(COST)
    assert high.split("$")[1] == str(COST + 2)
    assert verify_key(low, octets) and verify_key(high, octets)
    # The cost is part of the hash: the same salt under another cost does not verify.
    parts = high.split("$")
    parts[1] = str(COST)
    assert not verify_key("$".join(parts), octets)
    assert hash_key(octets).split("$")[1] == "14"


@pytest.mark.parametrize("cost", [0, 3, 23])
def test_cost_out_of_range_is_refused(cost: int) -> None:
    with pytest.raises(ValueError):
        hash_key(b"k" * 16, cost=cost)
    with pytest.raises(ValueError):
        dummy_verify(cost)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$4$8$1$AAAA$AAAA",
        "scrypt$4$8$1$AAAA",
        "scrypt$x$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "scrypt$4$8$1$!!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_malformed_stored_hash_raises_value_error(stored: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        verify_key(stored, b"k" * 16)


def test_dummy_verify_runs() -> None:
    assert dummy_verify(COST) is None  # type: ignore[func-returns-value]


def test_trailing_zero_octets_are_a_different_key() -> None:
    """Regression: PBKDF2-HMAC zero-pads keys, so K and K+00 hashed alike before."""
    octets = parse_key(HEX_KEY[:32])  # 16 octets
    stored = hash_key(octets, cost=COST)
    assert not verify_key(stored, octets + b"\x00")
    assert not verify_key(stored, (octets + b"\x00").hex().encode())
    assert not verify_key(hash_key(octets + b"\x00", cost=COST), octets)


def test_hash_key_refuses_wrong_lengths() -> None:
    for length in (15, 21):
        with pytest.raises(InvalidKey):
            hash_key(b"k" * length, cost=COST)
