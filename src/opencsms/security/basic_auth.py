"""Parse an HTTP ``Authorization: Basic`` header (RFC 7617) for Security Profile 2.

Why hand-written: the WebSocket handshake hands us a raw header string, and
the password must stay ``bytes`` — OCPP stations may send the AuthorizationKey
as raw octets, which are not valid UTF-8, so the usual ``str`` helpers would
reject or mangle them. The user-id is decoded as UTF-8 (RFC 7617 ``charset``).

The parser never raises: anything malformed is ``None``, which the caller
turns into a 401 like a wrong password.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["MAX_HEADER_LENGTH", "parse_basic_authorization"]

MAX_HEADER_LENGTH = 4096
"""Longer headers are refused without decoding (a key is at most 40 characters)."""


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def parse_basic_authorization(header: str | None) -> tuple[str, bytes] | None:
    """``(user_id, password_bytes)`` from a Basic credentials header, else ``None``.

    Accepts the scheme in any case, surrounding whitespace, and base64 with
    or without ``=`` padding (some station firmware drops it). Refuses an
    empty or control-character user-id, a missing colon, non-base64 text.
    """
    if not isinstance(header, str) or len(header) > MAX_HEADER_LENGTH:
        return None
    parts = header.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return None
    token = parts[1].strip()
    if not token or not token.isascii() or any(c.isspace() for c in token):
        return None
    token += "=" * (-len(token) % 4)
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    user_raw, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        user_id = user_raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not user_id or _has_control(user_id):
        return None
    return user_id, password
