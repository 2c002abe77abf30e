"""TLS contexts for the OCPP listener: AWS ``ELBSecurityPolicy-TLS-1-2-Ext-2018-06``.

The customer requires the listener to behave exactly like that ELB policy:
TLS 1.2 only, its 18 cipher suites in its order, the server's order winning,
no compression and no renegotiation. TLS 1.3 is an explicit opt-in.

Why two certificates: the policy mixes ``ECDHE-ECDSA-*`` suites (need an ECDSA
certificate) with ``ECDHE-RSA-*`` and plain ``RSA`` key-exchange suites (need an
RSA certificate). OpenSSL keeps one certificate per key type in a context and
picks the one matching the negotiated suite, so loading both lets every suite
of the policy be negotiated from one listener.

We use the stdlib :mod:`ssl` rather than a wrapper: it is what ``websockets``
takes, and every knob the policy needs is exposed by it.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "ELB_TLS_1_2_EXT_2018_06_CIPHERS",
    "TlsConfigError",
    "client_ssl_context",
    "server_ssl_context",
]

ELB_TLS_1_2_EXT_2018_06_CIPHERS: tuple[str, ...] = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
)
"""The policy's suites (OpenSSL names) in the policy's server-preference order.

Checked against AWS's ELB documentation and against AWS s2n-tls, whose
``cipher_suites_elb_security_policy_tls_1_2_ext_2018_06`` lists the same 18
suites in the same order.
"""


class TlsConfigError(Exception):
    """A certificate, key or CA file cannot be used. The message names the path only."""


class _EncryptedKeyError(Exception):
    pass


def _refuse_passphrase() -> str:
    """Password callback for ``load_cert_chain``.

    Without one, OpenSSL would prompt on the terminal for an encrypted key and
    hang a server started by systemd; we fail with a clear message instead.
    """
    raise _EncryptedKeyError


def _load_pair(context: ssl.SSLContext, cert: Path, key: Path) -> None:
    for path, what in ((cert, "certificate"), (key, "private key")):
        if not path.is_file():
            raise TlsConfigError(f"TLS {what} file not found: {path}")
    try:
        context.load_cert_chain(certfile=cert, keyfile=key, password=_refuse_passphrase)
    except _EncryptedKeyError:
        raise TlsConfigError(
            f"TLS private key {key} is passphrase-protected; provide an unencrypted key"
        ) from None
    except ssl.SSLError as exc:
        # The OpenSSL reason (e.g. KEY_VALUES_MISMATCH, PEM lib) never contains
        # key material; the library/reason codes are enough to diagnose.
        reason = exc.reason or "unreadable PEM"
        raise TlsConfigError(
            f"cannot load TLS certificate {cert} with key {key}: {reason} "
            "(not PEM, or the key does not belong to the certificate)"
        ) from None
    except OSError as exc:
        raise TlsConfigError(
            f"cannot read TLS certificate {cert} or key {key}: {exc.strerror}"
        ) from None


def server_ssl_context(
    certificates: Sequence[tuple[Path, Path]], *, enable_tls13: bool = False
) -> ssl.SSLContext:
    """A server context enforcing ``ELBSecurityPolicy-TLS-1-2-Ext-2018-06``.

    ``certificates`` is a sequence of ``(certificate chain, private key)`` PEM
    paths; pass an RSA and an ECDSA pair so that every suite can be negotiated.
    With ``enable_tls13`` the maximum becomes TLS 1.3 (OpenSSL's default 1.3
    suites, which ``set_ciphers`` does not touch); the 1.2 side is unchanged.

    Raises :class:`TlsConfigError` naming the offending path if a file is missing
    or unusable, or if the local OpenSSL refuses one of the policy's suites (a
    system crypto policy at a high security level would silently drop the
    non-forward-secret ones, and the customer wants the policy exactly).
    """
    if not certificates:
        raise TlsConfigError("at least one (certificate, key) pair is required")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3 if enable_tls13 else ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(ELB_TLS_1_2_EXT_2018_06_CIPHERS))
    offered = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    if offered != list(ELB_TLS_1_2_EXT_2018_06_CIPHERS):
        missing = sorted(set(ELB_TLS_1_2_EXT_2018_06_CIPHERS) - set(offered))
        raise TlsConfigError(
            f"this OpenSSL ({ssl.OPENSSL_VERSION}) does not enable the full policy; "
            f"missing suites: {', '.join(missing) or 'none (order differs)'}"
        )
    context.options |= (
        ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    )
    for cert, key in certificates:
        _load_pair(context, Path(cert), Path(key))
    return context


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context trusting ``ca_file`` (simulators and tests).

    TLS 1.2 minimum and OpenSSL's default client suites, so it talks to the
    listener with or without the TLS 1.3 opt-in. Hostname checking stays on.
    """
    ca = Path(ca_file)
    if not ca.is_file():
        raise TlsConfigError(f"CA file not found: {ca}")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    except ssl.SSLError as exc:
        raise TlsConfigError(f"cannot load CA file {ca}: {exc.reason}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
