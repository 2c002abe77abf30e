"""Real TLS handshakes on 127.0.0.1 against the ELB-policy server context."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from opencsms.security.devcerts import DevCertificates
from opencsms.security.tls import (
    ELB_TLS_1_2_EXT_2018_06_CIPHERS as POLICY,
)
from opencsms.security.tls import (
    TlsConfigError,
    client_ssl_context,
    server_ssl_context,
)


class TlsServer:
    """A blocking TLS server on an ephemeral 127.0.0.1 port, in a thread.

    Blocking sockets rather than asyncio: asyncio's transport drops the
    connection on a failed handshake before OpenSSL's alert is flushed, so the
    client would only see a reset. Here the alert goes out, and the server
    records its own view of each handshake (suite or OpenSSL reason).
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.results: queue.Queue[str] = queue.Queue()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            with raw:
                raw.settimeout(5)
                try:
                    with self.context.wrap_socket(raw, server_side=True) as tls:
                        self.results.put(f"ok:{tls.cipher()[0]}")  # type: ignore[index]
                        tls.recv(1)
                except (ssl.SSLError, OSError) as exc:
                    reason = getattr(exc, "reason", None) or type(exc).__name__
                    self.results.put(f"error:{reason}")

    def handshake(self, client: ssl.SSLContext) -> tuple[str | None, str | None, bytes, object]:
        """Connect; return (suite, version, peer cert DER, compression) seen by the client."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname="localhost") as tls:
                cipher = tls.cipher()
                der = tls.getpeercert(binary_form=True)
                assert cipher is not None and der is not None
                return cipher[0], tls.version(), der, tls.compression()

    def refused(self, client: ssl.SSLContext) -> str:
        """Assert the handshake fails on both ends; return the server's reason."""
        with pytest.raises(ssl.SSLError):
            self.handshake(client)
        result = self.results.get(timeout=5)
        assert result.startswith("error:"), result
        return result.removeprefix("error:")


@pytest.fixture
def server(cert_pairs: list[tuple[Path, Path]]) -> Iterator[TlsServer]:
    with TlsServer(server_ssl_context(cert_pairs)) as running:
        yield running


def tls12_client(ca: Path, ciphers: str) -> ssl.SSLContext:
    context = client_ssl_context(ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    return context


def test_policy_has_18_distinct_suites() -> None:
    assert len(POLICY) == 18
    assert len(set(POLICY)) == 18


def test_server_context_settings(cert_pairs: list[tuple[Path, Path]]) -> None:
    context = server_ssl_context(cert_pairs)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.maximum_version is ssl.TLSVersion.TLSv1_2
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert tls12 == list(POLICY)
    for option in (ssl.OP_CIPHER_SERVER_PREFERENCE, ssl.OP_NO_COMPRESSION, ssl.OP_NO_RENEGOTIATION):
        assert context.options & option


@pytest.mark.parametrize("suite", POLICY)
def test_every_policy_suite_negotiates(
    server: TlsServer, dev_certs: DevCertificates, suite: str
) -> None:
    name, version, der, compression = server.handshake(tls12_client(dev_certs.ca_cert, suite))
    assert (name, version) == (suite, "TLSv1.2")
    assert server.results.get(timeout=5) == f"ok:{suite}"
    # The ECDSA suites were served with the ECDSA certificate, the others with RSA,
    # by one and the same server context.
    key = x509.load_der_x509_certificate(der).public_key()
    expected = ec.EllipticCurvePublicKey if "-ECDSA-" in suite else rsa.RSAPublicKey
    assert isinstance(key, expected)
    assert compression is None


@pytest.mark.parametrize(
    "suite",
    [
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "DHE-RSA-AES256-SHA256",
    ],
)
def test_suite_outside_policy_is_refused(
    server: TlsServer, dev_certs: DevCertificates, suite: str
) -> None:
    reason = server.refused(tls12_client(dev_certs.ca_cert, suite))
    assert reason == "NO_SHARED_CIPHER"


def _old_protocol_client(ca: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = client_ssl_context(ca)
    # Python deprecates TLS 1.0/1.1 settings; we want exactly such a client.
    with pytest.warns(DeprecationWarning):
        context.minimum_version = version
    with pytest.warns(DeprecationWarning):
        context.maximum_version = version
    # SECLEVEL=0 so the client really offers its TLS 1.0/1.1 suites.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls10_and_tls11_refused(
    server: TlsServer, dev_certs: DevCertificates, version: ssl.TLSVersion
) -> None:
    reason = server.refused(_old_protocol_client(dev_certs.ca_cert, version))
    assert reason == "UNSUPPORTED_PROTOCOL"


def tls13_client(ca: Path) -> ssl.SSLContext:
    context = client_ssl_context(ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    return context


def test_tls13_refused_by_default(server: TlsServer, dev_certs: DevCertificates) -> None:
    assert server.refused(tls13_client(dev_certs.ca_cert)) == "UNSUPPORTED_PROTOCOL"


def test_tls13_opt_in(cert_pairs: list[tuple[Path, Path]], dev_certs: DevCertificates) -> None:
    with TlsServer(server_ssl_context(cert_pairs, enable_tls13=True)) as server:
        assert server.handshake(tls13_client(dev_certs.ca_cert))[1] == "TLSv1.3"
        # The TLS 1.2 side of the opt-in context is still exactly the policy.
        name, version, _, _ = server.handshake(tls12_client(dev_certs.ca_cert, "AES256-SHA"))
        assert (name, version) == ("AES256-SHA", "TLSv1.2")
        server.results.get(timeout=5)
        server.results.get(timeout=5)
        assert server.refused(tls12_client(dev_certs.ca_cert, "DHE-RSA-AES128-GCM-SHA256"))


def test_server_order_wins(server: TlsServer, dev_certs: DevCertificates) -> None:
    client = tls12_client(dev_certs.ca_cert, ":".join(reversed(POLICY)))
    name, _, _, compression = server.handshake(client)
    assert name == POLICY[0]
    assert compression is None


def test_server_order_wins_with_rsa_only(dev_certs: DevCertificates) -> None:
    context = server_ssl_context([(dev_certs.rsa_cert, dev_certs.rsa_key)])
    with TlsServer(context) as server:
        client = tls12_client(dev_certs.ca_cert, ":".join(reversed(POLICY)))
        assert server.handshake(client)[0] == "ECDHE-RSA-AES128-GCM-SHA256"


def test_default_client_context_connects(server: TlsServer, dev_certs: DevCertificates) -> None:
    name, version, _, _ = server.handshake(client_ssl_context(dev_certs.ca_cert))
    assert version == "TLSv1.2"
    assert name in POLICY


def test_missing_files_name_the_path(tmp_path: Path, dev_certs: DevCertificates) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(TlsConfigError, match=r"nope\.pem"):
        server_ssl_context([(missing, dev_certs.rsa_key)])
    with pytest.raises(TlsConfigError, match=r"nope\.pem"):
        server_ssl_context([(dev_certs.rsa_cert, missing)])
    with pytest.raises(TlsConfigError, match=r"nope\.pem"):
        client_ssl_context(missing)
    with pytest.raises(TlsConfigError):
        server_ssl_context([])


def test_broken_key_error_names_path_not_contents(
    tmp_path: Path, dev_certs: DevCertificates
) -> None:
    broken = tmp_path / "broken-key.pem"
    secret_text = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n"
    broken.write_text(secret_text)
    with pytest.raises(TlsConfigError) as info:
        server_ssl_context([(dev_certs.rsa_cert, broken)])
    message = str(info.value)
    assert "broken-key.pem" in message
    assert "TOPSECRET" not in message
    assert info.value.__cause__ is None


def test_mismatched_key_is_refused(dev_certs: DevCertificates) -> None:
    with pytest.raises(TlsConfigError, match=r"server-ecdsa-key\.pem"):
        server_ssl_context([(dev_certs.rsa_cert, dev_certs.ecdsa_key)])


def test_encrypted_key_fails_instead_of_prompting(
    tmp_path: Path, dev_certs: DevCertificates
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(dev_certs.ecdsa_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    with pytest.raises(TlsConfigError, match="passphrase"):
        server_ssl_context([(dev_certs.ecdsa_cert, encrypted)])
