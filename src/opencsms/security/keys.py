"""AuthorizationKey handling for OCPP 1.6 Security Profile 2 (HTTP Basic Auth).

Per the OCPP 1.6 Security whitepaper the key is 16–20 octets, usually shown as
a 32–40 digit hex string, and stations send it as the Basic Auth password
either as that hex string or as the raw octets. We canonicalise both to the
octets, and store only a salted scrypt hash of those octets, so a database
leak does not hand out working keys.

The two wire forms cannot be confused: raw octets are 16–20 bytes long, the
hex form 32–40 characters, so exactly one scrypt run decides a login.

What is hashed is ``len(octets)`` as one byte followed by the octets. The
length prefix matters: scrypt's PBKDF2-HMAC zero-pads short HMAC keys, so
without it ``K`` and ``K + b"\\x00"`` would hash alike and both verify.

The hash string is self-describing (``scrypt$<log2N>$<r>$<p>$<salt>$<hash>``)
so the cost can be raised later without invalidating stored hashes. We use
:func:`hashlib.scrypt` (OpenSSL; releases the GIL) rather than a password
hashing package: it is in the stdlib and is all we need.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

__all__ = [
    "MAX_COST",
    "MIN_COST",
    "InvalidKey",
    "dummy_verify",
    "generate_key",
    "hash_key",
    "key_octets",
    "parse_key",
    "verify_key",
]

MIN_KEY_OCTETS = 16
MAX_KEY_OCTETS = 20
MIN_COST = 4
"""Lowest accepted log2(N); only tests should go this low."""
MAX_COST = 22
_R = 8
_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SCHEME = "scrypt"
_HEX = frozenset(string.hexdigits)
_DUMMY_SALT = b"opencsms-dummy!!"


class InvalidKey(ValueError):
    """The text is not a valid AuthorizationKey. The message never contains the key."""


def generate_key() -> str:
    """A new AuthorizationKey: 20 random octets shown as 40 hex digits."""
    return secrets.token_hex(MAX_KEY_OCTETS)


def _is_hex_form(text: bytes | str) -> bool:
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return False
    return (
        2 * MIN_KEY_OCTETS <= len(text) <= 2 * MAX_KEY_OCTETS
        and len(text) % 2 == 0
        and all(c in _HEX for c in text)
    )


def parse_key(text: str) -> bytes:
    """Canonicalise an operator-entered key to its octets.

    An even-length hex string of 32–40 digits is decoded; anything else is
    taken as text whose UTF-8 encoding must be 16–20 bytes. No whitespace is
    stripped: the station will send exactly what it was configured with.
    """
    if _is_hex_form(text):
        return bytes.fromhex(text)
    raw = text.encode("utf-8", errors="surrogatepass")
    if MIN_KEY_OCTETS <= len(raw) <= MAX_KEY_OCTETS:
        return raw
    raise InvalidKey(
        f"AuthorizationKey must be {MIN_KEY_OCTETS}-{MAX_KEY_OCTETS} octets or "
        f"{2 * MIN_KEY_OCTETS}-{2 * MAX_KEY_OCTETS} hex digits (got {len(raw)} bytes)"
    )


def key_octets(password: bytes) -> bytes:
    """The octets a Basic Auth password stands for (hex form decoded, raw kept)."""
    if _is_hex_form(password):
        return bytes.fromhex(password.decode("ascii"))
    return password


def _check_cost(cost: int) -> None:
    if not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"scrypt cost (log2 N) must be in {MIN_COST}..{MAX_COST}")


def _encode(octets: bytes) -> bytes:
    """Length-prefixed scrypt input (see the module docstring for why)."""
    return bytes([min(len(octets), 255)]) + octets


def _scrypt(secret: bytes, salt: bytes, cost: int, r: int, p: int, length: int) -> bytes:
    n = 1 << cost
    # hashlib's default maxmem (32 MiB) is exactly what cost 15 needs: leave room.
    maxmem = 128 * r * n * p + 128 * r * n + (1 << 20)
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_key(key: bytes, cost: int = 14) -> str:
    """Salted scrypt hash of the key octets: ``scrypt$<log2N>$<r>$<p>$<salt>$<hash>``.

    ``key`` is the canonical octets (:func:`parse_key`), 16–20 of them.
    """
    _check_cost(cost)
    if not MIN_KEY_OCTETS <= len(key) <= MAX_KEY_OCTETS:
        raise InvalidKey(f"AuthorizationKey must be {MIN_KEY_OCTETS}-{MAX_KEY_OCTETS} octets")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(_encode(key), salt, cost, _R, _P, _HASH_BYTES)
    return f"{_SCHEME}${cost}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _parse_stored(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != _SCHEME:
            raise ValueError
        cost, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
        _check_cost(cost)
        if not (1 <= r <= 32 and 1 <= p <= 16 and salt and 16 <= len(digest) <= 64):
            raise ValueError
    except ValueError:
        raise ValueError("malformed stored AuthorizationKey hash") from None
    return cost, r, p, salt, digest


def verify_key(stored: str, password: bytes) -> bool:
    """True if ``password`` (raw octets or their hex string) matches ``stored``.

    Always runs scrypt once, whatever the password looks like, so a malformed
    password takes as long as a wrong one. Raises ``ValueError`` if ``stored``
    itself is malformed (a data problem the operator must see).
    """
    cost, r, p, salt, expected = _parse_stored(stored)
    octets = key_octets(password)
    actual = _scrypt(_encode(octets), salt, cost, r, p, len(expected))
    right_length = MIN_KEY_OCTETS <= len(octets) <= MAX_KEY_OCTETS
    return hmac.compare_digest(actual, expected) and right_length


def dummy_verify(cost: int) -> None:
    """Spend the time of one :func:`verify_key` at ``cost`` (for unknown station ids)."""
    _check_cost(cost)
    actual = _scrypt(_encode(bytes(MAX_KEY_OCTETS)), _DUMMY_SALT, cost, _R, _P, _HASH_BYTES)
    hmac.compare_digest(actual, bytes(_HASH_BYTES))
