"""Development certificates: a local CA and RSA-2048 + ECDSA P-256 server certificates.

The listener is WSS-only, so a fresh checkout needs certificates before it can
serve anything. We generate a small private CA and two server certificates
signed by it (one per key type, so every suite of the ELB policy can be
negotiated; see :mod:`opencsms.security.tls`). Simulators and tests trust the
CA file.

Files are reused across restarts so that clients configured with the CA keep
working; they are regenerated when missing, unreadable, expiring within
:data:`RENEW_BEFORE`, issued by another CA, or not matching the host names.
The CA is kept (and only the server certificates reissued) whenever it is
still good. Private keys are written atomically with mode 0600.

Not for production: production certificates come from the operator
(``OPENCSMS_TLS_*`` settings).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["RENEW_BEFORE", "DevCertificates", "ensure_dev_certificates"]

log = structlog.get_logger("opencsms.security.devcerts")

RENEW_BEFORE = dt.timedelta(days=7)
CA_LIFETIME = dt.timedelta(days=3650)
SERVER_LIFETIME = dt.timedelta(days=397)

KeyKind = Literal["rsa", "ecdsa"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class DevCertificates:
    """Paths of the generated PEM files (the CA key sits next to ``ca_cert``)."""

    ca_cert: Path
    rsa_cert: Path
    rsa_key: Path
    ecdsa_cert: Path
    ecdsa_key: Path


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _general_names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host.lower()))
    return names


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write via a temp file + rename so a crash never leaves a half-written key."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_key(kind: KeyKind) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _same_public_key(a: PrivateKey, cert: x509.Certificate) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return a.public_key().public_bytes(der, fmt) == cert.public_key().public_bytes(der, fmt)


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKey] | None:
    """Load a pair, or None (with a log line) if missing or corrupt."""
    if not cert_path.exists() or not key_path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        # Log the exception type only: parser messages could quote file bytes.
        log.warning(
            "dev certificate unreadable, regenerating",
            cert=str(cert_path),
            error=type(exc).__name__,
        )
        return None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        log.warning("dev key of unexpected type, regenerating", key=str(key_path))
        return None
    return cert, key


def _still_valid(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - now > RENEW_BEFORE


def _issue(
    subject_key: PrivateKey,
    common_name: str,
    issuer: tuple[x509.Certificate, PrivateKey] | None,
    hostnames: Sequence[str],
    now: dt.datetime,
) -> x509.Certificate:
    """Issue the CA (``issuer`` None: self-signed) or a server certificate."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opencsms development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public = subject_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is None:
        signing_key: PrivateKey = subject_key
        builder = (
            builder.issuer_name(subject)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
        )
    else:
        ca_cert, signing_key = issuer
        rsa_kx = isinstance(subject_key, rsa.RSAPrivateKey)  # RSA key exchange suites
        builder = (
            builder.issuer_name(ca_cert.subject)
            .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(key_encipherment=rsa_kx), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(_general_names(hostnames)), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
    return builder.sign(signing_key, hashes.SHA256())


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _server_ok(
    pair: tuple[x509.Certificate, PrivateKey],
    kind: KeyKind,
    ca: x509.Certificate,
    hostnames: Sequence[str],
    now: dt.datetime,
) -> bool:
    cert, key = pair
    expected = rsa.RSAPrivateKey if kind == "rsa" else ec.EllipticCurvePrivateKey
    if not isinstance(key, expected) or not _same_public_key(key, cert):
        return False
    if not _still_valid(cert, now):
        return False
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return set(san) == set(_general_names(hostnames))


def ensure_dev_certificates(
    directory: Path,
    hostnames: Sequence[str],
    *,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> DevCertificates:
    """Return usable development certificates in ``directory``, creating them if needed.

    Files: ``ca.pem``/``ca-key.pem``, ``server-rsa.pem``/``server-rsa-key.pem``,
    ``server-ecdsa.pem``/``server-ecdsa-key.pem``. ``hostnames`` become the
    server certificates' SANs (IP literals as IP SANs); the first is the CN.
    A corrupt or stale file is regenerated with a log line, never fatal.
    """
    if not hostnames:
        raise ValueError("at least one hostname is required for the dev certificate")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = clock()
    paths = DevCertificates(
        ca_cert=directory / "ca.pem",
        rsa_cert=directory / "server-rsa.pem",
        rsa_key=directory / "server-rsa-key.pem",
        ecdsa_cert=directory / "server-ecdsa.pem",
        ecdsa_key=directory / "server-ecdsa-key.pem",
    )
    ca_key_path = directory / "ca-key.pem"

    ca = _load(paths.ca_cert, ca_key_path)
    if ca is None or not _same_public_key(ca[1], ca[0]) or not _still_valid(ca[0], now):
        ca_key = _new_key("ecdsa")
        ca = (_issue(ca_key, "opencsms development CA", None, (), now), ca_key)
        _write_atomic(ca_key_path, _key_pem(ca_key), 0o600)
        _write_atomic(paths.ca_cert, ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
        log.info("generated development CA", path=str(paths.ca_cert))

    servers: tuple[tuple[KeyKind, Path, Path], ...] = (
        ("rsa", paths.rsa_cert, paths.rsa_key),
        ("ecdsa", paths.ecdsa_cert, paths.ecdsa_key),
    )
    for kind, cert_path, key_path in servers:
        existing = _load(cert_path, key_path)
        if existing is not None and _server_ok(existing, kind, ca[0], hostnames, now):
            continue
        key = _new_key(kind)
        cert = _issue(key, hostnames[0], ca, hostnames, now)
        _write_atomic(key_path, _key_pem(key), 0o600)
        _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        log.info(
            "generated development server certificate",
            path=str(cert_path),
            key_type=kind,
            hostnames=list(hostnames),
        )
    return paths
