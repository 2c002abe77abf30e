"""Dashboard tests run against a real CentralSystem over HTTPS, logged in
through the real login form (``admin_page``, ``reader_page``).

``DashboardClient`` is an httpx client with the session cookie, that knows
the page's CSRF token (read from ``<body hx-headers>``) and sends it on
unsafe requests as htmx does.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from integration.conftest import (  # noqa: F401  (fixtures)
    api_client,
    api_client_for,
    central,
    reader_client,
    start_central,
)
from opencsms.app import CentralSystem
from opencsms.domain.model import ApiRole

PASSWORD = "correct horse battery staple"
_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
_CSRF = re.compile(r"hx-headers='([^']*)'")


class DashboardClient:
    """A logged-in browser, minus the browser: cookies, redirects, CSRF token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = await self.http.get(path, **kwargs)  # type: ignore[arg-type]
        self._remember_csrf(response)
        return response

    async def post(self, path: str, *, htmx: bool = True, **kwargs: object) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        headers["X-CSRF-Token"] = self.csrf
        if htmx:
            headers["HX-Request"] = "true"
        return await self.http.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]

    def _remember_csrf(self, response: httpx.Response) -> None:
        match = (
            _CSRF.search(response.text)
            if "text/html" in response.headers.get("content-type", "")
            else None
        )
        if match:
            token = json.loads(match.group(1)).get("X-CSRF-Token", "")
            if token:
                self.csrf = token


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    """Fill in and post the login form as a browser would; returns the final response."""
    form = await client.get("/dashboard/login")
    token = _LOGIN_TOKEN.search(form.text)
    assert token is not None, form.text
    return await client.post(
        "/dashboard/login",
        data={
            "username": name,
            "password": password,
            "login_token": token.group(1),
            "next": "/dashboard/",
        },
        follow_redirects=True,
    )


async def _page(node: CentralSystem, name: str, role: ApiRole) -> AsyncIterator[DashboardClient]:
    await node.services.operators.create(name, PASSWORD, role)
    async with api_client_for(node, None) as http:
        response = await log_in(http, name, PASSWORD)
        assert response.status_code == 200, response.text
        page = DashboardClient(http)
        page._remember_csrf(response)
        assert page.csrf, "the page after login carries the CSRF token"
        yield page


@pytest.fixture
async def admin_page(central: CentralSystem) -> AsyncIterator[DashboardClient]:  # noqa: F811
    """Logged in as an admin operator (``ops``)."""
    async for page in _page(central, "ops", ApiRole.ADMIN):
        yield page


@pytest.fixture
async def reader_page(central: CentralSystem) -> AsyncIterator[DashboardClient]:  # noqa: F811
    """Logged in as a read-only operator (``viewer``)."""
    async for page in _page(central, "viewer", ApiRole.READ_ONLY):
        yield page
