"""RFC 7617 Basic credentials parsing: bytes passwords, None on anything malformed."""

from __future__ import annotations

import base64

import pytest

from opencsms.security.basic_auth import MAX_HEADER_LENGTH, parse_basic_authorization


def basic(raw: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(raw).decode()}"


def test_text_password() -> None:
    assert parse_basic_authorization(basic(b"CP001:secret")) == ("CP001", b"secret")


def test_raw_octet_password_stays_bytes() -> None:
    octets = bytes(range(0xEC, 0x100))  # 20 octets, not valid UTF-8
    assert parse_basic_authorization(basic(b"CP001:" + octets)) == ("CP001", octets)


def test_password_may_contain_colons_and_be_empty() -> None:
    assert parse_basic_authorization(basic(b"CP:a:b")) == ("CP", b"a:b")
    assert parse_basic_authorization(basic(b"CP:")) == ("CP", b"")


def test_scheme_case_whitespace_and_missing_padding() -> None:
    assert parse_basic_authorization(basic(b"CP1:pw", "bAsIc")) == ("CP1", b"pw")
    assert parse_basic_authorization("  " + basic(b"CP1:pw") + "  ") == ("CP1", b"pw")
    unpadded = base64.b64encode(b"CP1:pw1").decode().rstrip("=")
    assert parse_basic_authorization(f"Basic {unpadded}") == ("CP1", b"pw1")


def test_utf8_user_id() -> None:
    assert parse_basic_authorization(basic("Zähler-1:pw".encode())) == ("Zähler-1", b"pw")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        basic(b"CP1:pw", "Digest"),
        "Basic !!!notbase64",
        "Basic Q1AxOnB3=extra",
        "Basic Q1Ax",  # "CP1" without a colon
        basic(b"nocolon"),
        basic(b":pw"),  # empty user-id
        basic(b"\xff\xfe:pw"),  # user-id not UTF-8
        basic(b"CP\x001:pw"),  # control character in user-id
        basic(b"CP\n1:pw"),
        "Basic Q1Ax OnB3",  # space inside the token
        "Basic Q1AxOnB3\u00e9",  # non-ASCII in the token
        "Basic " + "A" * MAX_HEADER_LENGTH,
    ],
)
def test_malformed_is_none(header: str | None) -> None:
    assert parse_basic_authorization(header) is None


def test_non_string_is_none() -> None:
    assert parse_basic_authorization(b"Basic Q1AxOnB3") is None  # type: ignore[arg-type]
