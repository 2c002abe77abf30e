"""Development certificate generation, reuse and repair."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from structlog.testing import capture_logs

from opencsms.security.devcerts import DevCertificates, ensure_dev_certificates
from opencsms.security.tls import server_ssl_context

HOSTS = ["localhost", "127.0.0.1", "::1"]


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _all_files(certs: DevCertificates) -> list[Path]:
    return [certs.ca_cert, certs.rsa_cert, certs.rsa_key, certs.ecdsa_cert, certs.ecdsa_key]


def _snapshot(certs: DevCertificates) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in _all_files(certs)}


def test_generates_ca_and_two_server_certs(tmp_path: Path) -> None:
    certs = ensure_dev_certificates(tmp_path / "certs", HOSTS)
    ca = _cert(certs.ca_cert)
    rsa_cert, ecdsa_cert = _cert(certs.rsa_cert), _cert(certs.ecdsa_cert)
    rsa_key = rsa_cert.public_key()
    assert isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size == 2048
    ec_key = ecdsa_cert.public_key()
    assert isinstance(ec_key, ec.EllipticCurvePublicKey) and ec_key.curve.name == "secp256r1"
    for cert in (rsa_cert, ecdsa_cert):
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["localhost"]
        assert set(san.get_values_for_type(x509.IPAddress)) == {
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        }
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for key in (certs.rsa_key, certs.ecdsa_key, tmp_path / "certs" / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not list((tmp_path / "certs").glob("*.tmp"))
    server_ssl_context([(certs.rsa_cert, certs.rsa_key), (certs.ecdsa_cert, certs.ecdsa_key)])


def test_reuses_valid_files(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path, HOSTS)
    before = _snapshot(first)
    with capture_logs() as logs:
        second = ensure_dev_certificates(tmp_path, HOSTS)
    assert second == first
    assert _snapshot(second) == before
    assert logs == []


def test_new_hostnames_reissue_server_certs_but_keep_ca(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path, HOSTS)
    ca_before = first.ca_cert.read_bytes()
    rsa_before = first.rsa_cert.read_bytes()
    second = ensure_dev_certificates(tmp_path, [*HOSTS, "csms.example"])
    assert second.ca_cert.read_bytes() == ca_before
    assert second.rsa_cert.read_bytes() != rsa_before
    san = _cert(second.rsa_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "csms.example" in san.value.get_values_for_type(x509.DNSName)


def test_expiring_within_seven_days_is_renewed(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path, HOSTS)
    expiry = _cert(first.rsa_cert).not_valid_after_utc
    before = _snapshot(first)

    def clock_at(moment: dt.datetime) -> dt.datetime:
        return moment

    eight_days_left = expiry - dt.timedelta(days=8)
    ensure_dev_certificates(tmp_path, HOSTS, clock=lambda: clock_at(eight_days_left))
    assert _snapshot(first) == before
    six_days_left = expiry - dt.timedelta(days=6)
    ensure_dev_certificates(tmp_path, HOSTS, clock=lambda: clock_at(six_days_left))
    assert first.rsa_cert.read_bytes() != before[first.rsa_cert]
    assert _cert(first.rsa_cert).not_valid_after_utc > six_days_left + dt.timedelta(days=7)


@pytest.mark.parametrize("victim", ["rsa_key", "ecdsa_cert", "ca_cert"])
def test_corrupt_file_is_regenerated_with_a_log_line(tmp_path: Path, victim: str) -> None:
    first = ensure_dev_certificates(tmp_path, HOSTS)
    path: Path = getattr(first, victim)
    path.write_text("-----BEGIN PRIVATE KEY-----\nSECRETGARBAGE\n-----END PRIVATE KEY-----\n")
    with capture_logs() as logs:
        certs = ensure_dev_certificates(tmp_path, HOSTS)
    assert any("regenerating" in entry["event"] for entry in logs)
    assert "SECRETGARBAGE" not in repr(logs)
    ca = _cert(certs.ca_cert)
    _cert(certs.rsa_cert).verify_directly_issued_by(ca)
    _cert(certs.ecdsa_cert).verify_directly_issued_by(ca)
    server_ssl_context([(certs.rsa_cert, certs.rsa_key), (certs.ecdsa_cert, certs.ecdsa_key)])


def test_key_not_matching_cert_is_regenerated(tmp_path: Path) -> None:
    first = ensure_dev_certificates(tmp_path, HOSTS)
    other = trustme.CA().issue_cert("localhost", key_type=trustme.KeyType.RSA)
    other.private_key_pem.write_to_path(str(first.rsa_key))
    certs = ensure_dev_certificates(tmp_path, HOSTS)
    server_ssl_context([(certs.rsa_cert, certs.rsa_key)])


def test_foreign_server_cert_is_replaced(tmp_path: Path) -> None:
    """A server cert not issued by our CA would fail clients that trust ca.pem."""
    first = ensure_dev_certificates(tmp_path, HOSTS)
    foreign = trustme.CA().issue_cert(*HOSTS, key_type=trustme.KeyType.ECDSA)
    foreign.cert_chain_pems[0].write_to_path(str(first.ecdsa_cert))
    foreign.private_key_pem.write_to_path(str(first.ecdsa_key))
    certs = ensure_dev_certificates(tmp_path, HOSTS)
    _cert(certs.ecdsa_cert).verify_directly_issued_by(_cert(certs.ca_cert))


def test_needs_a_hostname(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_dev_certificates(tmp_path, [])
