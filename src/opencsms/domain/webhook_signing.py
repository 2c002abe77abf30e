"""How webhook deliveries are signed, and how a receiver verifies them.

What a receiver gets (``POST``, ``Content-Type: application/json``), the body
being the event as the live stream shows it (``{id, type, station_id, at,
data}``)::

    X-OpenCSMS-Event:     connector.status
    X-OpenCSMS-Delivery:  1234            (the same on every retry: deduplicate on it)
    X-OpenCSMS-Timestamp: 1767225600      (Unix seconds of this attempt)
    X-OpenCSMS-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

To verify, a receiver computes the HMAC-SHA256, keyed with the webhook's
secret, over the timestamp header, a dot and the raw body bytes exactly as
received (before any JSON parsing), compares it with the header in constant
time (``hmac.compare_digest``), and rejects timestamps more than a few
minutes from its own clock, so a captured request cannot be replayed later.
:func:`verify_signature` does exactly that. Why the timestamp is signed too:
the body alone would let an old, validly signed delivery be sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-OpenCSMS-Signature`` value for one attempt."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """What a receiver does (in Python): signature matches and is fresh."""
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    if abs(age) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
