"""How the operator commands reach the API: over HTTPS, or in-process.

Every operator command (``opencsms stations|tags|transactions|commands``)
is one or a few requests to the REST API, so the CLI validates, authorises
and audits exactly as the API does; there is no second implementation.

* ``--api-url`` / ``OPENCSMS_API_URL`` set: requests go to that server over
  HTTPS with the bearer key from ``--api-key`` / ``OPENCSMS_API_KEY``,
  trusting ``--ca-file`` / ``OPENCSMS_API_CA_FILE`` or else the development
  CA in the data directory (when there is one) or else the system's CAs.
* not set: the same application runs in this process over the local database
  (``--data-dir`` / ``--database-url``), as an admin: whoever can open the
  database file can change it anyway. This is how a fresh install is set up
  before any API key exists. Commands to stations then only queue (no station
  is connected to this process); point ``--api-url`` at the server to reach a
  connected station at once.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from opencsms.api.app import create_app
from opencsms.api.auth import Principal, require_admin, require_reader
from opencsms.api.context import ApiContext
from opencsms.app import Services
from opencsms.config import Settings
from opencsms.domain.model import ApiRole
from opencsms.metrics import Metrics
from opencsms.stations.registry import SessionRegistry

LOCAL_PRINCIPAL = Principal(key_id="local", name="local", role=ApiRole.ADMIN, kind="cli")
"""Who the audit trail names for commands made in-process."""


class ApiError(Exception):
    """The API refused a request; ``str()`` is its ``detail``."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.body = body


@dataclass(frozen=True, slots=True)
class Target:
    settings: Settings
    api_url: str | None = None
    api_key: str | None = None
    ca_file: Path | None = None


class ApiClient:
    """A thin JSON client; errors become :class:`ApiError`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
    ) -> tuple[int, Any]:
        """``content``: a raw body (an uploaded file) instead of ``json``."""
        if params is not None:
            params = {key: value for key, value in params.items() if value is not None}
        response = await self._http.request(
            method, f"/api/v1{path}", json=json, params=params, content=content
        )
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else body
            raise ApiError(response.status_code, str(detail or response.reason_phrase), body)
        return response.status_code, body


@asynccontextmanager
async def open_client(target: Target) -> AsyncIterator[ApiClient]:
    if target.api_url:
        async with httpx.AsyncClient(
            base_url=target.api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {target.api_key}"} if target.api_key else {},
            verify=_trust(target),
            timeout=60.0,
        ) as http:
            yield ApiClient(http)
        return
    settings = target.settings
    services = await Services.open(settings)
    try:
        registry = SessionRegistry()
        context = ApiContext(
            settings=settings,
            services=services,
            registry=registry,
            events=services.events,
            metrics=Metrics(lambda: len(registry)),
            public_base_url=f"https://{settings.api_host}:{settings.api_port}",
        )
        app = create_app(context)
        app.dependency_overrides[require_reader] = lambda: LOCAL_PRINCIPAL
        app.dependency_overrides[require_admin] = lambda: LOCAL_PRINCIPAL
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as http:
            yield ApiClient(http)
    finally:
        await services.close()


def _trust(target: Target) -> ssl.SSLContext | bool:
    ca_file = target.ca_file
    if ca_file is None:
        dev_ca = target.settings.data_dir / "tls" / "ca.pem"
        ca_file = dev_ca if dev_ca.exists() else None
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))
