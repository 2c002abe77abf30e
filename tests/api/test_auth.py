"""Bearer API keys over real HTTPS: 401 without or with a bad key, 403 for a
read-only key writing, 200 for a read-only key reading."""

from __future__ import annotations

import ssl

import httpx
import pytest

from integration.conftest import api_client_for
from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole
from opencsms.security.tls import client_ssl_context
from opencsms.testing import create_api_key


async def test_health_needs_no_key_and_serves_tls(central: CentralSystem) -> None:
    async with api_client_for(central, None) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/openapi.json")).json()["info"]["title"]
        assert (await client.get("/docs")).status_code == 200
    assert central.api_url.startswith("https://")
    assert central.api_port != central.ocpp_port


async def test_untrusted_client_is_refused(central: CentralSystem) -> None:
    async with httpx.AsyncClient(base_url=central.api_url, verify=True) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")


async def test_tls_policy_is_the_listeners(central: CentralSystem) -> None:
    assert central.ca_file is not None
    chacha = client_ssl_context(central.ca_file)
    chacha.maximum_version = ssl.TLSVersion.TLSv1_2
    chacha.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305")  # not in the policy
    async with httpx.AsyncClient(base_url=central.api_url, verify=chacha) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")
    context = ssl.create_default_context(cafile=str(central.ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_3  # the policy is TLS 1.2 unless opted in
    async with httpx.AsyncClient(base_url=central.api_url, verify=context) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")


async def test_missing_key_401(central: CentralSystem) -> None:
    async with api_client_for(central, None) as client:
        response = await client.get("/api/v1/stations")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "API key" in response.json()["detail"]


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "ocsms_0123456789abcdef_" + "A" * 43,  # well-formed, unknown id
    ],
)
async def test_bad_key_401(central: CentralSystem, token: str) -> None:
    async with api_client_for(central, token) as client:
        response = await client.get("/api/v1/stations")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_wrong_secret_401(central: CentralSystem) -> None:
    token = await create_api_key(central.services, ApiRole.ADMIN)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with api_client_for(central, forged) as client:
        assert (await client.get("/api/v1/stations")).status_code == 401


async def test_revoked_key_401(central: CentralSystem) -> None:
    token = await create_api_key(central.services, ApiRole.ADMIN)
    async with api_client_for(central, token) as client:
        assert (await client.get("/api/v1/stations")).status_code == 200
        key_id = token.split("_")[1]
        assert await central.services.api_keys.revoke(key_id)
        assert (await client.get("/api/v1/stations")).status_code == 401


async def test_read_only_reads_but_cannot_write(
    central: CentralSystem, reader_client: httpx.AsyncClient
) -> None:
    assert (await reader_client.get("/api/v1/stations")).status_code == 200
    response = await reader_client.post("/api/v1/stations", json={"id": "CP1"})
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert await central.services.stations.get("CP1") is None


async def test_admin_writes(central: CentralSystem, api_client: httpx.AsyncClient) -> None:
    response = await api_client.post("/api/v1/stations", json={"id": "CP1"})
    assert response.status_code == 201, response.text
    assert await central.services.stations.get("CP1") is not None


async def test_last_used_is_recorded(central: CentralSystem) -> None:
    token = await create_api_key(central.services, ApiRole.READ_ONLY, "reporting")
    key_id = token.split("_")[1]
    assert (await central.services.api_keys.get(key_id)).last_used_at is None  # type: ignore[union-attr]
    async with api_client_for(central, token) as client:
        assert (await client.get("/api/v1/stations")).status_code == 200
    key = await central.services.api_keys.get(key_id)
    assert key is not None and key.last_used_at is not None and key.name == "reporting"
