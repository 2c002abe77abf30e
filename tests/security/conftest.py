"""Shared fixtures: development certificates generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from opencsms.security.devcerts import DevCertificates, ensure_dev_certificates


@pytest.fixture(scope="session")
def dev_certs(tmp_path_factory: pytest.TempPathFactory) -> DevCertificates:
    return ensure_dev_certificates(
        tmp_path_factory.mktemp("certs"), ["localhost", "127.0.0.1", "::1"]
    )


@pytest.fixture(scope="session")
def cert_pairs(dev_certs: DevCertificates) -> list[tuple[Path, Path]]:
    return [(dev_certs.rsa_cert, dev_certs.rsa_key), (dev_certs.ecdsa_cert, dev_certs.ecdsa_key)]
